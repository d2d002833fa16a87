"""Checks that an output path can be written, made before any work is done.

A job checks its output names first, so that bad input ends it with one line and exit
status 2 before it reads a byte or leaves a temporary behind. The check runs on rank 0
only (one look-up of the file system, not one per rank) and raises the same error on
every rank (:func:`clusterkit.comm.root_decides`).
"""

import os
import stat

from .. import comm as _comm
from ..errors import (InputError, InputFileExistsError, InputFileNotFoundError,
                      InputIsADirectoryError, InputNotADirectoryError, InputPermissionError)

__all__ = ["check_output_path"]


def _same_file(a, b):
    """Whether paths ``a`` and ``b`` name one file: the same inode (hard links, bind
    mounts) or the same resolved path (``./``, ``..``, symlinks; also before it exists)."""
    try:
        if os.path.samefile(a, b):
            return True
    except OSError:
        pass
    return os.path.realpath(a) == os.path.realpath(b)


def _output_problem(path, overwrite, distinct_from=(), replace_hint="pass --overwrite"):
    """The exception that makes ``path`` unusable as output, or ``None``."""
    path = os.fspath(path)
    if not path:
        return InputFileNotFoundError("output path is empty: give a file name, e.g. out.nc")
    for other in distinct_from:
        if other is not None and os.fspath(other) and _same_file(path, other):
            return InputError(f"output {path!r} is the same file as {os.fspath(other)!r}; "
                              "choose another output name")
    folder = os.path.dirname(path) or os.curdir
    if os.path.isdir(path):
        return InputIsADirectoryError(f"output {path!r} is a directory; give a file name")
    if path.endswith(os.sep) or os.path.basename(path) in (os.curdir, os.pardir):
        return InputIsADirectoryError(f"output {path!r} names a directory, not a file; "
                                      "give a file name")
    if not os.path.exists(folder):
        return InputFileNotFoundError(f"output directory {os.path.abspath(folder)!r} does "
                                      "not exist")
    if not os.path.isdir(folder):
        return InputNotADirectoryError(f"output {path!r}: {folder!r} is not a directory")
    if not os.access(folder, os.W_OK | os.X_OK):
        return InputPermissionError(f"output directory {os.path.abspath(folder)!r} is not "
                                    "writable")
    if os.path.lexists(path):
        if not overwrite:
            return InputFileExistsError(f"output {path!r} exists; {replace_hint} to "
                                        "replace it")
        try:
            mode = os.stat(path).st_mode
        except OSError:
            mode = stat.S_IFREG   # a dangling symlink: the rename replaces the link
        if not stat.S_ISREG(mode):
            return InputError(f"output {path!r} exists and is not a regular file; give "
                              "the name of a file to create or replace")
    return None


def check_output_path(path, overwrite=False, comm=None, *, distinct_from=(),
                      replace_hint="pass --overwrite"):
    """Check on rank 0 that ``path`` can be written; raise the same error on every rank.

    Parameters
    ----------
    path : str or os.PathLike
        The output file.
    overwrite : bool
        Whether an existing regular file may be replaced.
    comm : mpi4py.MPI.Intracomm, optional
    distinct_from : iterable of str
        Paths ``path`` must not name (inputs, other outputs; ``None`` entries are skipped):
        the same resolved path (``./``, ``..``, symlinks) or the same file (hard links).
    replace_hint : str
        How the caller lets an existing file be replaced, for the message.

    Raises
    ------
    InputError
        On every rank (an ``Input…Error`` subclass where one fits): empty path, a
        directory, a missing or non-directory or unwritable parent, an existing file
        without ``overwrite``, an existing non-regular file, or the same file as one of
        ``distinct_from`` (naming both).
    """
    _comm.root_decides(lambda: _output_problem(path, overwrite, tuple(distinct_from),
                                               replace_hint), comm)
