"""Strong and weak scaling sweeps of a job, run locally with mpirun, summarised as JSON.

A sweep runs the job ``repeat`` times at each rank count with
``CLUSTERKIT_PROFILE=1`` and ``CLUSTERKIT_PROFILE_JSON`` set, so every run
leaves the tracer's per-rank summary (:mod:`clusterkit.trace`); the job time of
a run is the tracer's wall time (first rank's start of ``main`` to the end of
the job: no interpreter start-up, imports or ``mpirun``), the launch time is
the whole ``mpirun`` as seen from outside. Per rank count the results hold the
median and spread of both over the repeats, the per-region times (median over
repeats of the slowest rank's and of the mean rank's time), the
compute/jit/halo/I/O/other breakdown, whether the point was oversubscribed (more
ranks than cores), the machine's load average when the point started and whether
it exceeded the machine's cores (``busy``: other processes competed for them, so
the times may be slow; a warning says so), and the exact commands.

Weak scaling grows the problem with the ranks by the job's rule in the job registry
(:mod:`clusterkit.jobs`): the caller passes ``scale(ranks)`` and the rule's text.
"""

import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import tempfile
import time

from ..jobcontrol import kill_session, start_mpirun
from ..launch import (check_rank_count, job_environment, mpi_flavour, mpirun_command,
                      shell_command, trace_exports)
from ..threads import available_cores
from ..trace_report import BREAKDOWN, write_json_atomic
from .describe import host_info, summary
from .results import RESULTS_FORMAT
from ..errors import InputError

__all__ = ["parse_ranks", "machine_info",
           "spread", "point_record", "results_record", "run_sweep", "prepare_output",
           "write_results", "install", "publish", "default_label", "JobFailed",
           "read_load", "busy_warning"]

class JobFailed(RuntimeError):
    """A run of the swept job exited with a non-zero status (``status`` holds it)."""

    def __init__(self, message, status):
        super().__init__(message)
        self.status = status


_MAX_RANKS = 2**31 - 1   # MPI numbers ranks with a C int


def parse_ranks(text):
    """Parse ``"1,2,4"`` into a sorted list of distinct positive rank counts.

    Raises
    ------
    ValueError
        Empty list, a non-integer entry, or a count below 1 or above 2**31 - 1.
    """
    items = [s.strip() for s in str(text).split(",")]
    if not any(items):
        raise InputError("--ranks is empty; give rank counts such as 1,2,4")
    ranks = []
    for s in items:
        try:
            n = int(s)
        except ValueError:
            raise InputError(f"--ranks must be comma-separated positive integers such as "
                             f"1,2,4, got {text!r}") from None
        if n < 1:
            raise InputError(f"--ranks must be at least 1, got {n} in {text!r}")
        if n > _MAX_RANKS:
            raise InputError(f"--ranks entry {n} exceeds {_MAX_RANKS}, the most ranks MPI can "
                             "number (a C int)")
        ranks.append(n)
    return sorted(set(ranks))


# -- records ------------------------------------------------------------------------------
def _version(dist):
    from importlib import metadata
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _first_line(argv):
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return (out.stdout.strip().splitlines() or [None])[0] if out.returncode == 0 else None


def machine_info():
    """Describe this machine and the software stack, without initialising MPI here."""
    info = {**host_info(), "cores_available": available_cores(),
            "mpirun": _first_line(["mpirun", "--version"])}
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    info["clusterkit_commit"] = _first_line(["git", "-C", root, "rev-parse", "HEAD"])
    versions = {"python": platform.python_version()}
    for dist in ("clusterkit", "numpy", "numba", "mpi4py", "h5py", "matplotlib"):
        versions[dist] = _version(dist)
    return info, versions


def spread(samples):
    """Median, min, max, quartiles and the samples themselves (seconds)."""
    return {**summary(samples), "samples": list(samples)}


def _point_summary(profiles):
    """Per-region medians over repeats and the median breakdown, from profile summaries."""
    names = []
    for p in profiles:
        names += [n for n in p["regions"] if n not in names]
    regions = {}
    for n in names:
        rows = [p["regions"].get(n) for p in profiles]
        rows = [r for r in rows if r is not None]
        regions[n] = {"category": rows[0]["category"],
                      "calls": max(max(r["calls"]) for r in rows),
                      "max_s": statistics.median(r["max_s"] for r in rows),
                      "mean_s": statistics.median(r["mean_s"] for r in rows),
                      "min_s": statistics.median(r["min_s"] for r in rows),
                      "imbalance": statistics.median(r["imbalance"] for r in rows)}
    breakdown = {k: statistics.median(p["breakdown_s"].get(k, 0.0) for p in profiles)
                 for k in BREAKDOWN}
    return regions, breakdown


# -- running ------------------------------------------------------------------------------
def read_load(load_average=os.getloadavg):
    """The 1, 5 and 15-minute load averages from ``load_average()``, or ``None`` if this
    system has none."""
    try:
        return [float(x) for x in load_average()]
    except OSError:
        return None


