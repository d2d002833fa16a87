"""Build the ``mpirun`` command line and environment of a job and check its rank count
(pure functions, tested without running anything)."""

import functools
import os
import shlex
import shutil
import subprocess
import sys
import tempfile

from .threads import available_cores, threads_per_rank
from .errors import InputError, InputFileNotFoundError

__all__ = ["mpi_flavour", "mpirun_command", "job_environment", "single_node",
           "TRACE_VARIABLES", "trace_exports", "STATUS_VARIABLE", "status_channel",
           "job_status", "MAX_LOCAL_RANKS_VARIABLE", "LOCAL_RANKS_PER_CORE",
           "MIN_LOCAL_RANK_LIMIT", "local_rank_limit", "allocation_tasks",
           "check_rank_count", "REPORT_FD_VARIABLE", "shell_command"]

#: variables that switch on clusterkit.trace in the ranks (exported by mpirun when set)
TRACE_VARIABLES = ("CLUSTERKIT_PROFILE", "CLUSTERKIT_TRACE", "CLUSTERKIT_PROFILE_JSON")

#: directory where ranks ending through runtime.exit_job leave a non-zero exit status
#: for the launcher (clusterkit run, run_mpi) and exit 0 themselves; see status_channel
STATUS_VARIABLE = "CLUSTERKIT_STATUS_DIR"

#: a user's or site's own choice of Open MPI transport (left alone when set)
_TRANSPORT_VARIABLES = ("OMPI_MCA_pml", "OMPI_MCA_btl", "OMPI_MCA_mtl")
#: set when mpirun may start ranks on other nodes (a hostfile or a multi-node allocation)
_HOSTFILE_VARIABLES = ("OMPI_MCA_orte_default_hostfile", "OMPI_MCA_rmaps_base_hostfile",
                       "PBS_NODEFILE", "LSB_HOSTS")

_SINGLETON_PREFIXES = ("PMIX_", "OMPI_MCA_ess", "OMPI_MCA_orte_", "OMPI_MCA_pmix",
                       "OMPI_APP_CTX_", "ORTE_")

#: environment variable that sets how many ranks ``clusterkit run`` starts on one node at most
MAX_LOCAL_RANKS_VARIABLE = "CLUSTERKIT_MAX_LOCAL_RANKS"
#: without it, the limit is this many ranks per core ...
LOCAL_RANKS_PER_CORE = 16
#: ... and never less than this many ranks
MIN_LOCAL_RANK_LIMIT = 64

#: Open MPI writes its own messages (help texts, the report of a failed job) to the file
#: descriptor named by this variable instead of stderr; see :func:`start_mpirun`
REPORT_FD_VARIABLE = "OPAL_OUTPUT_STDERR_FD"


def mpi_flavour(mpirun="mpirun"):
    """Return ``"openmpi"``, ``"mpich"`` or ``"unknown"`` for the ``mpirun`` found on PATH.

    Asked once per executable and process (``mpirun --version`` is a process start;
    a test session launches hundreds of jobs).
    """
    exe = shutil.which(mpirun)
    if exe is None:
        raise InputFileNotFoundError(
            f"{mpirun!r} not found on PATH; install Open MPI or MPICH (run tools/setup-env.sh) "
            "or load your site's MPI module")
    return _flavour_of(exe)


@functools.lru_cache(maxsize=None)
def _flavour_of(exe):
    try:
        text = subprocess.run([exe, "--version"], capture_output=True, text=True,
                              timeout=30).stdout + ""
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    if "Open MPI" in text or "OpenRTE" in text:
        return "openmpi"
    if "HYDRA" in text or "MPICH" in text or "Intel" in text:
        return "mpich"
    return "unknown"


