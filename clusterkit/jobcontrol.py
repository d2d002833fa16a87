"""Start the ``mpirun`` of a job so that it cannot outlive its launcher, find and end every
process it left on this node, and read which rank a signal killed from Open MPI's report."""

import functools
import os
import re
import signal
import subprocess
import sys
import time

from .launch import REPORT_FD_VARIABLE

__all__ = ["start_mpirun", "session_processes", "kill_session", "killed_rank"]

#: Open MPI's report of a rank ended by a signal
_KILLED = re.compile(r"process rank (\d+) with PID \d+ on node (\S+) exited on signal (\d+)")
#: Linux prctl option: the signal a process gets when its parent dies
_PR_SET_PDEATHSIG = 1


@functools.lru_cache(maxsize=None)
def _libc():
    if not sys.platform.startswith("linux"):
        return None
    import ctypes  # here, not at the top: loading the C library is only for the launcher
    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:  # pragma: no cover - no C library to load
        return None


def start_mpirun(argv, env, *, report_path=None, **popen_kwargs):
    """Start ``argv`` (an ``mpirun`` command) so that it cannot outlive this process.

    - It runs in a session (and process group) of its own: a terminal's Ctrl-C or a
      signal to the launcher's process group reaches the launcher only, which decides
      what the job gets. Open MPI puts each rank in a process group of its own, not
      ``mpirun``'s, but in ``mpirun``'s session, so the session (its id is ``mpirun``'s
      pid) is how :func:`session_processes` finds the job's processes on this node.
    - On Linux it gets SIGTERM when this process dies, even of SIGKILL
      (``prctl(PR_SET_PDEATHSIG)``); ``mpirun`` then ends its ranks.

    Parameters
    ----------
    argv : sequence of str
        The command, from :func:`mpirun_command`.
    env : mapping
        Its environment.
    report_path : str, optional
        A file that receives Open MPI's own messages (for ``report=True`` commands).
    **popen_kwargs
        Passed to :class:`subprocess.Popen` (``stdout``, ``cwd``, ...).

    Returns
    -------
    subprocess.Popen
    """
    libc, parent = _libc(), os.getpid()

    def die_with_parent():
        if libc is not None:
            libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
        if os.getppid() != parent:      # the parent died before prctl took effect
            os._exit(1)

    env = dict(env)
    report = open(report_path, "wb") if report_path is not None else None
    try:
        fds = ()
        if report is not None:
            env[REPORT_FD_VARIABLE] = str(report.fileno())
            fds = (report.fileno(),)
        return subprocess.Popen(argv, env=env, start_new_session=True,
                                preexec_fn=die_with_parent, pass_fds=fds, **popen_kwargs)
    finally:
        if report is not None:
            report.close()


def session_processes(sid):
    """Pids of the live processes (not zombies) of session ``sid``, from Linux ``/proc``.

    Returns an empty list where ``/proc`` is missing.
    """
    found = []
    try:
        names = os.listdir("/proc")
    except OSError:
        return found
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                data = f.read()
        except OSError:                 # ended meanwhile
            continue
        fields = data[data.rfind(b")") + 2:].split()   # state ppid pgrp session ...
        if len(fields) > 3 and int(fields[3]) == sid and fields[0] not in (b"Z", b"X"):
            found.append(int(name))
    return found


def kill_session(sid, timeout=1.0):
    """SIGKILL every process of session ``sid`` until none is left (or ``timeout`` s).

    Where ``/proc`` is missing, kills the process group ``sid`` instead. Returns the
    pids signalled.
    """
    if not os.path.isdir("/proc"):    # pragma: no cover - not Linux
        try:
            os.killpg(sid, signal.SIGKILL)
        except OSError:
            pass
        return [sid]
    signalled = []
    deadline = time.monotonic() + timeout
    while True:
        pids = session_processes(sid)
        if not pids:
            return signalled
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                continue
            if pid not in signalled:
                signalled.append(pid)
        if time.monotonic() > deadline:
            return signalled
        time.sleep(0.01)


def killed_rank(report):
    """``(rank, signal number)`` of the rank Open MPI's ``report`` says a signal ended,
    or ``None``."""
    match = _KILLED.search(report or "")
    return (int(match.group(1)), int(match.group(3))) if match else None
