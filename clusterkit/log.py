"""Rank-aware printing and logging: rank 0 by default, ``[rank k/N]`` prefixes otherwise."""

import logging
import sys

from . import comm as _comm

__all__ = ["rank_prefix", "rprint", "get_logger"]


def rank_prefix(comm=None):
    """Return ``"[rank k/N]"`` for this process in ``comm``."""
    c = _comm.resolve(comm)
    return f"[rank {c.Get_rank()}/{c.Get_size()}]"


def rprint(*args, comm=None, all_ranks=False, file=None, sep=" ", end="\n"):
    """Print from rank 0 only, or from every rank with a ``[rank k/N]`` prefix.

    Parameters
    ----------
    *args
        What to print, as for :func:`print`.
    comm : mpi4py.MPI.Intracomm, optional
    all_ranks : bool
        Print on every rank, each line prefixed with the rank. Not collective:
        lines from different ranks may interleave, but never within a line.
    file : file-like, optional
        ``sys.stdout`` by default.
    """
    c = _comm.resolve(comm)
    if not all_ranks and c.Get_rank() != 0:
        return
    out = file if file is not None else sys.stdout
    text = sep.join(str(a) for a in args)
    if all_ranks:
        prefix = rank_prefix(c)
        text = "\n".join(f"{prefix} {line}" for line in text.split("\n"))
    out.write(text + end)
    out.flush()


class _RankFilter(logging.Filter):
    def __init__(self, comm, all_ranks):
        super().__init__()
        self._comm, self._all = comm, all_ranks

    def filter(self, record):
        record.rank = self._comm.Get_rank()
        record.nranks = self._comm.Get_size()
        return self._all or record.rank == 0


def get_logger(name="clusterkit", comm=None, all_ranks=False, level=logging.INFO):
    """Return a logger that emits on rank 0 only (or on all ranks, prefixed).

    Parameters
    ----------
    name : str
        Logger name.
    comm : mpi4py.MPI.Intracomm, optional
    all_ranks : bool
        Emit on every rank; records carry ``[rank k/N]``.
    level : int
        Logging level.
    """
    logger = logging.getLogger(name)
    if not any(isinstance(f, _RankFilter) for h in logger.handlers for f in h.filters):
        handler = logging.StreamHandler(sys.stderr)
        handler.addFilter(_RankFilter(_comm.resolve(comm), all_ranks))
        handler.setFormatter(logging.Formatter(
            "[rank %(rank)d/%(nranks)d] %(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
        logger.propagate = False
    logger.setLevel(level)
    return logger
