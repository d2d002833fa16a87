# shellcheck shell=bash
# What tools/slurm-local.sh (a single-node Slurm) and tools/cluster-local.sh (a multi-node
# Slurm on network namespaces) do alike: messages, finding and stopping the daemons they
# started, the slurm.conf settings both clusters share, starting munged and slurmctld,
# waiting for the nodes, and the lock that lets one run at a time. Each script sources it:
#   source "$(dirname "${BASH_SOURCE[0]}")/slurm-common.sh"
# Sourcing only defines functions. They read these variables of the sourcing script:
#   PROG     the script's name without .sh (slurm-local), the prefix of every message
#   CANNOT   what it cannot do where `cannot` is called ("run Slurm here")
#   DIR      the cluster's directory: config, munge, state, spool, logs, pid files, lock
#   CONF     DIR/etc/slurm.conf
#   PORT     slurmctld's port; each slurmd listens on the next one
#   TIMEOUT  seconds to wait for the nodes at start-up
# and call the script's own `all_running` (every daemon of its cluster runs).
# Both scripts run under `set -u -o pipefail`, cluster-local.sh also under `set -e`: no
# command here may fail where its status is not tested.

say() { printf '%s: %s\n' "$PROG" "$*" >&2; }
cannot() { say "$CANNOT: $*"; exit 3; }
fail() { say "$*"; exit 1; }

check_port() {  # PORT is a number; $1 names the variable it came from
    case "$PORT" in
        ''|*[!0-9]*) fail "$1 must be a port number, got '$PORT'" ;;
    esac
}

# One run of the script at a time on DIR: takes DIR/run/lock on file descriptor 9 for the
# rest of the script (the daemons are started with 9>&- so that they do not hold it).
take_lock() {
    mkdir -p "$DIR/log" "$DIR/run"
    exec 9>"$DIR/run/lock"
    flock -w 120 9 || fail "another tools/$PROG.sh holds $DIR/run/lock"
}

pidfile() { echo "$DIR/run/$1.pid"; }

alive() {  # process $1 exists and is not a zombie waiting to be reaped
    local stat
    stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
    stat="${stat##*) }"
    [[ "${stat:0:1}" != Z ]]
}

# The pid of daemon $2 (default $1; pid file DIR/run/$1.pid) if it runs and is ours (its
# command line names this directory).
ourpid() {
    local f pid cmd
    f="$(pidfile "$1")"
    [[ -s "$f" ]] || return 1
    pid="$(tr -dc 0-9 <"$f")"
    [[ -n "$pid" ]] && alive "$pid" || return 1
    [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == "${2:-$1}" ]] || return 1
    cmd="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)"
    [[ "$cmd" == *"$DIR/"* ]] || return 1
    echo "$pid"
}

logs_tail() {  # the last lines of every daemon log, to stderr, before a failure's line
    local log
    for log in "$DIR"/log/*.log; do
        [[ -s "$log" ]] || continue
        printf -- '----- tail of %s\n' "$log" >&2
        tail -n 15 "$log" >&2
    done
}

# --- stopping --------------------------------------------------------------------------

stop_pid() {  # stop process $2 (named $1 in messages): TERM, then KILL after 10 s
    local i
    kill -TERM "$2" 2>/dev/null || return 0
    for ((i = 0; i < 100; i++)); do
        alive "$2" || return 0
        sleep 0.1
    done
    say "$1 (pid $2) ignored SIGTERM for 10 s; sending SIGKILL"
    kill -KILL "$2" 2>/dev/null || true
}

# Stop daemon $2 (default $1; pid file DIR/run/$1.pid), named $3 (default $2) in
# messages, if it runs and is ours; remove its pid file either way.
stop_daemon() {
    local pid comm="${2:-$1}"
    if pid="$(ourpid "$1" "$comm")"; then stop_pid "${3:-$comm}" "$pid"; fi
    rm -f "$(pidfile "$1")"
}

cancel_jobs() {  # our own cluster: every job on it is ours; end them before the daemons
    local jobs i
    ourpid slurmctld >/dev/null && command -v squeue >/dev/null || return 0
    jobs="$(timeout 10 squeue -h -o %A 2>/dev/null | sort -u | tr '\n' ' ')" || true
    [[ -n "${jobs// /}" ]] || return 0
    # shellcheck disable=SC2086
    timeout 10 scancel $jobs 2>/dev/null || true
    for ((i = 0; i < 40; i++)); do
        [[ -z "$(timeout 10 squeue -h -t R,CG -o %A 2>/dev/null)" ]] && break
        sleep 0.25
    done
}

# --- starting --------------------------------------------------------------------------

# The slurm.conf lines both clusters share, to stdout. The script writes the rest: its
# cluster name, head, slurmd paths, TaskPlugin, node and partition lines.
slurm_conf_common() {
    cat <<EOF
SlurmctldPort=$PORT
SlurmdPort=$((PORT + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
# cred_expire also delays a requeued job's restart (cred_expire + 1 s; default 120 s).
AuthInfo=socket=$DIR/munge/munge.socket.2,cred_expire=10
StateSaveLocation=$DIR/state
SlurmctldPidFile=$(pidfile slurmctld)
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
# Schedule often: a requeued job or the next array task starts within seconds.
SchedulerParameters=bf_interval=2,sched_interval=2
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$DIR/log/jobcomp.txt
ReturnToService=2
# Job IDs unique to this cluster's port: clusters running side by side never share a job ID,
# so per-job names on the node (PMIx and Open MPI session directories in /tmp) never clash.
FirstJobId=$((PORT * 1000))
DependencyParameters=kill_invalid_depend
KillWait=5
MinJobAge=600
MailProg=/bin/true
EOF
}

# The head's daemons: munged (with a key made on first use) and slurmctld, which starts
# with empty state and spool directories.
start_head() {
    mkdir -p "$DIR"/{state,spool,log,run,munge}
    chmod 700 "$DIR/munge"; chmod 711 "$DIR/run"
    if [[ ! -s "$DIR/munge/munge.key" ]]; then
        mungekey --create --keyfile="$DIR/munge/munge.key" >/dev/null 2>&1 ||
            dd if=/dev/urandom of="$DIR/munge/munge.key" bs=1024 count=1 status=none ||
            fail "cannot create the munge key"
    fi
    chmod 600 "$DIR/munge/munge.key"
    munged --force --socket="$DIR/munge/munge.socket.2" --key-file="$DIR/munge/munge.key" \
        --pid-file="$(pidfile munged)" --log-file="$DIR/log/munged.log" \
        --seed-file="$DIR/munge/munged.seed" >>"$DIR/log/start.log" 2>&1 9>&- ||
        { logs_tail; fail "munged did not start (see $DIR/log/munged.log)"; }
    rm -rf "${DIR:?}/state" "${DIR:?}/spool"
    mkdir -p "$DIR/state" "$DIR/spool"
    slurmctld -c -f "$CONF" >>"$DIR/log/start.log" 2>&1 9>&- ||
        { logs_tail; fail "slurmctld did not start (see $DIR/log/slurmctld.log)"; }
}

# Wait up to TIMEOUT s until the command $1 succeeds (status 0), else status 1. If a
# daemon exits meanwhile: the logs, the command $2 (which stops the cluster), and fail.
wait_for() {
    local t0=$SECONDS
    while ((SECONDS - t0 < TIMEOUT)); do
        "$1" && return 0
        if ! all_running; then
            sleep 0.5   # pid files appear a moment after the fork
            all_running || { logs_tail; "$2"; fail "a Slurm daemon exited during start-up"; }
        fi
        sleep 0.2
    done
    return 1
}
