"""How the I/O layer talks to HDF5 across ranks: whether to use parallel HDF5 (mpio), and
the serial fallback of a collective write (every block funnelled through rank 0). Used by
the readers (dataset.py) and both writers (ncwrite.py, checkpoint.py)."""

import os

import h5py

__all__ = ["parallel_io", "funnel_write"]


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
