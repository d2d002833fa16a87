#!/usr/bin/env bash
# A real multi-node Slurm cluster on this one machine: network namespaces as hosts.
#
#   tools/cluster-local.sh up [N]   build N nodes (2 or 3, default 3) and start Slurm on them
#   tools/cluster-local.sh env      print the `export ...` lines that point Slurm's client
#                                   commands and Open MPI's mpirun at the cluster
#   tools/cluster-local.sh status   exit 0 if every daemon runs and every node responds
#   tools/cluster-local.sh down     stop exactly what `up` started and remove its network
#
# What `up` builds: a Linux bridge (ckbr0) in the root namespace, the head node, with the
# first address of a private /24 that no address or route of this machine overlaps
# (checked before use; the first free one of a few candidates); one network namespace per
# node (ckn1..ckn3) joined to the bridge by a veth pair, and a UTS namespace of its own
# (hostname ckn1...), both kept as files so the launch agent can enter them. The head runs
# munged and slurmctld; each node runs its own `slurmd -N NAME` inside its namespaces. One
# slurm.conf for all, with %n in the node daemons' paths; the file system and process
# table stay shared, as on a cluster with a shared home.
#
# Everything lives in $CLUSTERKIT_CLUSTER_DIR (default build/cluster-local in the repo):
# config, munge key and socket, state, logs, pid files, the namespace files and the list
# of network objects made here (`down` removes those and nothing else). Ports:
# $CLUSTERKIT_CLUSTER_PORT (slurmctld, default 16917) and the next one (each slurmd, in its
# own namespace). Its own cluster name, ports and directory, so it runs beside
# tools/slurm-local.sh's single-node cluster. Idempotent: `up` on a running cluster of
# that size only checks it (running jobs are no fault), `up` where node daemons have died
# restarts just those (a node failure survived), and `down` on a stopped one does nothing.
#
# Exit status: 0 done; 1 failed (the last line of stderr says why); 2 usage; 3 cannot run
# here (not root, no `ip`/`nsenter`/`unshare`, no Slurm, namespaces or bridges refused by
# the kernel) - one line saying why, and the multi-node tests skip with it.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
ACTION="${1:-}"
NODES="${2:-3}"
DIR="${CLUSTERKIT_CLUSTER_DIR:-$ROOT/build/cluster-local}"
PORT="${CLUSTERKIT_CLUSTER_PORT:-16917}"
TIMEOUT="${CLUSTERKIT_CLUSTER_TIMEOUT:-60}"
AGENT="$ROOT/tools/ck-node-agent.sh"
BRIDGE=ckbr0
PREFIX=ckn            # node names ckn1..ckn3 (also the network namespaces' names)
VETH=ckv              # root-namespace ends of the veth pairs: ckv1..ckv3
# First three octets of the /24 candidates, tried in this order.
CANDIDATES=(10.213.17 10.197.53 172.29.213 192.168.213 10.251.7)

PROG=cluster-local
CANNOT="cannot build a multi-node cluster here"
# say, cannot, fail, pidfile, ourpid, the stopping, the shared slurm.conf lines, start_head
# shellcheck source=SCRIPTDIR/slurm-common.sh
source "$(dirname "${BASH_SOURCE[0]}")/slurm-common.sh"

case "$ACTION" in
    up|env|status|down) ;;
    *) say "usage: tools/cluster-local.sh up [2|3] | env | status | down"; exit 2 ;;
esac
case "$NODES" in
    2|3) ;;
    *) say "up: the number of nodes must be 2 or 3, got '$NODES'"; exit 2 ;;
esac
check_port CLUSTERKIT_CLUSTER_PORT

[[ "$(id -u)" == 0 ]] || cannot "needs root (network namespaces, a bridge, slurmd as root)"
for c in ip nsenter unshare flock; do
    command -v "$c" >/dev/null || cannot "no '$c' command (iproute2 / util-linux)"
done

