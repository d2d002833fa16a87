"""``clusterkit run -n N JOB [args]``: launch a job with mpirun and the right flags, and see
it to its end: signals to the launcher reach the job, and no process of it outlives the
launcher."""

import argparse
import importlib.util
import os
import re
import select
import signal
import sys
import threading
import time

from ..jobcontrol import kill_session, killed_rank, session_processes, start_mpirun
from ..launch import (STATUS_VARIABLE, check_rank_count, job_environment, job_status,
                      mpi_flavour, mpirun_command, shell_command, single_node,
                      status_channel, trace_exports)
from ..options import integer_at_least
from ..threads import available_cores
from ..errors import InputError

__all__ = ["add_parser", "resolve_job", "positive_int", "trace_environment", "STOP_SIGNALS",
           "PASS_SIGNALS", "STOP_GRACE_SECONDS", "CHECKPOINT_GRACE_SECONDS"]

#: signals that stop the job: its ranks on this node get SIGTERM, then the launcher waits
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
#: signals passed to the job's ranks as they are (Slurm's ``--signal`` sends these)
PASS_SIGNALS = (signal.SIGUSR1, signal.SIGUSR2)
#: seconds a job has to end after a stop signal before all its processes get SIGKILL
STOP_GRACE_SECONDS = 5.0
#: the same for a job given ``--checkpoint-dir``: it writes a checkpoint first, then exits 99
CHECKPOINT_GRACE_SECONDS = 60.0


positive_int = integer_at_least(1, " (number of ranks)")


def resolve_job(name):
    """Return ``(target, is_module)`` for a job name, a module path or a script path.

    Raises
    ------
    ValueError
        Naming the valid jobs, if ``name`` is none of these.
    """
    from clusterkit.jobs import JOBS
    if name in JOBS:
        return JOBS[name].module, True
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
    p.add_argument("--dry-run", action="store_true",
                   help="print the mpirun command only, as one shell line (env VAR=VALUE... "
                   "mpirun ...) that runs as is")
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
    """Launch the job, see it to its end and return its exit status.

    Refuses a rank count that cannot start (:func:`clusterkit.launch.check_rank_count`)
    before ``mpirun`` runs. A stop signal (:data:`STOP_SIGNALS`) sends SIGTERM to the
    job's ranks on this node and waits up to :data:`STOP_GRACE_SECONDS`
    (:data:`CHECKPOINT_GRACE_SECONDS` with ``--checkpoint-dir``) before every process of
    the job gets SIGKILL; a second stop signal does that at once. :data:`PASS_SIGNALS`
    are passed on. Returns the job's status; 128 + N after stop signal N unless the job
    then exited 0 or 99 (it wrote a checkpoint); 128 + N if ``mpirun`` was killed by
    signal N. A job ended by a signal gets one line on stderr saying so.
    """
    target, is_module = resolve_job(args.job)
    cores = available_cores()
    env = trace_environment(job_environment(args.ranks, cores=cores), args.profile, args.trace)
    check_rank_count(args.ranks, env, cores)
    flavour = mpi_flavour()
    local = single_node(env)
    if args.dry_run:
        argv = mpirun_command(args.ranks, target, args.job_args, flavour=flavour, cores=cores,
                              module=is_module, export=trace_exports(env), local=local)
        print(shell_command(argv, env, show=("NUMBA_NUM_THREADS",) + trace_exports(env)))
        return 0
    sys.stdout.flush()
    report = flavour == "openmpi" and local      # Open MPI's messages to a file, not -q
    channel = status_channel(env)   # non-zero statuses come back without mpirun's kill delay
    argv = mpirun_command(args.ranks, target, args.job_args, flavour=flavour, cores=cores,
                          module=is_module, export=trace_exports(env) + (STATUS_VARIABLE,),
                          report=report, local=local)
    report_path = os.path.join(channel, "mpirun-report.txt") if report else None
    checkpointing = any(a == "--checkpoint-dir" or a.startswith("--checkpoint-dir=")
                        for a in args.job_args)
    launch = _Launch(CHECKPOINT_GRACE_SECONDS if checkpointing else STOP_GRACE_SECONDS,
                     local)
    try:
        returncode = launch.run(argv, env, report_path)
        text = _read(report_path) if report_path else ""
    except BaseException:
        job_status(channel, 1)          # removes the channel
        raise
    status = job_status(channel, 128 - returncode if returncode < 0 else returncode)
    message, status = _verdict(launch, returncode, status, text, report)
    if message:
        sys.stdout.flush()
        sys.stderr.write(f"clusterkit run: error: {message}\n")
    return status


def _signal_name(signum):
    try:
        return f"{signal.Signals(signum).name} (signal {signum})"
    except ValueError:
        return f"signal {signum}"


