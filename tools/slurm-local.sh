#!/usr/bin/env bash
# A real single-node Slurm on this machine, for tests and trying out `clusterkit submit`.
#
#   tools/slurm-local.sh start  [DIR]   install slurm-wlm + munge if missing (apt-get, as root),
#                                       write DIR/etc/slurm.conf for this host, start munged,
#                                       slurmctld and slurmd, wait until the node is idle
#   tools/slurm-local.sh stop   [DIR]   cancel the jobs, stop exactly the daemons started here
#   tools/slurm-local.sh status [DIR]   exit 0 if all three daemons run and the node responds
#
# DIR defaults to $CLUSTERKIT_SLURM_DIR or build/slurm-local in the repo; everything (config,
# munge key and socket, state, logs, pid files) lives there. Ports: $CLUSTERKIT_SLURM_PORT
# (slurmctld, default 16817) and the next one (slurmd). Client commands need
#   export SLURM_CONF=DIR/etc/slurm.conf
# which `start` prints as its last line of standard output. Idempotent: `start` on a running
# cluster only checks it, `stop` on a stopped one does nothing.
#
# Exit status: 0 done; 1 failed (the last line of stderr says why, after the daemon logs);
# 3 cannot run here (not root, no apt-get, packages not installable) - tests skip with that line.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ACTION="${1:-}"
DIR="${2:-${CLUSTERKIT_SLURM_DIR:-$ROOT/build/slurm-local}}"
PORT="${CLUSTERKIT_SLURM_PORT:-16817}"
TIMEOUT="${CLUSTERKIT_SLURM_TIMEOUT:-60}"
CONF="$DIR/etc/slurm.conf"
DAEMONS=(slurmd slurmctld munged)   # stop order

say() { printf 'slurm-local: %s\n' "$*" >&2; }
cannot() { say "cannot run Slurm here: $*"; exit 3; }
fail() { say "$*"; exit 1; }

case "$ACTION" in
    start|stop|status) ;;
    *) say "usage: tools/slurm-local.sh start|stop|status [DIR]"; exit 2 ;;
esac
case "$PORT" in
    ''|*[!0-9]*) fail "CLUSTERKIT_SLURM_PORT must be a port number, got '$PORT'" ;;
