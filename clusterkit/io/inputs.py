"""Input file arguments: paths and glob patterns expanded to one list of files (on rank 0),
and room to keep them all open."""

import glob
import os

from .. import comm as _comm
from ..errors import InputError, InputFileNotFoundError

__all__ = ["expand_inputs", "allow_open_files"]

#: open files a rank keeps for itself beyond the inputs (MPI, HDF5, the outputs)
_SPARE_FILES = 32


def _expand(items):
    """``(paths, None)`` or ``(None, exception)`` for the input arguments ``items``."""
    paths, seen = [], {}
    for item in items:
        item = os.fspath(item)
        if glob.has_magic(item) and not os.path.lexists(item):
            matches = sorted(glob.glob(item, recursive=True))
            if not matches:
                return None, InputFileNotFoundError(f"input pattern {item!r} matches no "
                                                    "file")
        else:
            matches = [item]
        for path in matches:
            key = os.path.realpath(path)
            if key in seen:
                also = "" if seen[key] == path else f" (also as {seen[key]!r})"
                return None, InputError(f"input file {path!r} is given twice{also}; give "
                                        "each file once")
            seen[key] = path
            paths.append(path)
    if not paths:
        return None, InputError("no input file given")
    return paths, None


def expand_inputs(items, comm=None):
    """The input files named by ``items``: paths and glob patterns, in the order given.

    A pattern (an item with ``*``, ``?`` or ``[...]`` that is not itself an existing
    path) is expanded by clusterkit, so it may be quoted on the command line; its
    matches come sorted by name (``**`` matches any number of directories). Expanded on
    rank 0 and broadcast, so every rank opens the same files. Collective.

    Parameters
    ----------
    items : str, os.PathLike or iterable of them
    comm : mpi4py.MPI.Intracomm, optional

    Returns
    -------
    list of str

    Raises
    ------
    InputError
        On every rank: a pattern that matches no file (an
        :class:`~clusterkit.errors.InputFileNotFoundError` naming it), a file given twice
        (by two arguments, or an argument and a pattern's match), or no item at all.
    """
    if isinstance(items, (str, bytes, os.PathLike)):
        items = [items]
    items = [os.fsdecode(i) for i in items]
    c = _comm.resolve(comm)
    paths, exc = c.bcast(_expand(items) if c.Get_rank() == 0 else None, root=0)
    if exc is not None:
        raise exc
    return paths


def allow_open_files(count, comm=None):
    """Make room for ``count`` more open files on every rank of ``comm``. Collective.

    Every input file stays open for the dataset's lifetime (one descriptor per file and
    rank), so the soft limit of open files is raised towards the hard limit when it
    would not hold them.

    Raises
    ------
    InputError
        On every rank, if the hard limit (``ulimit -Hn``) cannot hold them.
    """
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        in_use = len(os.listdir("/proc/self/fd"))
    except OSError:
        in_use = _SPARE_FILES
    need = in_use + count + _SPARE_FILES
    if soft != resource.RLIM_INFINITY and need > soft:
        soft = need if hard == resource.RLIM_INFINITY else min(need, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    _comm.check(soft == resource.RLIM_INFINITY or need <= soft,
                lambda: f"{count} input files stay open together, but this process may "
                        f"open only {soft} files ('ulimit -Hn'; {in_use} are open already "
                        f"and {_SPARE_FILES} are kept spare): raise the limit, or join some "
                        "of the files first", comm=comm)