mkdir -p "$DIR" || fail "cannot create directory $DIR"
DIR="$(cd "$DIR" && pwd)"
CONF="$DIR/etc/slurm.conf"
MADE="$DIR/run/made"          # one network object made here per line: "netns ckn1" ...
NET="$DIR/run/subnet"         # the /24 in use, e.g. 10.213.17
# munged's socket path must fit a unix socket address (108 bytes).
((${#DIR} <= 80)) || fail "directory path too long for munge's socket (${#DIR} > 80): $DIR"
export SLURM_CONF="$CONF"

utsfile() { echo "$DIR/ns/$1.uts"; }

made() { [[ -f "$MADE" ]] && grep -qxF "$1" "$MADE"; }
record() { echo "$1" >>"$MADE"; }

recorded_nodes() {  # the node names whose namespaces this directory made
    [[ -f "$MADE" ]] || return 0
    sed -n "s/^netns //p" "$MADE"
}

subnet() { [[ -s "$NET" ]] && cat "$NET"; }

node_states() {  # "NAME STATE" per node of our cluster, as sinfo reports them
    timeout 10 sinfo -h -N -o '%N %T' 2>/dev/null | sort -u
}

# --- the subnet ----------------------------------------------------------------------

ip2int() {
    local a b c d
    IFS=. read -r a b c d <<<"$1"
    echo $(((a << 24) | (b << 16) | (c << 8) | d))
}

# Whether prefix $1 (A.B.C.D/LEN) overlaps the /24 starting at $2 (A.B.C).
overlaps() {
    local addr="${1%/*}" len=32 mask net cand
    [[ "$1" == */* ]] && len="${1#*/}"
    ((len > 24)) && len=24
    ((len == 0)) && return 1          # a default route overlaps everything; not a clash
    mask=$(((0xffffffff << (32 - len)) & 0xffffffff))
    net=$(($(ip2int "$addr") & mask))
    cand=$(($(ip2int "$2.0") & mask))
    ((net == cand))
}

subnet_free() {  # no address or route of the root namespace overlaps candidate $1
    local p
    while read -r p; do
        [[ -n "$p" ]] && overlaps "$p" "$1" && return 1
    done < <({ ip -4 -o addr show | awk '{print $4}'
               ip -4 route show table all | awk '$1 ~ /^[0-9]/ {print $1}'; } 2>/dev/null)
    return 0
}

choose_subnet() {
    local c
    for c in "${CANDIDATES[@]}"; do
        if subnet_free "$c"; then echo "$c"; return 0; fi
    done
    fail "every candidate subnet (${CANDIDATES[*]/%/.0/24}) overlaps an address or route here"
}

# --- stopping --------------------------------------------------------------------------

stop_daemons() {
    local node
    cancel_jobs
    for node in $(recorded_nodes); do
        stop_daemon "slurmd-$node" slurmd "slurmd on $node"
    done
    stop_daemon slurmctld
    stop_daemon munged
}

remove_network() {  # remove the network objects listed in $MADE, nodes first
    local node pid pids kind name
    for node in $(recorded_nodes); do
        # Whatever still runs in a node's namespace was started through this cluster
        # (a job step, an orted of the launch agent): it ends with its node.
        pids="$(ip netns pids "$node" 2>/dev/null | tr '\n' ' ')" || true
        for pid in $pids; do
            if alive "$pid"; then kill -KILL "$pid" 2>/dev/null || true; fi
        done
        ip netns del "$node" 2>/dev/null || true
        if [[ -e "$(utsfile "$node")" ]]; then
            umount "$(utsfile "$node")" 2>/dev/null || true
            rm -f "$(utsfile "$node")"
        fi
    done
    [[ -f "$MADE" ]] || return 0
    while read -r kind name; do
        case "$kind" in
            link) ip link del "$name" 2>/dev/null || true ;;
        esac
    done < <(tac "$MADE")
    rm -f "$MADE" "$NET"
}

down() {
    stop_daemons
    remove_network
}

# --- starting --------------------------------------------------------------------------

all_running() {
    local node
    ourpid slurmctld slurmctld >/dev/null && ourpid munged munged >/dev/null || return 1
    for node in $(recorded_nodes); do
        ourpid "slurmd-$node" slurmd >/dev/null || return 1
        [[ -e /run/netns/$node ]] || return 1
    done
}

running_size() {  # the number of nodes of the running cluster, 0 if not (all) running
    local n
    n="$(recorded_nodes | wc -l)"
    if ((n > 0)) && all_running; then echo "$n"; else echo 0; fi
}

serving() {  # every node answers and takes jobs (idle, or running some: a job is no fault)
    local states
    states="$(node_states)"
    [[ -n "$states" ]] && (($(wc -l <<<"$states") == NODES)) || return 1
    ! grep -Evq ' (idle|mixed|allocated|completing)$' <<<"$states"
}

all_idle() {
    local states
    states="$(node_states)"
    [[ -n "$states" ]] || return 1
    ! grep -qv ' idle$' <<<"$states" && (($(wc -l <<<"$states") == NODES))
}

check_installed() {
    local c
    for c in munged mungekey slurmctld slurmd sbatch sinfo; do
        command -v "$c" >/dev/null ||
            cannot "no '$c': install slurm-wlm and munge (tools/slurm-local.sh start does)"
    done
}

build_network() {
    local net="$1" i node veth out
    if ip link show "$BRIDGE" >/dev/null 2>&1 && ! made "link $BRIDGE"; then
        fail "a link named $BRIDGE exists and was not made by this script (another cluster?)"
    fi
    for ((i = 1; i <= NODES; i++)); do
        [[ -e /run/netns/$PREFIX$i ]] && ! made "netns $PREFIX$i" &&
            fail "network namespace $PREFIX$i exists and was not made with $DIR (another" \
                 "cluster's? its directory's \`tools/cluster-local.sh down\` or \`ip netns del" \
                 "$PREFIX$i\` removes it)"
    done
    echo "$net" >"$NET"
    if ! made "link $BRIDGE"; then
        out="$(ip link add "$BRIDGE" type bridge 2>&1)" ||
            cannot "the kernel refused a bridge ($BRIDGE): $out"
        record "link $BRIDGE"
    fi
    ip addr replace "$net.1/24" dev "$BRIDGE"
    ip link set "$BRIDGE" up
    for ((i = 1; i <= NODES; i++)); do
        node="$PREFIX$i"; veth="$VETH$i"
        if ! made "netns $node"; then
            out="$(ip netns add "$node" 2>&1)" ||
                cannot "the kernel refused a network namespace ($node): $out"
            record "netns $node"
        fi
        if ! ip link show "$veth" >/dev/null 2>&1; then
            ip -n "$node" link del eth0 2>/dev/null || true
            ip link add "$veth" type veth peer name eth0 netns "$node"
        fi
        ip link set "$veth" master "$BRIDGE" up
        ip -n "$node" addr replace "$net.1$i/24" dev eth0
        ip -n "$node" link set eth0 up
        ip -n "$node" link set lo up
        if ! mountpoint -q "$(utsfile "$node")" 2>/dev/null; then
            mkdir -p "$DIR/ns"; touch "$(utsfile "$node")"
            unshare --uts="$(utsfile "$node")" hostname "$node"
        fi
    done
}

write_config() {
    local net="$1" hw head i
    head="$(hostname -s)"
    # slurmd -C prints this machine's node line; every node gets its CPUs and memory.
    hw="$(slurmd -C 2>/dev/null | grep -m1 '^NodeName=')" || fail "slurmd -C printed no node line"
    hw="${hw#NodeName=* }"
    mkdir -p "$DIR/etc"
    {
        cat <<EOF
# Multi-node Slurm for clusterkit's tests, written by tools/cluster-local.sh.
# Nodes are network namespaces on this machine; %n gives each node daemon its own files.
ClusterName=clusterkit-nodes
SlurmctldHost=$head($net.1)
SlurmdSpoolDir=$DIR/spool/%n
TmpFS=$DIR/tmp/%n
SlurmdPidFile=$DIR/run/slurmd-%n.pid
SlurmdLogFile=$DIR/log/slurmd-%n.log
# no binding: the nodes share this machine's cores, and every node would bind its first
# task to the same core (task/affinity on a real cluster)
TaskPlugin=task/none
# A node whose slurmd stops answering is marked DOWN this many seconds after its last
# answer (slurmctld pings every SlurmdTimeout/3 s); its jobs are then requeued (batch jobs
# that allow it) or ended with NODE_FAIL. Until then the ranks of a job that lost a node
# wait: Open MPI does not end a job when a TCP peer vanishes, and srun waits for the lost
# node's tasks. Slurm's default is 300 s; 10 s here keeps the node-failure test short
# (tests/test_node_failure.py), and slurmd answers pings even on a loaded machine.
SlurmdTimeout=10
EOF
        slurm_conf_common
        for ((i = 1; i <= NODES; i++)); do
            echo "NodeName=$PREFIX$i NodeAddr=$net.1$i $hw State=UNKNOWN"
        done
        # The partition is named as in tools/slurm-local.sh, so the `local` site profile
        # submits here too.
        echo "PartitionName=local Nodes=ALL Default=YES MaxTime=INFINITE State=UP"
    } >"$CONF.tmp"
    mv "$CONF.tmp" "$CONF"
    for ((i = 1; i <= NODES; i++)); do echo "$PREFIX$i slots=1"; done >"$DIR/etc/hostfile.tmp"
    mv "$DIR/etc/hostfile.tmp" "$DIR/etc/hostfile"
}

start_daemons() {
    local i node
    mkdir -p "$DIR/tmp"
    start_head
    for ((i = 1; i <= NODES; i++)); do
        start_slurmd "$PREFIX$i"
    done
}

start_slurmd() {  # the node daemon of node $1, inside its namespaces
    mkdir -p "$DIR/spool/$1" "$DIR/tmp/$1"
    # Not `ip netns exec`: it remounts /sys, which hides the cgroup tree slurmd needs.
    nsenter --net="/run/netns/$1" --uts="$(utsfile "$1")" \
        slurmd -f "$CONF" -N "$1" >>"$DIR/log/start.log" 2>&1 9>&- ||
        { logs_tail; fail "slurmd on $1 did not start (see $DIR/log/slurmd-$1.log)"; }
}

# Bring back the nodes whose slurmd has died (a node failure: tests/test_node_failure.py
# kills every process of a node's namespace) while the head's daemons and the network
# still run, leaving the other nodes and their jobs alone. Like a reboot, whatever is left
# in a dead node's namespace is ended first; the restarted slurmd registers, and
# ReturnToService=2 returns a node that Slurm had set DOWN to service. Status 1 (and
# nothing done) when the cluster is not in that state; then `up` starts over.
revive() {
    local node pid dead=() t0
    ourpid slurmctld slurmctld >/dev/null && ourpid munged munged >/dev/null || return 1
    [[ -f "$CONF" ]] && (($(recorded_nodes | wc -l) == NODES)) || return 1
    for node in $(recorded_nodes); do
        [[ -e /run/netns/$node ]] && mountpoint -q "$(utsfile "$node")" || return 1
        ourpid "slurmd-$node" slurmd >/dev/null || dead+=("$node")
    done
    ((${#dead[@]} > 0)) || return 1
    for node in "${dead[@]}"; do
        for pid in $(ip netns pids "$node" 2>/dev/null); do
            if alive "$pid"; then kill -KILL "$pid" 2>/dev/null || true; fi
        done
        start_slurmd "$node"
    done
    t0=$SECONDS
    until serving; do
        if ((SECONDS - t0 >= TIMEOUT)); then
            logs_tail
            fail "restarted slurmd on ${dead[*]}, but not every node takes jobs after" \
                 "${TIMEOUT} s: $(node_states | tr '\n' ' ')"
        fi
        sleep 0.2
    done
    say "revived ${dead[*]} (slurmd restarted; the other nodes and their jobs untouched)"
}

wait_idle() {
    local states
    wait_for all_idle down && return 0
    logs_tail
    states="$(node_states | tr '\n' ' ')"
    down
    fail "nodes not idle after ${TIMEOUT} s (${states:-no answer from slurmctld})"
}

up() {
    check_installed
    local size
    size="$(running_size)"
    if ((size == NODES)) && serving; then
        say "already running in $DIR: $NODES nodes on $(subnet).0/24"
        return 0
    fi
    revive && return 0
    down   # a partial, stale or differently sized cluster: start over cleanly
    local net
    net="$(choose_subnet)"
    mkdir -p "$DIR/run"
    build_network "$net"
    write_config "$net"
    start_daemons
    wait_idle
    say "running in $DIR: nodes $(node_states | awk '{print $1}' | tr '\n' ' ')on" \
        "$net.0/24, bridge $BRIDGE ($net.1, head), ports $PORT/$((PORT + 1));" \
        "tools/cluster-local.sh env prints the settings"
}

print_env() {
    local net
    if ! net="$(subnet)" || [[ ! -f "$CONF" ]]; then
        fail "not running (tools/cluster-local.sh up first)"
    fi
    printf 'export CLUSTERKIT_CLUSTER_DIR=%q\n' "$DIR"
    printf 'export SLURM_CONF=%q\n' "$CONF"
    printf 'export OMPI_MCA_btl_tcp_if_include=%q\n' "$net.0/24"
    printf 'export OMPI_MCA_oob_tcp_if_include=%q\n' "$net.0/24"
    printf 'export OMPI_MCA_orte_default_hostfile=%q\n' "$DIR/etc/hostfile"
    printf 'export OMPI_MCA_plm_rsh_agent=%q\n' "$AGENT"
    # The nodes share this machine's cores: mpirun's default binding would pin a rank on
    # each node to the same core.
    printf 'export OMPI_MCA_hwloc_base_binding_policy=none\n'
}

status() {
    local pid rc=0 node
    for d in munged slurmctld; do
        if pid="$(ourpid "$d" "$d")"; then echo "$d: running (pid $pid)"
        else echo "$d: stopped"; rc=1; fi
    done
    for node in $(recorded_nodes); do
        if pid="$(ourpid "slurmd-$node" slurmd)"; then echo "slurmd on $node: running (pid $pid)"
        else echo "slurmd on $node: stopped"; rc=1; fi
    done
    [[ -n "$(recorded_nodes)" ]] || { echo "no nodes"; rc=1; }
    if ((rc == 0)); then
        echo "subnet: $(subnet).0/24"
        node_states | sed 's/^/node /'
    fi
    return $rc
}

take_lock
case "$ACTION" in
    up) up ;;
    env) print_env ;;
    status) status ;;
    down) down; say "down (nothing of ours runs in $DIR)" ;;
esac
