"""``clusterkit run -n N JOB [args]``: launch a job with mpirun and the right flags."""

import argparse
import importlib.util
import os
import signal
import subprocess
import sys

from ..launch import (STATUS_VARIABLE, job_environment, job_status, mpi_flavour,
                      mpirun_command, status_channel, trace_exports)
from ..threads import available_cores
from ..errors import InputError

__all__ = ["add_parser", "resolve_job", "positive_int", "trace_environment"]


def positive_int(text):
    """argparse type: a positive integer, with a message naming what is valid."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be a positive integer (number of ranks), got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(
            f"must be a positive integer (number of ranks), got {value}")
    return value


def resolve_job(name):
    """Return ``(target, is_module)`` for a job name, a module path or a script path.

    Raises
    ------
    ValueError
        Naming the valid jobs, if ``name`` is none of these.
    """
    from clusterkit.jobs import JOBS
    if name in JOBS:
        return JOBS[name], True
    if name.endswith(".py"):
        if os.path.isfile(name):
            return os.path.abspath(name), False
        raise InputError(f"job script {name!r} not found")
    if "." in name:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):
            found = False
        if found:
            return name, True
    raise InputError(f"unknown job {name!r}; valid jobs: {', '.join(sorted(JOBS))} "
                     "(or an importable module path such as mypkg.myjob, or a script.py)")


def trace_environment(env, profile=False, trace=None):
    """Set ``CLUSTERKIT_PROFILE``/``CLUSTERKIT_TRACE`` (an absolute path) in ``env``; return it.

    Raises
    ------
    ValueError
        If the trace file's directory does not exist or is not writable, or it
        names a directory.
    """
    if profile:
        env["CLUSTERKIT_PROFILE"] = "1"
    if trace is not None:
        path = os.path.abspath(trace)
        parent = os.path.dirname(path)
        if os.path.isdir(path):
            raise InputError(f"--trace {trace!r} is a directory; give a file name such as "
                             "trace.json")
        if not os.path.isdir(parent) or not os.access(parent, os.W_OK | os.X_OK):
            raise InputError(f"--trace {trace!r}: directory {parent!r} does not exist or is "
                             "not writable")
        env["CLUSTERKIT_TRACE"] = path
    return env


def add_parser(sub):
    """Register the ``run`` subcommand."""
    p = sub.add_parser("run", help="launch a job on N ranks with mpirun",
                       description="Launch JOB on N MPI ranks with mpirun: root allowed, "
                       "oversubscription when N exceeds the cores, NUMBA_NUM_THREADS = "
                       "cores / N unless set. The job's exit status is passed through.")
    p.add_argument("-n", "--ranks", type=positive_int, default=1, metavar="N",
                   help="number of ranks (default 1)")
    p.add_argument("--dry-run", action="store_true", help="print the mpirun command only")
    p.add_argument("--profile", action="store_true",
                   help="time the library's regions (halo, collectives, I/O, your own) and "
                   "print a per-region table over the ranks at the end (CLUSTERKIT_PROFILE=1)")
    p.add_argument("--trace", metavar="FILE",
                   help="write every rank's regions to FILE as one Chrome trace-event JSON "
                   "(pid = rank; open in ui.perfetto.dev or chrome://tracing)")
    p.add_argument("job", metavar="JOB", help="job name, module path, or script.py")
    p.add_argument("job_args", nargs=argparse.REMAINDER, metavar="...",
                   help="arguments passed to the job")
    p.set_defaults(handler=handle)


def handle(args):
    """Launch the job; return its exit status (128 + signal if it was killed)."""
    target, is_module = resolve_job(args.job)
    cores = available_cores()
    env = trace_environment(job_environment(args.ranks, cores=cores), args.profile, args.trace)
    flavour = mpi_flavour()
    if args.dry_run:
        argv = mpirun_command(args.ranks, target, args.job_args, flavour=flavour, cores=cores,
                              module=is_module, export=trace_exports(env))
        shown = ["NUMBA_NUM_THREADS"] + list(trace_exports(env))
        print(" ".join(f"{k}={env[k]}" for k in shown) + " " + " ".join(argv))
        return 0
    sys.stdout.flush()
    channel = status_channel(env)   # non-zero statuses come back without mpirun's kill delay
    argv = mpirun_command(args.ranks, target, args.job_args, flavour=flavour, cores=cores,
                          module=is_module, export=trace_exports(env) + (STATUS_VARIABLE,))
    proc = subprocess.Popen(argv, env=env)
    try:
        status = proc.wait()
    except KeyboardInterrupt:
        proc.send_signal(signal.SIGINT)
        status = proc.wait()
    return job_status(channel, 128 - status if status < 0 else status)
