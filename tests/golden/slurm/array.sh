#!/bin/bash
# clusterkit job array (an MPI job per index), rendered from
# slurm/templates/array.sh.tmpl. Each task finds its index in SLURM_ARRAY_TASK_ID;
# "{array_index}" in the job's arguments reads it below.
# Site profile: test-mpirun. Submit it again, unchanged, with: sbatch THIS_FILE
#SBATCH --job-name=member
#SBATCH --nodes=1
#SBATCH --ntasks-per-node=1
#SBATCH --cpus-per-task=4
#SBATCH --mem-per-cpu=2000M
#SBATCH --array=0-9%2
#SBATCH --output=/scratch/me/ens/slurm-%A_%a.out
#SBATCH --error=/scratch/me/ens/slurm-%A_%a.err

set -eo pipefail

# ---- environment ---------------------------------------------------------------------
# Leftovers of an MPI runtime in the submitting process (a Python session that had
# initialised mpi4py, say) would make mpirun think it runs nested inside that one.
for var in $(compgen -e); do
    case "$var" in
        PMIX_*|ORTE_*|OMPI_MCA_ess*|OMPI_MCA_orte_*|OMPI_MCA_pmix*|OMPI_APP_CTX_*) unset "$var" ;;
    esac
done
# The site's modules and variables, then clusterkit's settings.
# Threads per rank, clusterkit's one policy: the CPUs Slurm gives each task.
export NUMBA_NUM_THREADS="${SLURM_CPUS_PER_TASK:-1}"
export OMP_NUM_THREADS="$NUMBA_NUM_THREADS"
# srun (Slurm >= 22.05) does not inherit --cpus-per-task from the batch allocation.
export SRUN_CPUS_PER_TASK="${SLURM_CPUS_PER_TASK:-1}"
# Open MPI's mpirun refuses to start as root unless told to (containers, test clusters).
if [ "$(id -u)" = 0 ]; then
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
# A job on one node: Open MPI's shared-memory transport, named directly as `clusterkit run`
# does, instead of after probing the node's network devices (about 0.15 s of every rank's
# MPI_Init under srun). Left alone across nodes, or when the site, a module or the job
# chose a transport itself (OMPI_MCA_pml, _btl or _mtl).
if [ "${SLURM_JOB_NUM_NODES:-${SLURM_NNODES:-1}}" = 1 ] \
        && [ -z "${OMPI_MCA_pml:-}${OMPI_MCA_btl:-}${OMPI_MCA_mtl:-}" ]; then
    export OMPI_MCA_pml=ob1 OMPI_MCA_btl=self,vader
fi
# Numba's compiled kernels, kept for this user's later jobs: every rank uses the directory
# for its node's CPU type and Numba version below CLUSTERKIT_NUMBA_CACHE (clusterkit's
# kernel library picks it). A NUMBA_CACHE_DIR given at submit time is used as it is; where
# the shared directory cannot be written (or the site says so), a cache of this job's own.
ck_numba_cache="${XDG_CACHE_HOME:-$HOME/.cache}/clusterkit/numba"
if [ -z "${NUMBA_CACHE_DIR:-}" ]; then
    if [ -n "$ck_numba_cache" ] && mkdir -p -- "$ck_numba_cache" 2>/dev/null \
            && [ -w "$ck_numba_cache" ]; then
        export CLUSTERKIT_NUMBA_CACHE="$ck_numba_cache"
    else
        if [ -n "$ck_numba_cache" ]; then
            echo "clusterkit: cannot write the Numba cache $ck_numba_cache;" \
                 "this job compiles its kernels into a cache of its own" >&2
        fi
        export NUMBA_CACHE_DIR="${TMPDIR:-/tmp}/clusterkit-numba-${SLURM_JOB_ID:-$$}"
        trap 'rm -rf -- "$NUMBA_CACHE_DIR"' EXIT
    fi
fi
echo "clusterkit: job ${SLURM_JOB_ID:-?}" \
     "${SLURM_ARRAY_TASK_ID:+task $SLURM_ARRAY_TASK_ID }on ${SLURM_JOB_NODELIST:-?}:" \
     "ranks=${SLURM_NTASKS:-?} threads_per_rank=$NUMBA_NUM_THREADS" \
     "run=$((${SLURM_RESTART_COUNT:-0} + 1)) $(date '+%F %T')" >&2

# ---- run -----------------------------------------------------------------------------
# One array task: 1 rank, started by the site's launcher.
mpirun --map-by slot:PE=4 --bind-to core /opt/venv/bin/python /home/me/member.py \
    --member="${SLURM_ARRAY_TASK_ID}" --out m"${SLURM_ARRAY_TASK_ID}".nc
