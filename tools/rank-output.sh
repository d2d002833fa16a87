#!/bin/sh
# Run a command as one MPI rank; ranks other than 0 write to LOGPREFIX-rankK.log.
# Usage (under mpirun): tools/rank-output.sh LOGPREFIX COMMAND [ARGS...]
prefix="$1"; shift
rank="${OMPI_COMM_WORLD_RANK:-${PMI_RANK:-${PMIX_RANK:-0}}}"
if [ "$rank" = 0 ]; then
    exec "$@"
fi
exec "$@" >"$prefix-rank$rank.log" 2>&1
