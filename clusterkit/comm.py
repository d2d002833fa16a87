"""Communicator resolution and cross-rank agreement: the one place COMM_WORLD is touched."""

import os
import time

from mpi4py import MPI

from .errors import InputError

__all__ = ["MPI", "resolve", "world", "world_position", "abort_job", "on_abort", "any_rank",
           "all_ranks", "check", "root_decides", "agree_timeout", "all_arrive"]

_world = None
_ON_ABORT = []


def world():
    """Return clusterkit's duplicate of ``MPI.COMM_WORLD``, created once, on first use.

    The duplicate isolates clusterkit's messages from a user's own traffic on
    ``COMM_WORLD``. It is made lazily (collectively, on every rank) — never at
    import time.
    """
    global _world
    if _world is None:
        _world = MPI.COMM_WORLD.Dup()
        _world.Set_name("clusterkit_world")
    return _world


def world_position():
    """``(rank, size)`` of this process in the whole job (how error messages name ranks)."""
    return MPI.COMM_WORLD.Get_rank(), MPI.COMM_WORLD.Get_size()


def on_abort(callback):
    """Register ``callback()`` to run on this rank just before :func:`abort_job` ends the job.

    Used to delete temporary output files, so that an aborted job leaves none. Callbacks
    run newest first; one that raises does not stop the others or the abort.
    """
    _ON_ABORT.append(callback)


def abort_job(status=1):
    """Run the :func:`on_abort` callbacks, then end every process of the job with
    ``status`` (``MPI_Abort`` on the world)."""
    for callback in reversed(_ON_ABORT):
        try:
            callback()
        except Exception:  # noqa: BLE001 - nothing may stop the abort
            pass
    MPI.COMM_WORLD.Abort(status)


def agree_timeout():
    """Seconds a rank that raised waits for the others before treating them as stuck
    (``CLUSTERKIT_AGREE_TIMEOUT``, default 5)."""
    return float(os.environ.get("CLUSTERKIT_AGREE_TIMEOUT", "5"))


def all_arrive(guard, timeout=None):
    """Return True if every rank of ``guard`` calls this within ``timeout`` seconds
    (default :func:`agree_timeout`): a non-blocking barrier, so a rank whose partners are
    stuck in another collective is not stuck with them. ``guard`` must be a
    communicator no other collective is pending on (a private duplicate); after a
    False it holds a pending barrier and must not be used again."""
    request = guard.Ibarrier()
    deadline = time.monotonic() + (agree_timeout() if timeout is None else timeout)
    while not request.Test():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.001)
    return True


def resolve(comm=None):
    """Resolve the ``comm`` keyword every clusterkit function takes.

    Parameters
    ----------
    comm : mpi4py.MPI.Comm or None
        ``None`` means clusterkit's duplicate of the world communicator.

    Returns
    -------
    mpi4py.MPI.Intracomm
    """
    if comm is None:
        return world()
    if not isinstance(comm, MPI.Intracomm):
        raise TypeError(
            f"comm must be an mpi4py.MPI.Intracomm or None, got {type(comm).__name__}")
    return comm


def any_rank(flag, comm=None):
    """Return True on every rank if ``flag`` is true on at least one rank (collective)."""
    return bool(resolve(comm).allreduce(bool(flag), op=MPI.LOR))


def all_ranks(flag, comm=None):
    """Return True on every rank if ``flag`` is true on all ranks (collective)."""
    return bool(resolve(comm).allreduce(bool(flag), op=MPI.LAND))


def check(ok, message, exc_type=InputError, comm=None):
    """Raise the same exception on every rank if ``ok`` is false on any rank.

    A check that can fail on one rank only (a local block too small, a file
    missing on one node) must not raise there alone: the others would wait
    forever in their next collective. ``check`` is collective: every rank
    calls it; if any rank's ``ok`` is false, every rank raises ``exc_type``
    with the message of the lowest failing rank.

    Parameters
    ----------
    ok : bool
        This rank's verdict.
    message : str or callable
        The error message (a callable is only evaluated on the failing rank).
    exc_type : type of Exception
        Raised on every rank; :class:`~clusterkit.errors.InputError` by default.
    comm : mpi4py.MPI.Intracomm, optional
    """
    comm = resolve(comm)
    rank, size = comm.Get_rank(), comm.Get_size()
    first = comm.allreduce(size if ok else rank, op=MPI.MIN)
    if first == size:
        return
    text = None
    if rank == first:
        text = message() if callable(message) else str(message)
        if size > 1:
            text = f"{text} (on rank {rank})"
    raise exc_type(comm.bcast(text, root=first))


def root_decides(verdict, comm=None, root=0):
    """Run ``verdict()`` on ``root`` only; if it returns an exception, raise it on every rank.

    For checks that only one rank should make (file-system look-ups): the
    exception object itself is broadcast, so every rank raises the same type
    with the same message. Collective.
    """
    c = resolve(comm)
    exc = c.bcast(verdict() if c.Get_rank() == root else None, root=root)
    if exc is not None:
        raise exc