def single_node(env):
    """Whether an ``mpirun`` started with ``env`` can only place ranks on this node."""
    if any(env.get(k) for k in _HOSTFILE_VARIABLES):
        return False
    nodes = env.get("SLURM_JOB_NUM_NODES") or env.get("SLURM_NNODES") or "1"
    return not (nodes.isdigit() and int(nodes) > 1)


def local_rank_limit(cores, env):
    """How many ranks ``clusterkit run`` starts on this node at most.

    ``CLUSTERKIT_MAX_LOCAL_RANKS`` if set, else :data:`LOCAL_RANKS_PER_CORE` per core
    and at least :data:`MIN_LOCAL_RANK_LIMIT`. Each rank is a process of a few tens of
    MiB, and ``mpirun`` sets up its bookkeeping for all of them before starting any: a
    count far beyond the cores (``-n 1000000000``) only fills the memory.

    Raises
    ------
    InputError
        If the variable is set to something other than a positive integer.
    """
    text = env.get(MAX_LOCAL_RANKS_VARIABLE, "").strip()
    if not text:
        return max(MIN_LOCAL_RANK_LIMIT, LOCAL_RANKS_PER_CORE * cores)
    if not text.isdigit() or int(text) < 1:
        raise InputError(f"{MAX_LOCAL_RANKS_VARIABLE} must be a positive integer (the most "
                         f"ranks to start on this node), got {text!r}")
    return int(text)


def allocation_tasks(env):
    """``(tasks, how)``: the tasks of the Slurm allocation ``env`` runs in, or ``None``.

    From ``SLURM_NTASKS`` (or ``SLURM_NPROCS``), else ``SLURM_NTASKS_PER_NODE`` × the
    allocation's nodes; ``how`` names the variables, for messages.
    """
    for var in ("SLURM_NTASKS", "SLURM_NPROCS"):
        text = env.get(var, "").strip()
        if text.isdigit():
            return int(text), f"{var}={text}"
    per_node = env.get("SLURM_NTASKS_PER_NODE", "").strip()
    nodes_var = next((v for v in ("SLURM_JOB_NUM_NODES", "SLURM_NNODES") if env.get(v)), None)
    nodes = env.get(nodes_var, "").strip() if nodes_var else ""
    if per_node.isdigit() and nodes.isdigit():
        return (int(per_node) * int(nodes),
                f"SLURM_NTASKS_PER_NODE={per_node} x {nodes_var}={nodes}")
    return None


def check_rank_count(nranks, env, cores):
    """Refuse a rank count that cannot start, before ``mpirun`` is run.

    Inside a Slurm allocation that states its tasks (:func:`allocation_tasks`), at most
    that many ranks; when the ranks can only run on this node (:func:`single_node`), at
    most :func:`local_rank_limit`.

    Parameters
    ----------
    nranks : int
        Ranks asked for.
    env : mapping
        The job's environment.
    cores : int
        Cores this process may use.

    Raises
    ------
    InputError
        Naming the limit, where it comes from, and how to raise it.
    """
    tasks = allocation_tasks(env)
    if tasks is not None and nranks > tasks[0]:
        raise InputError(f"-n {nranks} is more ranks than the {tasks[0]} tasks of this Slurm "
                         f"allocation ({tasks[1]}); use -n {tasks[0]} or fewer, or ask for "
                         f"more tasks (sbatch/salloc -n)")
    if single_node(env):
        limit = local_rank_limit(cores, env)
        if nranks > limit:
            chosen = env.get(MAX_LOCAL_RANKS_VARIABLE, "").strip()
            how = (f"{MAX_LOCAL_RANKS_VARIABLE}={chosen}; this node has {cores} cores"
                   if chosen else f"{LOCAL_RANKS_PER_CORE} per core x {cores} cores, at "
                   f"least {MIN_LOCAL_RANK_LIMIT}")
            raise InputError(
                f"-n {nranks}: at most {limit} ranks start on one node ({how}); to run "
                f"more, give mpirun more nodes (a hostfile or a multi-node allocation), or "
                f"raise the limit with {MAX_LOCAL_RANKS_VARIABLE}=N")


