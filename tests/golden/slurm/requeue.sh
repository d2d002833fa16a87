#!/bin/bash
# clusterkit MPI job that checkpoints and requeues itself before its time limit,
# rendered from slurm/templates/requeue.sh.tmpl.
# Site profile: test-srun. Submit it again, unchanged, with: sbatch THIS_FILE
#SBATCH --job-name=diffusion
#SBATCH --nodes=1
#SBATCH --ntasks-per-node=2
#SBATCH --cpus-per-task=1
#SBATCH --time=1-00:00:00
#SBATCH --partition=batch
#SBATCH --account=proj1
#SBATCH --output=/scratch/me/long/slurm-%j.out
#SBATCH --error=/scratch/me/long/slurm-%j.err
#SBATCH --signal=B:USR1@300
#SBATCH --requeue
#SBATCH --open-mode=append
#SBATCH --hint=nomultithread

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
module purge
module load openmpi/4.1.5
export HDF5_USE_FILE_LOCKING=FALSE
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

# ---- requeue on signal ---------------------------------------------------------------
# Slurm sends USR1 to this batch shell shortly before the time limit, as asked by
# --signal=B:USR1@300 (it may come up to a minute early). The trap passes it
# on to the job (srun and mpirun forward it to every rank) and waits while the job
# writes its checkpoint and exits. Status 99 (clusterkit.io.checkpoint.EXIT_CHECKPOINTED)
# requeues this job; any other status ends it with that status (0: it had finished
# anyway; others: a failure, not worth a rerun). The rerun sees SLURM_RESTART_COUNT > 0,
# and CLUSTERKIT_RESTART=1 makes the job resume from its newest checkpoint.
# Slurm requeues the job by itself (--requeue) when one of its nodes fails: once the node
# is marked DOWN (SlurmdTimeout after its last answer) it ends this run on every node and
# queues the job again; the rerun resumes in the same way, on the nodes Slurm gives it
# (fewer, with a node range: -N MIN-MAX). Its ranks are as many as its nodes allow.
# On that expected path the launcher reports "exit code 99" as an error and Slurm logs
# "CANCELLED ... DUE TO JOB REQUEUE"; the line written before the requeue says so, and
# its "after N s" is how `clusterkit status` adds up the time over all runs.
export CLUSTERKIT_CHECKPOINT_SIGNAL=USR1
ck_run=$((${SLURM_RESTART_COUNT:-0} + 1))
if [ "$ck_run" -gt 1 ]; then
    export CLUSTERKIT_RESTART=1
    echo "clusterkit: run $ck_run of job $SLURM_JOB_ID resumes from its newest" \
         "checkpoint, if any, on ${SLURM_JOB_NODELIST:-?}" >&2
fi
requeue_on_usr1() {
    trap '' USR1
    echo "clusterkit: USR1 at $(date '+%T'): run $ck_run of job $SLURM_JOB_ID checkpoints" >&2
    kill -USR1 "$job_pid" 2>/dev/null || true
    local status=0
    wait "$job_pid" || status=$?
    if [ "$status" != 99 ]; then
        echo "clusterkit: the job ended with status $status; not requeued" >&2
        exit "$status"
    fi
    echo "clusterkit: run $ck_run checkpointed and stopped after $SECONDS s; requeueing job" \
         "$SLURM_JOB_ID (expected: the launcher's exit code 99 above and Slurm's" \
         "CANCELLED ... DUE TO JOB REQUEUE below say the same)" >&2
    scontrol requeue "$SLURM_JOB_ID"
    exit 0
}
trap requeue_on_usr1 USR1

# ---- run -----------------------------------------------------------------------------
# 2 ranks, in the background so that the trap can run.
srun --mpi=pmix /opt/venv/bin/python -m clusterkit.jobs.diffusion --steps 90000 \
    --checkpoint-dir /scratch/me/long/ck &
job_pid=$!
wait "$job_pid"
