"""Test helpers: assertions agreed across ranks; commands and mpirun jobs run with a timeout."""

import os
import subprocess
import sys
import time

import numpy as np

from .jobcontrol import kill_session
from .launch import (STATUS_VARIABLE, job_environment, job_status, mpi_flavour,
                     mpirun_command, status_channel)

__all__ = ["assert_all", "assert_allclose_all", "assert_equal_all",
           "assert_input_error_everywhere", "run_command", "run_mpi", "CommandResult"]


def assert_all(ok, message="", comm=None):
    """Fail on every rank if ``ok`` is false on any rank (collective).

    The AssertionError names the failing ranks and carries the message of the
    lowest one, so a failure on one rank cannot leave the others hanging in a
    later collective.
    """
    from .comm import resolve
    c = resolve(comm)
    verdicts = c.allgather((bool(ok), None if ok else str(message)))
    failed = [r for r, (good, _) in enumerate(verdicts) if not good]
    if failed:
        raise AssertionError(f"failed on rank(s) {failed} of {c.Get_size()}: "
                             f"{verdicts[failed[0]][1]}")


def _agree_on(check, comm):
    try:
        check()
    except AssertionError as exc:
        assert_all(False, str(exc), comm)
    else:
        assert_all(True, "", comm)


def assert_input_error_everywhere(comm, fn, fragment):
    """Assert that ``fn()`` raises an :class:`~clusterkit.errors.InputError` with the same
    message on every rank of ``comm``, containing ``fragment`` (collective)."""
    from .errors import InputError
    try:
        fn()
    except InputError as exc:
        message = str(exc)
    else:
        message = "no error"
    messages = comm.allgather(message)
    assert_all(all(m == messages[0] for m in messages) and fragment in messages[0],
               f"{messages[0]!r} lacks {fragment!r} or differs between ranks", comm)


def assert_allclose_all(actual, desired, rtol=1e-7, atol=0.0, comm=None, **kwargs):
    """``numpy.testing.assert_allclose`` on every rank, agreed across ranks."""
    _agree_on(lambda: np.testing.assert_allclose(actual, desired, rtol=rtol, atol=atol,
                                                 **kwargs), comm)


def assert_equal_all(actual, desired, comm=None, **kwargs):
    """``numpy.testing.assert_array_equal`` on every rank, agreed across ranks."""
    _agree_on(lambda: np.testing.assert_array_equal(actual, desired, **kwargs), comm)


class CommandResult(subprocess.CompletedProcess):
    """A finished command: ``returncode``, ``stdout``, ``stderr`` and ``elapsed`` seconds."""

    elapsed = 0.0


def run_command(argv, *, timeout, env=None, cwd=None, preexec_fn=None):
    """Run ``argv`` in a session of its own; wait at most ``timeout`` seconds.

    Parameters
    ----------
    argv : sequence of str
        The command.
    timeout : float
        Seconds after which the run counts as a hang.
    env : mapping, optional
        Its environment (default: this process's).
    cwd : str or os.PathLike, optional
        Its working directory.
    preexec_fn : callable, optional
        Run in the child before the command starts (resource limits, signal dispositions).

    Returns
    -------
    CommandResult
        Exit status, stdout and stderr (decoded as UTF-8, undecodable bytes replaced) and
        the seconds it took.

    Raises
    ------
    subprocess.TimeoutExpired
        When ``timeout`` passed, after every process of the command's session was killed
        (an ``mpirun`` and the ranks it started; a ``clusterkit run``, whose ``mpirun``
        runs in a session of its own and gets SIGTERM when its parent dies). It holds
        the output read so far: a hang fails the test instead of blocking it.
    """
    t0 = time.monotonic()
    proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                            encoding="utf-8", errors="replace", start_new_session=True,
                            preexec_fn=preexec_fn)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_session(proc.pid)
        out, err = proc.communicate()
        raise subprocess.TimeoutExpired(argv, timeout, out, err) from None
    result = CommandResult(argv, proc.returncode, out, err)
    result.elapsed = time.monotonic() - t0
    return result


def run_mpi(nranks, target, args=(), *, module=True, timeout=60, env=None, cwd=None):
    """Launch ``target`` on ``nranks`` ranks as ``clusterkit run`` does, for at most ``timeout`` s.

    Returns a :class:`CommandResult` whose ``returncode`` is the job's exit status; a
    run that exceeds ``timeout`` is killed and raises ``subprocess.TimeoutExpired``
    (:func:`run_command`) — a hang fails the test instead of blocking it.
    """
    full_env = job_environment(nranks, env=env if env is not None else os.environ)
    channel = status_channel(full_env)
    argv = mpirun_command(nranks, target, args, flavour=mpi_flavour(), module=module,
                          python=sys.executable, export=(STATUS_VARIABLE,))
    try:
        result = run_command(argv, timeout=timeout, env=full_env, cwd=cwd)
    except subprocess.TimeoutExpired:
        job_status(channel, 1)
        raise
    result.returncode = job_status(channel, result.returncode)
    return result