def _read(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return ""


#: Open MPI's notices of what a job has already reported itself: a rank that called
#: MPI_Abort (clusterkit's abort guard printed its traceback), a non-zero exit status
_NOTICES = ("MPI_ABORT was invoked", "a non-zero exit code", "exited with non-zero status")


def _verdict(launch, returncode, status, report_text, report):
    """``(one-line message or None, exit status)`` of a finished launch."""
    if launch.stop is not None:
        from ..io.checkpoint import EXIT_CHECKPOINTED
        if status in (0, EXIT_CHECKPOINTED):       # finished, or wrote its checkpoint
            return None, status
        message = f"the job was stopped: clusterkit run received {_signal_name(launch.stop)}"
        if launch.forced:
            message += f"; its processes were killed (SIGKILL) {launch.forced}"
        return message, 128 + launch.stop
    if returncode < 0:
        return f"mpirun was killed by {_signal_name(-returncode)}", status
    killed = killed_rank(report_text)
    if killed is not None:
        return f"the job was killed by {_signal_name(killed[1])} on rank {killed[0]}", status
    if report and returncode != 0 and not report_text.strip():
        return (f"mpirun ended the job with status {returncode} without giving a reason "
                "(it does so when it receives SIGTERM, SIGINT or SIGHUP)"), status
    explanation = _explanation(report_text) if report and returncode != 0 else ""
    if explanation:
        # Open MPI's own account (ranks that cannot reach each other, a launch that
        # failed, a rank that exited without finalizing MPI): the only one there is
        sys.stderr.write(explanation + "\n")
        return (f"mpirun ended the job with status {returncode}; Open MPI's report is "
                "above"), status
    return None, status


def _explanation(report_text):
    """Open MPI's messages in ``report_text`` that explain a failure, without its notices
    of what the job has already said (a rank's non-zero exit status, its MPI_Abort after
    clusterkit's abort guard printed the traceback); "" if nothing is left."""
    blocks = re.split(r"^-{20,}$", report_text, flags=re.M)
    kept = [b.strip("\n") for b in blocks
            if b.strip() and not any(m in " ".join(b.split()) for m in _NOTICES)]
    return "\n".join(kept)


def _noted(signum, frame):  # noqa: ARG001 - the wakeup fd carries the signal number
    pass


def _ended(proc):
    """Whether ``proc`` has exited, without reaping it: its pid, which is the id of the
    job's session, stays taken while the launcher sweeps that session."""
    if proc.returncode is not None:
        return True
    if hasattr(os, "waitid"):
        try:
            return os.waitid(os.P_PID, proc.pid,
                             os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
        except ChildProcessError:
            pass
    return proc.poll() is not None


class _Launch:
    """One ``mpirun`` run to its end, with the launcher's signals passed on (see handle)."""

    def __init__(self, grace, local):
        self.grace = grace          # seconds from a stop signal to SIGKILL
        self.local = local          # every rank runs on this node
        self.stop = None            # the first stop signal received
        self.forced = ""            # why the job's processes got SIGKILL, if they did
        self.proc = None

    def run(self, argv, env, report_path):
        """Start ``mpirun``, wait for it, leave none of its processes; return its status
        (negative: the signal that ended it)."""
        if threading.current_thread() is not threading.main_thread():
            self.proc = start_mpirun(argv, env, report_path=report_path)  # no signals here
            try:
                self.proc.wait()
            finally:
                kill_session(self.proc.pid)
            return self.proc.returncode
        wakeup, wakeup_w = os.pipe()
        os.set_blocking(wakeup, False)
        os.set_blocking(wakeup_w, False)
        previous = {}
        old_wakeup = signal.set_wakeup_fd(wakeup_w, warn_on_full_buffer=False)
        try:
            for signum in STOP_SIGNALS + PASS_SIGNALS + (signal.SIGCHLD,):
                if signal.getsignal(signum) is not signal.SIG_IGN:   # e.g. nohup's SIGHUP
                    previous[signum] = signal.signal(signum, _noted)
            self.proc = start_mpirun(argv, env, report_path=report_path)
            self._wait(wakeup)
        finally:
            if self.proc is not None:
                kill_session(self.proc.pid)    # what a killed mpirun left on this node
                self.proc.wait()
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            signal.set_wakeup_fd(old_wakeup)
            os.close(wakeup)
            os.close(wakeup_w)
        return self.proc.returncode

    def _wait(self, wakeup):
        deadline = None
        while not _ended(self.proc):
            if deadline is not None and time.monotonic() >= deadline:
                self._kill(f"after {self.grace:g} s")
                deadline = None
                continue
            timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not select.select([wakeup], [], [], timeout)[0]:
                continue
            for signum in os.read(wakeup, 256):
                if signum in PASS_SIGNALS:
                    self._deliver(signum, to_ranks=self.local)
                elif signum in STOP_SIGNALS and self.stop is None:
                    self.stop = signum
                    self._deliver(signal.SIGTERM, to_ranks=True)
                    deadline = time.monotonic() + self.grace
                elif signum in STOP_SIGNALS:
                    self._kill(f"on a second stop signal, {_signal_name(signum)}")
                    deadline = None

    def _deliver(self, signum, to_ranks):
        """Send ``signum`` to the job's processes on this node (``to_ranks``; mpirun
        itself would hold SIGTERM back 1 s, then SIGKILL the ranks 1 s later, too soon
        for a checkpoint), or to ``mpirun`` when there are none yet or not ``to_ranks``
        (it passes SIGUSR1/SIGUSR2 to every rank, on every node)."""
        pid = self.proc.pid
        targets = [p for p in session_processes(pid) if p != pid] if to_ranks else []
        for target in targets or [pid]:
            try:
                os.kill(target, signum)
            except OSError:
                pass

    def _kill(self, why):
        self.forced = self.forced or why
        kill_session(self.proc.pid)