esac
DIR="$(mkdir -p "$DIR" && cd "$DIR" && pwd)" || fail "cannot create directory $DIR"
CONF="$DIR/etc/slurm.conf"
export SLURM_CONF="$CONF"
# munged's socket path must fit a unix socket address (108 bytes).
((${#DIR} <= 80)) || fail "directory path too long for munge's socket (${#DIR} > 80 characters): $DIR"

pidfile() { echo "$DIR/run/$1.pid"; }

alive() {  # process $1 exists and is not a zombie waiting to be reaped
    local stat
    stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
    stat="${stat##*) }"
    [[ "${stat:0:1}" != Z ]]
}

# The pid of daemon $1 if it runs and is ours (its command line names this directory).
ourpid() {
    local f pid
    f="$(pidfile "$1")"
    [[ -s "$f" ]] || return 1
    pid="$(tr -dc 0-9 <"$f")"
    [[ -n "$pid" ]] && alive "$pid" || return 1
    [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == "$1" ]] || return 1
    local cmd
    cmd="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)"
    [[ "$cmd" == *"$DIR/"* ]] || return 1
    echo "$pid"
}

node_state() {  # state of our node as sinfo reports it, e.g. "idle"
    timeout 10 sinfo -h -N -o %T 2>/dev/null | head -n 1
}

logs_tail() {
    local log
    for log in "$DIR"/log/*.log; do
        [[ -s "$log" ]] || continue
        printf -- '----- tail of %s\n' "$log" >&2
        tail -n 15 "$log" >&2
    done
}

stop_daemons() {
    local d pid i
    if [[ -n "$(ourpid slurmctld)" ]] && command -v squeue >/dev/null; then
        # Our private cluster: every job on it is ours. End them so no job step outlives slurmd.
        local jobs
        jobs="$(timeout 10 squeue -h -o %A 2>/dev/null | sort -u | tr '\n' ' ')"
        if [[ -n "${jobs// /}" ]]; then
            # shellcheck disable=SC2086
            timeout 10 scancel $jobs 2>/dev/null
            for ((i = 0; i < 40; i++)); do
                [[ -z "$(timeout 10 squeue -h -t R,CG -o %A 2>/dev/null)" ]] && break
                sleep 0.25
            done
        fi
    fi
    for d in "${DAEMONS[@]}"; do
        pid="$(ourpid "$d")" || { rm -f "$(pidfile "$d")"; continue; }
        kill -TERM "$pid" 2>/dev/null
        for ((i = 0; i < 100; i++)); do
            alive "$pid" || break
            sleep 0.1
        done
        if alive "$pid"; then
            say "$d (pid $pid) ignored SIGTERM for 10 s; sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null
        fi
        rm -f "$(pidfile "$d")"
    done
}

all_running() {
    local d
    for d in "${DAEMONS[@]}"; do ourpid "$d" >/dev/null || return 1; done
}

install_packages() {
    local missing=() c
    for c in munged mungekey slurmctld slurmd sbatch; do
        command -v "$c" >/dev/null || missing+=("$c")
    done
    ((${#missing[@]})) || return 0
    command -v apt-get >/dev/null ||
        cannot "${missing[*]} not installed and no apt-get to install slurm-wlm and munge"
    say "installing slurm-wlm and munge with apt-get (missing: ${missing[*]})"
    export DEBIAN_FRONTEND=noninteractive
    if ! timeout 600 apt-get install -y -qq slurm-wlm munge >"$DIR/log/apt.log" 2>&1; then
        timeout 600 apt-get update -qq >>"$DIR/log/apt.log" 2>&1
        timeout 600 apt-get install -y -qq slurm-wlm munge >>"$DIR/log/apt.log" 2>&1 ||
            cannot "apt-get install slurm-wlm munge failed: $(tail -n 1 "$DIR/log/apt.log")"
    fi
    for c in munged mungekey slurmctld slurmd sbatch; do
        command -v "$c" >/dev/null || cannot "$c still missing after installing slurm-wlm and munge"
    done
}

write_config() {
    local hw node host
    host="$(hostname -s)"
    # slurmd -C prints this machine's node line, e.g.
    # NodeName=vm CPUs=2 Boards=1 SocketsPerBoard=1 CoresPerSocket=2 ThreadsPerCore=1 RealMemory=24105
    hw="$(slurmd -C 2>/dev/null | grep -m1 '^NodeName=')" || fail "slurmd -C printed no node line"
    node="${hw%% *}"; node="${node#NodeName=}"
    [[ -n "$node" ]] || node="$host"
    cat >"$CONF.tmp" <<EOF
# Single-node Slurm for clusterkit's tests, written by tools/slurm-local.sh.
ClusterName=clusterkit-local
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$PORT
SlurmdPort=$((PORT + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
# cred_expire also delays a requeued job's restart (cred_expire + 1 s; default 120 s).
AuthInfo=socket=$DIR/munge/munge.socket.2,cred_expire=10
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$(pidfile slurmctld)
SlurmdPidFile=$(pidfile slurmd)
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
# srun binds each task to its cores, as production clusters do: unbound ranks made
# collective HDF5 writes ~3x slower here than under clusterkit run's mpirun (which binds)
TaskPlugin=task/affinity
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
$hw NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=local Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
    mv "$CONF.tmp" "$CONF"
    echo "$node" >"$DIR/etc/nodename"
}

start() {
    [[ "$(id -u)" == 0 ]] || cannot "needs root (installs slurm-wlm and munge, runs slurmd as root)"
    mkdir -p "$DIR"/{etc,state,spool,log,run,munge}
    if all_running && [[ "$(node_state)" =~ ^(idle|mixed|allocated) ]]; then
        say "already running in $DIR (node $(node_state))"
        echo "SLURM_CONF=$CONF"
        return 0
    fi
    stop_daemons   # a partial or stale set: start over cleanly
    install_packages
    write_config
    local node
    node="$(cat "$DIR/etc/nodename")"

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

    rm -rf "$DIR/state"/* "$DIR/spool"/*
    slurmctld -c -f "$CONF" >>"$DIR/log/start.log" 2>&1 9>&- ||
        { logs_tail; fail "slurmctld did not start (see $DIR/log/slurmctld.log)"; }
    slurmd -f "$CONF" -N "$node" >>"$DIR/log/start.log" 2>&1 9>&- ||
        { logs_tail; fail "slurmd did not start (see $DIR/log/slurmd.log)"; }

    local t0=$SECONDS state=""
    while ((SECONDS - t0 < TIMEOUT)); do
        state="$(node_state)"
        [[ "$state" == idle ]] && break
        if ! all_running; then
            sleep 0.5   # pid files appear a moment after the fork
            all_running || { logs_tail; stop_daemons; fail "a Slurm daemon exited during start-up"; }
        fi
        sleep 0.2
    done
    if [[ "$state" != idle ]]; then
        logs_tail; stop_daemons
        fail "node $node not idle after ${TIMEOUT} s (state '${state:-no answer}')"
    fi
    say "running in $DIR: node $node idle, partition local, ports $PORT/$((PORT + 1))"
    echo "SLURM_CONF=$CONF"
}

status() {
    local d pid rc=0
    for d in munged slurmctld slurmd; do
        if pid="$(ourpid "$d")"; then echo "$d: running (pid $pid)"; else echo "$d: stopped"; rc=1; fi
    done
    if ((rc == 0)); then echo "node: $(node_state)"; echo "SLURM_CONF=$CONF"; fi
    return $rc
}

mkdir -p "$DIR/log" "$DIR/run"
exec 9>"$DIR/run/lock"
flock -w 120 9 || fail "another tools/slurm-local.sh holds $DIR/run/lock"
case "$ACTION" in
    start) start ;;
    stop) stop_daemons; say "stopped (nothing of ours runs in $DIR)" ;;
    status) status ;;
esac
