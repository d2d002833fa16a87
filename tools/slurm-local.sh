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
PROG=slurm-local
CANNOT="cannot run Slurm here"
# say, cannot, fail, pidfile, ourpid, the stopping, the shared slurm.conf lines, start_head
# shellcheck source=SCRIPTDIR/slurm-common.sh
source "$(dirname "${BASH_SOURCE[0]}")/slurm-common.sh"

case "$ACTION" in
    start|stop|status) ;;
    *) say "usage: tools/slurm-local.sh start|stop|status [DIR]"; exit 2 ;;
esac
check_port CLUSTERKIT_SLURM_PORT
DIR="$(mkdir -p "$DIR" && cd "$DIR" && pwd)" || fail "cannot create directory $DIR"
CONF="$DIR/etc/slurm.conf"
export SLURM_CONF="$CONF"
# munged's socket path must fit a unix socket address (108 bytes).
((${#DIR} <= 80)) ||
    fail "directory path too long for munge's socket (${#DIR} > 80 characters): $DIR"

node_state() {  # state of our node as sinfo reports it, e.g. "idle"
    timeout 10 sinfo -h -N -o %T 2>/dev/null | head -n 1
}

node_idle() { [[ "$(node_state)" == idle ]]; }

stop_daemons() {
    local d
    cancel_jobs
    for d in "${DAEMONS[@]}"; do stop_daemon "$d"; done
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
        command -v "$c" >/dev/null ||
            cannot "$c still missing after installing slurm-wlm and munge"
    done
}

write_config() {
    local hw node host
    host="$(hostname -s)"
    # slurmd -C prints this machine's node line, e.g.
    # NodeName=vm CPUs=2 Boards=1 SocketsPerBoard=1 CoresPerSocket=2 ThreadsPerCore=1
    #   RealMemory=24105 (one line)
    hw="$(slurmd -C 2>/dev/null | grep -m1 '^NodeName=')" || fail "slurmd -C printed no node line"
    node="${hw%% *}"; node="${node#NodeName=}"
    [[ -n "$node" ]] || node="$host"
    {
        cat <<EOF
# Single-node Slurm for clusterkit's tests, written by tools/slurm-local.sh.
ClusterName=clusterkit-local
SlurmctldHost=$node(127.0.0.1)
SlurmdSpoolDir=$DIR/spool
SlurmdPidFile=$(pidfile slurmd)
SlurmdLogFile=$DIR/log/slurmd.log
# srun binds each task to its cores, as production clusters do: unbound ranks made
# collective HDF5 writes ~3x slower here than under clusterkit run's mpirun (which binds)
TaskPlugin=task/affinity
EOF
        slurm_conf_common
        echo "$hw NodeAddr=127.0.0.1 State=UNKNOWN"
        echo "PartitionName=local Nodes=ALL Default=YES MaxTime=INFINITE State=UP"
    } >"$CONF.tmp"
    mv "$CONF.tmp" "$CONF"
    echo "$node" >"$DIR/etc/nodename"
}

start() {
    [[ "$(id -u)" == 0 ]] ||
        cannot "needs root (installs slurm-wlm and munge, runs slurmd as root)"
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

    start_head
    slurmd -f "$CONF" -N "$node" >>"$DIR/log/start.log" 2>&1 9>&- ||
        { logs_tail; fail "slurmd did not start (see $DIR/log/slurmd.log)"; }

    if ! wait_for node_idle stop_daemons; then
        local state
        state="$(node_state)"
        logs_tail; stop_daemons
        fail "node $node not idle after ${TIMEOUT} s (state '${state:-no answer}')"
    fi
    say "running in $DIR: node $node idle, partition local, ports $PORT/$((PORT + 1))"
    echo "SLURM_CONF=$CONF"
}

status() {
    local d pid rc=0
    for d in munged slurmctld slurmd; do
        if pid="$(ourpid "$d")"; then echo "$d: running (pid $pid)"
        else echo "$d: stopped"; rc=1; fi
    done
    if ((rc == 0)); then echo "node: $(node_state)"; echo "SLURM_CONF=$CONF"; fi
    return $rc
}

take_lock
case "$ACTION" in
    start) start ;;
    stop) stop_daemons; say "stopped (nothing of ours runs in $DIR)" ;;
    status) status ;;
esac
