"""Halo exchange described as data (widths, faces or corners) and executed by one strategy.

All face (and, for box stencils, edge and corner) messages of one exchange are
posted at once as persistent requests on MPI subarray datatypes built once per
array: ``start()`` / ``finish()`` cost no allocation per step, and corner cells
come straight from the diagonal neighbour, so one start/finish pair fills every
ghost cell. Neighbours past a non-periodic edge are ``MPI.PROC_NULL``: no
boundary ``if`` in the exchange itself.
"""

import numpy as np
from mpi4py.util.dtlib import from_numpy_dtype

from .comm import MPI, check
from .topology import neighbour_offsets
from .trace import traced
from .errors import InputError

__all__ = ["HaloSpec", "HaloExchange", "mpi_datatype"]


def _tag(offset):
    """A tag unique to a direction: the offset read as a base-3 number."""
    return sum((o + 1) * 3 ** i for i, o in enumerate(offset))


def mpi_datatype(dtype):
    """Return the MPI datatype for a NumPy dtype; ``TypeError`` if there is none."""
    dtype = np.dtype(dtype)
    if dtype.kind not in "biufc" or dtype.byteorder not in "=|":
        raise TypeError(f"unsupported dtype {dtype}: use a native-endian bool, integer, "
                        "float or complex dtype (e.g. float64, float32, int64)")
    try:
        return from_numpy_dtype(dtype)
    except (ValueError, TypeError, KeyError):
        raise TypeError(f"unsupported dtype {dtype}: MPI has no matching datatype") from None


class HaloSpec:
    """What a halo exchange moves: a ghost width per axis and whether corners are needed.

    Parameters
    ----------
    widths : int or sequence of int
        Ghost cells on each side, per axis (0 = no halo along that axis).
    ndim : int
        Number of axes (to expand a scalar width).
    corners : bool
        Fill edge/corner ghosts too (box stencils); faces only (star stencils) if False.
    """

    def __init__(self, widths, ndim, corners=True):
        if isinstance(widths, (int, np.integer)) and not isinstance(widths, bool):
            widths = (int(widths),) * ndim
        widths = tuple(widths)
        if (len(widths) != ndim or
                not all(isinstance(w, (int, np.integer)) and not isinstance(w, bool)
                        for w in widths) or min(widths, default=0) < 0):
            raise InputError(f"halo must be a non-negative int or {ndim} non-negative ints "
                             f"(one per axis), got {widths!r}")
        self.widths = tuple(int(w) for w in widths)
        self.ndim = ndim
        self.corners = bool(corners)

    def offsets(self):
        """Neighbour offsets this halo exchanges with, in a fixed order."""
        return neighbour_offsets(self.ndim, self.corners, [w > 0 for w in self.widths])

    def ghosted_shape(self, local_shape):
        """Shape of a local block with its ghost cells."""
        return tuple(n + 2 * w for n, w in zip(local_shape, self.widths))

    def interior(self, local_shape):
        """Slices of the interior (owned cells) inside the ghosted block."""
        return tuple(slice(w, w + n) for n, w in zip(local_shape, self.widths))

    def _region(self, local_shape, offset, ghost):
        """(subsizes, starts) of the send (ghost=False) or receive (ghost=True) region."""
        sizes, starts = [], []
        for n, w, o in zip(local_shape, self.widths, offset):
            if o == 0:
                sizes.append(n)
                starts.append(w)
            else:
                sizes.append(w)
                if ghost:
                    starts.append(0 if o < 0 else w + n)
                else:
                    starts.append(w if o < 0 else n)
        return sizes, starts


class HaloExchange:
    """Persistent, non-blocking halo exchange bound to one ghosted array.

    Parameters
    ----------
    topology : CartTopology
        Process grid and neighbours.
    array : numpy.ndarray
        The C-contiguous ghosted local block; the exchange reads its interior
        edges and writes its ghost cells in place.
    spec : HaloSpec
        Widths and corner policy.

    Raises
    ------
    ValueError
        On every rank, if a halo is wider than the local block on any rank.
    """

    def __init__(self, topology, array, spec):
        local = topology.local_shape()
        if array.shape != spec.ghosted_shape(local) or not array.flags.c_contiguous:
            raise InputError(f"array of shape {array.shape} is not a C-contiguous ghosted "
                             f"block of shape {spec.ghosted_shape(local)}")
        too_wide = [(a, w, n) for a, (w, n) in enumerate(zip(spec.widths, local))
                    if w > n]
        check(not too_wide, lambda: "halo width {1} on axis {0} is wider than the local "
              "block ({2} cells); use fewer ranks along that axis or a narrower halo"
              .format(*too_wide[0]), comm=topology.cart)
        self.topology, self.array, self.spec = topology, array, spec
        base = mpi_datatype(array.dtype)
        self._types, self._requests = [], []
        recvs, sends = [], []
        for off in spec.offsets():
            peer = topology.neighbour(off)
            if peer == MPI.PROC_NULL:
                continue
            back = tuple(-o for o in off)
            for ghost, bucket, tag in ((True, recvs, _tag(back)), (False, sends, _tag(off))):
                sub, start = spec._region(local, off, ghost)
                if 0 in sub:
                    continue
                dt = base.Create_subarray(list(array.shape), sub, start).Commit()
                self._types.append(dt)
                init = topology.cart.Recv_init if ghost else topology.cart.Send_init
                bucket.append(init([array, 1, dt], peer, tag))
        self._requests = recvs + sends  # receives posted first
        self._active = False

    @traced("halo.start")
    def start(self):
        """Post every receive and send; return at once (overlap interior work here)."""
        if self._active:
            raise RuntimeError("halo exchange started twice without finish()")
        if self._requests:
            MPI.Prequest.Startall(self._requests)
        self._active = True

    @traced("halo.finish")
    def finish(self):
        """Wait until every ghost cell of the array is filled."""
        if not self._active:
            raise RuntimeError("finish() called without start()")
        if self._requests:
            MPI.Request.Waitall(self._requests)
        self._active = False

    def exchange(self):
        """``start()`` then ``finish()``."""
        self.start()
        self.finish()

    def free(self):
        """Release the persistent requests and datatypes."""
        for r in self._requests:
            r.Free()
        for t in self._types:
            t.Free()
        self._requests, self._types = [], []