def job_environment(nranks, *, cores=None, env=None, euid=None):
    """Return the environment for the ranks of an ``nranks`` job on this node.

    Adds ``NUMBA_NUM_THREADS`` (cores ÷ ranks unless already set) and, when run as
    root, the two variables Open MPI requires to start as root. When the ranks can
    only run on this node and neither the user nor the site chose Open MPI's
    transport (``OMPI_MCA_pml``/``btl``/``mtl``), selects shared memory directly
    (``pml=ob1``, ``btl=self,vader``): the transport Open MPI picks here anyway,
    without probing for network devices first (that probe cost 0.1–0.2 s of each
    rank's ``MPI_Init`` on the development machine).
    """
    env = dict(os.environ if env is None else env)
    if env.get("OMPI_MCA_ess") == "singleton":
        # The caller initialised MPI without mpirun (e.g. imported mpi4py): its
        # singleton runtime left PMIx/ORTE variables that make a child mpirun
        # refuse to start ("recursive call"). They describe the caller, not the job.
        for key in [k for k in env if k.startswith(_SINGLETON_PREFIXES)]:
            del env[key]
    if single_node(env) and not any(env.get(k) for k in _TRANSPORT_VARIABLES):
        env["OMPI_MCA_pml"] = "ob1"
        env["OMPI_MCA_btl"] = "self,vader"
    env["NUMBA_NUM_THREADS"] = str(threads_per_rank(nranks, cores=cores, node_cores=cores,
                                                    env=env))
    if (os.geteuid() if euid is None else euid) == 0:
        env.setdefault("OMPI_ALLOW_RUN_AS_ROOT", "1")
        env.setdefault("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
    return env


def status_channel(env):
    """Open the exit-status side channel of one launch: a fresh directory named in
    ``env[STATUS_VARIABLE]`` (returned; remove it with :func:`job_status`).

    Open MPI's ``mpirun`` treats any rank's non-zero exit as an abnormal end and runs
    its kill sequence, which waits ``odls_base_sigkill_timeout`` (1 s; 2 s when rank 0
    fails) even though every rank has already exited. A job ending through
    :func:`clusterkit.runtime.exit_job` under a launcher that opened this channel
    therefore writes its status to ``DIR/status.<rank>`` and exits 0, and the
    launcher reports it: a bad-input error returns in ~0.4 s instead of 1.4–2.4 s.
    Plain ``mpirun``/``srun`` launches (batch scripts) never see the variable and
    exit with the status itself.
    """
    path = tempfile.mkdtemp(prefix="clusterkit-status-")
    env[STATUS_VARIABLE] = path
    return path


def job_status(path, launcher_status):
    """The job's exit status: the launcher's if non-zero (an abort, a crash, a signal),
    else the first non-zero status a rank left in ``path`` (by rank), else 0. Removes
    ``path``."""
    found = {}
    try:
        for name in os.listdir(path):
            rank = name.partition(".")[2]
            if name.startswith("status.") and rank.isdigit():
                with open(os.path.join(path, name)) as f:
                    text = f.read().strip()
                if text.lstrip("-").isdigit():
                    found[int(rank)] = int(text)
    finally:
        shutil.rmtree(path, ignore_errors=True)
    if launcher_status != 0:
        return launcher_status
    return next((found[r] for r in sorted(found) if found[r] != 0), 0)


def trace_exports(env):
    """Names of the :data:`TRACE_VARIABLES` set (non-empty) in ``env``, for ``export=``."""
    return tuple(v for v in TRACE_VARIABLES if env.get(v))


def mpirun_command(nranks, target, args=(), *, flavour="openmpi", cores=None,
                   python=None, mpirun="mpirun", module=True, export=(), report=False,
                   local=True):
    """Return the argument list that launches ``target`` on ``nranks`` ranks.

    Parameters
    ----------
    nranks : int
        Number of ranks (>= 1).
    target : str
        A module run with ``python -m`` (``module=True``) or a script path.
    args : sequence of str
        The job's own arguments, passed through untouched.
    flavour : {"openmpi", "mpich", "unknown"}
        Which launcher's flags to use.
    cores : int, optional
        Cores available (default: measured); more ranks than cores turns on
        oversubscription, and ranks are left unbound when they share cores or
        run several threads.
    python : str, optional
        Interpreter (default: this one).
    module : bool
        Whether ``target`` is a module name.
    export : sequence of str
        More environment variables to pass to every rank (``-x`` / ``-genvlist``),
        e.g. :func:`trace_exports` of the job environment.
    report : bool
        Open MPI only. False: ``-q`` where every rank runs on this node, Open MPI's own
        messages are suppressed (its banners would bury the job's one-line errors); across
        nodes they stay on stderr, the only account of a rank that cannot reach another or
        of a node that failed. True: they go to the file descriptor that
        :data:`REPORT_FD_VARIABLE` names in ``mpirun``'s environment (set by
        :func:`start_mpirun`), where the launcher reads which rank a signal ended; the
        ranks keep writing theirs to stderr. For launches whose ranks all run on this node
        only: remote daemons would inherit the variable without the descriptor.
    local : bool
        Whether every rank runs on this node (:func:`single_node`). Only then are
        ``--oversubscribe`` and ``--bind-to none`` chosen from this node's core count;
        with a hostfile or a multi-node allocation the placement is the allocation's.
    """
    if isinstance(nranks, bool) or not isinstance(nranks, int) or nranks < 1:
        raise InputError(f"number of ranks must be a positive integer, got {nranks!r}")
    cores = available_cores() if cores is None else cores
    python = python or sys.executable
    argv = [mpirun, "-n", str(nranks)]
    if flavour == "openmpi":
        if report:
            argv += ["-x", f"{REPORT_FD_VARIABLE}=2"]
        elif local:
            argv += ["-q"]
        threads = max(1, cores // nranks)
        if local and nranks > cores:
            argv += ["--oversubscribe", "--bind-to", "none"]
        elif local and threads > 1:
            argv += ["--bind-to", "none"]
        argv += ["-x", "NUMBA_NUM_THREADS"]
        for name in export:
            argv += ["-x", name]
    elif flavour == "mpich":
        argv += ["-genvlist", ",".join(("NUMBA_NUM_THREADS",) + tuple(export))]
    argv += [python] + (["-m", target] if module else [target]) + list(args)
    return argv


def shell_command(argv, env, *, base=None, show=("NUMBA_NUM_THREADS",)):
    """Return one shell line that runs ``argv`` with the environment ``env``.

    The line is ``env [-u NAME]... NAME=VALUE... ARGV...``, every word shell-quoted, so
    that it runs as is from a shell whose environment is ``base``: it names the variables
    ``env`` adds or changes (e.g. Open MPI's run-as-root and transport variables, from
    :func:`job_environment`), unsets those ``env`` leaves out, and always shows the names
    in ``show`` that ``env`` sets. Used for ``clusterkit run --dry-run`` and the commands a
    sweep records.

    Parameters
    ----------
    argv : sequence of str
        The command, e.g. from :func:`mpirun_command`.
    env : mapping
        The environment the command is run with.
    base : mapping, optional
        The environment the line will be run from (default: this process's).
    show : sequence of str
        Variables listed even when ``base`` already has the same value.
    """
    base = os.environ if base is None else base
    unset = sorted(k for k in base if k not in env)
    names = [k for k in show if k in env]
    names += sorted(k for k in env if k not in names and base.get(k) != env[k])
    words = ["env"] + [w for k in unset for w in ("-u", k)] + [f"{k}={env[k]}" for k in names]
    return shlex.join(words + list(argv))