def busy_warning(ranks, load, node_cores):
    """The warning line for a point that started with load average ``load`` (1, 5, 15
    minutes) above the machine's ``node_cores`` cores."""
    return (f"warning: load average {load[0]:.2f} on this machine's {node_cores} cores "
            f"before the {ranks}-rank runs: other processes compete for the cores, so "
            "these times may be slow (the point is marked busy in the results and plots)")


def _run(argv, env, timeout):
    t0 = time.monotonic()
    proc = start_mpirun(argv, env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                        stdin=subprocess.DEVNULL, text=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_session(proc.pid)          # mpirun and every rank it started here
        proc.communicate()
        raise JobFailed(f"{shlex.join(argv)} did not finish within {timeout:g} s "
                        "(raise --timeout)", 1) from None
    return proc.returncode, out, err, time.monotonic() - t0


def _fail(what, status, err):
    lines = [line for line in err.strip().splitlines() if line.strip()]
    why = lines[-1].strip() if lines else "no error output"
    raise JobFailed(f"{what} exited with status {status}: {why}", 2 if status == 2 else 1)


def run_sweep(mode, job, target, is_module, ranks, repeat=3, *, job_args=(), workdir,
              warmup=0, timeout=600.0, log=print, warn=None, scale=None, weak_rule=None,
              load_average=os.getloadavg):
    """Run the sweep and return the results record (a JSON-able dict).

    Parameters
    ----------
    mode : {"strong", "weak"}
    job : str
        The job's name as typed.
    target : str
        Module (``is_module``) or script that ``mpirun`` runs.
    ranks : list of int
        Rank counts, ascending.
    repeat, warmup : int
        Timed and untimed runs per rank count.
    job_args : sequence of str
        The job's arguments (scaled per rank count for weak scaling).
    workdir : str
        A scratch directory for profile summaries and generated inputs.
    timeout : float
        Seconds after which one run is killed.
    log : callable
        Progress lines.
    warn : callable, optional
        Warning lines (default: ``log``), after the runs of a rank count that started
        while the machine's 1-minute load average exceeded its cores
        (:func:`busy_warning`); a sweep that fails ends with its error line only.
    scale : callable, optional
        Weak scaling: ``scale(ranks)`` → ``(job arguments, set-up commands)`` for that
        rank count (see :func:`clusterkit.jobs.weak_arguments`); ``weak_rule`` its text.
    load_average : callable
        Returns the machine's 1, 5 and 15-minute load averages; read before each rank
        count's first run (:func:`read_load`).

    Raises
    ------
    ValueError
        Bad mode or arguments that cannot be scaled.
    JobFailed
        A run exited with a non-zero status or timed out.
    """
    if mode not in ("strong", "weak"):
        raise InputError(f"mode must be 'strong' or 'weak', got {mode!r}")
    cores = available_cores()
    for r in ranks:                     # before anything runs: one line, no partial sweep
        check_rank_count(r, job_environment(r, cores=cores), cores)
    flavour = mpi_flavour()
    if mode == "weak" and scale is None:
        raise InputError("a weak-scaling sweep needs the job's scale(ranks) rule")
    scaled = {r: (scale(r) if mode == "weak" else (list(job_args), [])) for r in ranks}
    node_cores = os.cpu_count() or cores
    warn = log if warn is None else warn
    points, commands = [], []
    for r in ranks:
        args, setup = scaled[r]
        load = read_load(load_average)
        for cmd in setup:
            commands.append(shlex.join(cmd))
            status, _, err, _ = _run(cmd, job_environment(1, cores=cores), timeout)
            if status:
                _fail(f"preparing {r} ranks ({shlex.join(cmd)})", status, err)
        launch_s, profiles, point_cmds = [], [], []
        for k in range(-warmup, repeat):
            env = job_environment(r, cores=cores)
            env.pop("CLUSTERKIT_TRACE", None)
            env["CLUSTERKIT_PROFILE"] = "1"
            env["CLUSTERKIT_PROFILE_JSON"] = prof = os.path.join(workdir, f"profile-r{r}-{k}.json")
            argv = mpirun_command(r, target, args, flavour=flavour, cores=cores,
                                  module=is_module, export=trace_exports(env))
            status, _, err, elapsed = _run(argv, env, timeout)
            if status:
                _fail(f"{job} on {r} rank{'s' if r > 1 else ''}", status, err)
            if k < 0:
                continue
            with open(prof) as f:
                summary = json.load(f)
            point_cmds.append(shell_command(argv, env, show=("NUMBA_NUM_THREADS",)
                                            + trace_exports(env)))
            launch_s.append(elapsed)
            profiles.append(summary)
            log(f"{mode} {job}: {r} rank{'s' if r > 1 else ' '} run {k + 1}/{repeat}: "
                f"job {summary['wall_s']:.4g} s, mpirun {elapsed:.3g} s"
                + ("  (oversubscribed)" if r > cores else ""))
        commands += point_cmds
        if load is not None and load[0] > node_cores:   # once the point's runs succeeded
            warn(busy_warning(r, load, node_cores))
        points.append(point_record(
            r, args, profiles, launch_s, point_cmds, oversubscribed=r > cores,
            numba_threads=int(job_environment(r, cores=cores)["NUMBA_NUM_THREADS"]),
            load_average=load, node_cores=node_cores))
    return results_record(mode, job, target, job_args, ranks, repeat, warmup, cores, points,
                          commands, weak_rule=weak_rule)


def point_record(ranks, args, profiles, launch_s, commands, *, oversubscribed,
                 numba_threads, load_average=None, node_cores=None, **extra):
    """Return the results entry of one rank count from its runs' profile summaries.

    Parameters
    ----------
    ranks : int
    args : list of str
        The job's arguments at this rank count.
    profiles : list of dict
        The tracer's summaries (``CLUSTERKIT_PROFILE_JSON``) of the timed runs.
    launch_s : list of float or None
        Each run's launcher time as seen from outside (same length as ``profiles``),
        ``None`` if not known.
    commands : list of str
        How each run was started.
    oversubscribed : bool
    numba_threads : int
    load_average : list of float, optional
        The machine's 1, 5 and 15-minute load averages when the point started.
    node_cores : int, optional
        The machine's cores: the point is ``busy`` when the 1-minute load average
        exceeded them (``None`` when either is unknown).
    **extra
        More keys for the entry (e.g. where the point ran).
    """
    regions, breakdown = _point_summary(profiles)
    known = load_average is not None and node_cores is not None
    return {"ranks": ranks, "oversubscribed": oversubscribed, "numba_threads": numba_threads,
            "load_average": None if load_average is None else list(load_average),
            "busy": load_average[0] > node_cores if known else None,
            "job_args": list(args), "job_s": spread([p["wall_s"] for p in profiles]),
            "launch_s": spread(launch_s) if launch_s else None, "regions": regions,
            "breakdown_s": breakdown, "commands": list(commands), **extra}


def results_record(mode, job, target, job_args, ranks, repeat, warmup, cores, points,
                   commands, weak_rule=None, **extra):
    """Return the whole results record (see :func:`run_sweep`) around its ``points``."""
    info, versions = machine_info()
    return {"format": RESULTS_FORMAT, "version": 1, "mode": mode, "job": job,
            "target": target, "job_args": list(job_args),
            "weak_rule": weak_rule if mode == "weak" else None,
            "ranks": list(ranks), "repeat": repeat, "warmup": warmup, "cores": cores,
            "time_measure": "tracer wall time of the job (slowest rank), median over repeats",
            "machine": info, "versions": versions, "points": points, "commands": commands,
            **extra}


def prepare_output(path):
    """Create the output directory if needed and check it is writable; return its path.

    Raises
    ------
    ValueError
        Naming the directory, if it cannot be created or written.
    """
    path = os.path.abspath(path)
    try:
        os.makedirs(path, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".bench-probe", dir=path)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise InputError(f"output directory {path!r} is not writable: "
                         f"{exc.strerror or exc}") from None
    return path


def write_results(path, results):
    """Write the results record as indented JSON, atomically (temporary name, then rename)."""
    write_json_atomic(path, results, indent=1)


def install(src, dst):
    """Move file ``src`` to ``dst`` (replacing it), as one rename when on the same file system."""
    try:
        os.replace(src, dst)
    except OSError:
        tmp = f"{dst}.tmp{os.getpid()}"
        shutil.copyfile(src, tmp)
        os.replace(tmp, dst)


def default_label(results):
    """The legend label of one sweep: job, mode, and where it ran."""
    slurm = results.get("slurm")
    where = (f"Slurm, site {slurm.get('site')}" if slurm else
             f"{results['machine']['hostname']}, {results['cores']} cores")
    return f"{results['job']} {results['mode']} scaling ({where})"


def publish(results, out, plots=True):
    """Draw the plots and write ``results.json`` into ``out``, each file complete or absent.

    Everything is made in a temporary directory inside ``out`` and renamed into place
    once all of it exists; ``results["plots"]`` is set to the PNG names.

    Returns
    -------
    list of str
        The file names written into ``out`` (plots, then ``results.json``).
    """
    from .plot import plot_results
    work = tempfile.mkdtemp(prefix=".bench-", dir=out)
    try:
        results["plots"] = [os.path.basename(p) for p in plot_results(
            [(results, default_label(results))], work)] if plots else []
        write_results(os.path.join(work, "results.json"), results)
        names = results["plots"] + ["results.json"]
        for name in names:
            install(os.path.join(work, name), os.path.join(out, name))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return names
