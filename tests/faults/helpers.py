"""Helpers of the fault tests: run the ``clusterkit`` command or an MPI job with a hang
bound, and record a directory's state to compare before and after a run."""

import hashlib
import os
import stat
import subprocess
import sys

import pytest

from clusterkit.testing import run_command, run_mpi

__all__ = ["run_cli", "run_mpi_job", "snapshot"]


def _or_hang(run, what, timeout):
    """``run()``, or fail the test as a hang when it raised ``TimeoutExpired``."""
    try:
        return run()
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"hang: {what} did not end within {timeout} s\n{exc.stderr}")


def run_cli(args, *, timeout, cwd=None, env=None, preexec_fn=None):
    """Run ``python -m clusterkit.cli.main ARGS``; return its
    :class:`~clusterkit.testing.CommandResult`.

    A run still going after ``timeout`` seconds is killed with what it started
    (:func:`~clusterkit.testing.run_command`) and fails the test as a hang.
    """
    argv = [sys.executable, "-m", "clusterkit.cli.main", *args]
    return _or_hang(lambda: run_command(argv, timeout=timeout, cwd=cwd, env=env,
                                        preexec_fn=preexec_fn),
                    f"clusterkit {' '.join(args)}", timeout)


def run_mpi_job(nranks, target, args, *, timeout, **kwargs):
    """:func:`~clusterkit.testing.run_mpi`, failing the test as a hang after ``timeout`` s."""
    return _or_hang(lambda: run_mpi(nranks, target, args, timeout=timeout, **kwargs),
                    f"{target} on {nranks} ranks", timeout)


def snapshot(root, directory_mtimes=True):
    """``root`` and every path under it: ``{relative path: (mode, mtime_ns, sha256, link)}``.

    Mode and mtime are a path's own (``lstat``); ``sha256`` is that of the bytes of a
    regular file or of the file a symlink names (``None`` otherwise: a FIFO is never
    opened); ``link`` is a symlink's target. Two snapshots differ when a path was
    created, removed or changed, or when one was created and removed again (the mtime
    of its directory). Without ``directory_mtimes`` a directory's mtime is ``None``:
    for input directories, where Open MPI makes and removes ``NAME.locktest.RANK``
    beside a file that ranks open together.
    """
    root = os.fspath(root)
    paths = [root]
    for folder, dirs, files in os.walk(root):
        paths += [os.path.join(folder, name) for name in dirs + files]
    state = {}
    for path in paths:
        st = os.lstat(path)
        digest = link = None
        if os.path.isfile(path):
            with open(path, "rb") as f:
                digest = hashlib.sha256(f.read()).hexdigest()
        if os.path.islink(path):
            link = os.readlink(path)
        mtime = st.st_mtime_ns if directory_mtimes or not stat.S_ISDIR(st.st_mode) else None
        state[os.path.relpath(path, root)] = (st.st_mode, mtime, digest, link)
    return state
