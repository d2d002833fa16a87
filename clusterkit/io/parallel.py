"""How the I/O layer talks to HDF5 across ranks: whether to use parallel HDF5 (mpio), and
the serial fallback of a collective write (every block funnelled through rank 0), and how
readers close their files when an exception leaves a ``with`` block. Used by the readers
(dataset.py, multifile.py) and both writers (ncwrite.py, checkpoint.py)."""

import os

import h5py

from .. import comm as _comm

__all__ = ["parallel_io", "funnel_write", "close_files"]

#: open mpio files of ranks that raised alone: closing them is a collective call the other
#: ranks would never join, and h5py closes a file it no longer references
_KEPT = []


def parallel_io(comm):
    """Whether to use parallel HDF5 (mpio) on ``comm``: h5py built with MPI, more than one
    rank, and not switched off with ``CLUSTERKIT_SERIAL_IO=1`` (which forces the serial
    fallback: independent reads, writes funnelled through rank 0)."""
    return (bool(h5py.get_config().mpi) and comm.Get_size() > 1
            and os.environ.get("CLUSTERKIT_SERIAL_IO", "") not in ("1", "true", "yes"))


_FUNNEL_TAG = 0x4B57  # point-to-point tag of funnel_write's messages


def funnel_write(comm, dataset, block, sel):
    """Serial-HDF5 fallback of a collective write: rank 0 writes every rank's block.

    ``dataset`` is the open h5py dataset on rank 0 (``None`` elsewhere); ``sel`` the
    tuple of slices where this rank's ``block`` goes. Rank 0 writes its own block
    directly, then receives and writes the others one at a time in rank order, so it
    never holds more than one other rank's block. Collective over ``comm``.

    A write that fails on rank 0 (a full disk) does not stop it receiving: it takes
    every other rank's block, writes no more, and raises the first error at the end, so
    no rank is left blocked in its send.
    """
    if comm.Get_rank() != 0:
        comm.send((sel, block) if block.size else None, dest=0, tag=_FUNNEL_TAG)
        return
    failure = None

    def put(data, where):
        nonlocal failure
        if failure is None:
            try:
                dataset.write_direct(data, dest_sel=where)
            except Exception as exc:  # noqa: BLE001 - re-raised once every block arrived
                failure = exc

    if block.size:
        put(block, sel)
    for r in range(1, comm.Get_size()):
        part = comm.recv(source=r, tag=_FUNNEL_TAG)
        if part is not None:
            put(part[1], part[0])
    if failure is not None:
        raise failure


def close_files(files, failed, guard=None):
    """Close the reader ``files`` (objects with ``close()``, ``parallel`` and ``file``)
    as a ``with`` block ends; ``failed``: it ends with an exception on this rank.

    Closing an mpio file is collective. After an exception on this rank alone the other
    ranks may be inside a collective read and never come: then this rank waits at most
    ``CLUSTERKIT_AGREE_TIMEOUT`` seconds on ``guard`` (a private duplicate of the files'
    communicator) for every rank to arrive, and otherwise leaves its mpio files open
    (kept referenced) so the exception reaches the job's abort guard instead of waiting
    forever in ``H5Fclose``. Files of an exception every rank raised (bad input found
    by all) are closed as usual.
    """
    stuck = failed and guard is not None and any(f.parallel for f in files) and \
        not _comm.all_arrive(guard)
    for f in files:
        if stuck and f.parallel:
            _KEPT.append(f.file)
        else:
            f.close()
