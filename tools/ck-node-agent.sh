#!/usr/bin/env bash
# Open MPI's launch agent for tools/cluster-local.sh's nodes: `ssh` without sshd.
#
#   ck-node-agent.sh [-x] NODE COMMAND...
#
# Runs COMMAND (its words joined, as ssh does, and run by sh) inside NODE's network and
# UTS namespaces (/run/netns/NODE and $CLUSTERKIT_CLUSTER_DIR/ns/NODE.uts), so that
# mpirun with a hostfile of those nodes starts its daemons "on" them. Set it with
#   export OMPI_MCA_plm_rsh_agent=/path/to/tools/ck-node-agent.sh
# (tools/cluster-local.sh env prints that line). Exit status: COMMAND's; 255 (as ssh) if
# NODE is not a node of the cluster.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
DIR="${CLUSTERKIT_CLUSTER_DIR:-$ROOT/build/cluster-local}"

# ssh options Open MPI may pass (-x: no X11 forwarding) mean nothing here.
while [[ "${1:-}" == -* ]]; do shift; done
if (($# < 2)); then
    echo "usage: ck-node-agent.sh NODE COMMAND..." >&2
    exit 255
fi
node="$1"; shift
uts="$DIR/ns/$node.uts"
if [[ ! -e "/run/netns/$node" || ! -e "$uts" ]]; then
    echo "ck-node-agent: no node '$node' in $DIR (is tools/cluster-local.sh up?)" >&2
    exit 255
fi
exec nsenter --net="/run/netns/$node" --uts="$uts" -- /bin/sh -c "$*"
