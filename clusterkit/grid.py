"""``Grid``: a global shape decomposed over the ranks, with periodicity and a halo width."""

import numpy as np

from . import comm as _comm
from .darray import DistArray, scatter
from .halo import HaloSpec
from .partition import Decomposition
from .topology import CartTopology
from .errors import InputError

__all__ = ["Grid"]


def _shape(shape):
    try:
        shape = tuple(int(n) for n in shape)
    except (TypeError, ValueError):
        raise TypeError(f"shape must be a sequence of integers, got {shape!r}") from None
    if not shape or min(shape) < 1:
        raise InputError(f"shape must have at least one axis and positive extents, "
                         f"got {shape}")
    return shape


class Grid:
    """A global N-D index space split into blocks over the ranks of ``comm``.

    Parameters
    ----------
    shape : sequence of int
        Global shape, e.g. ``(721, 1440)`` or ``(365, 721, 1440)``.
    periodic : bool or sequence of bool
        Per-axis periodicity (longitude: ``(False, True)``).
    halo : int or sequence of int
        Ghost width on each side, per axis (0 = none along that axis).
    corners : bool
        Exchange edge/corner ghosts too (box stencils); faces only if False.
    dims : sequence of int, optional
        Process grid; 0 entries are chosen automatically (as ``MPI_Dims_create``).
    keep : sequence of int
        Axes never split (e.g. ``(0,)`` keeps time whole on every rank).
    allow_empty : bool
        Allow more blocks than cells along an axis (some ranks then own nothing
        and sit out the work), for grids smaller than the rank count.
    comm : mpi4py.MPI.Intracomm, optional

    Raises
    ------
    ValueError
        On every rank: no process grid fits (an axis with fewer cells than ranks
        along it), or a halo wider than some rank's block.
    """

    #: ``(grid, axes)`` if this grid is ``grid.reduced(axes)``, else None
    reduced_from = None

    def __init__(self, shape, *, periodic=False, halo=0, corners=True, dims=None, keep=(),
                 allow_empty=False, comm=None):
        base = _comm.resolve(comm)
        shape = _shape(shape)
        self.halo_spec = HaloSpec(halo, len(shape), corners)
        choose = dict(dims=dims, keep=keep, halo=[max(w, 1) for w in self.halo_spec.widths])
        try:
            decomposition = Decomposition.auto(shape, base.Get_size(), **choose)
        except ValueError:
            if not allow_empty:
                raise
            # more ranks than cells: the best grid that leaves some ranks idle
            decomposition = Decomposition.auto(shape, base.Get_size(), allow_empty=True,
                                               **choose)
        self.topology = CartTopology(decomposition, periodic, base)
        self._reduced = {}  # axes -> Grid of a reduction over them (see reduced())
        # a Grid never changes: this rank's block, worked out once (every DistArray,
        # reduction result and kernel call asks for it)
        local = self.topology.local_shape()
        self._local_shape = local
        self._local_start = self.topology.local_start()
        self._local_slices = self.topology.local_slices()
        self._ghosted_shape = self.halo_spec.ghosted_shape(local)
        self._interior = self.halo_spec.interior(local)
        wide = [(a, w, n) for a, (w, n) in enumerate(zip(self.halo_spec.widths, local))
                if w > n]
        _comm.check(not wide, lambda: "halo width {1} on axis {0} is wider than the local "
                    "block ({2} cells) of shape {3} on process grid {4}; use fewer ranks "
                    "along axis {0} or a narrower halo".format(*wide[0], shape,
                                                               decomposition.dims),
                    comm=base)

    # -- description ---------------------------------------------------------------
    @property
    def decomposition(self):
        """The :class:`~clusterkit.partition.Decomposition` (global shape + process grid)."""
        return self.topology.decomposition

    @property
    def comm(self):
        """The Cartesian communicator."""
        return self.topology.cart

    shape = property(lambda self: self.decomposition.shape, doc="Global shape.")
    ndim = property(lambda self: self.decomposition.ndim, doc="Number of axes.")
    dims = property(lambda self: self.decomposition.dims, doc="Blocks per axis.")
    periodic = property(lambda self: self.topology.periodic, doc="Per-axis periodicity.")
    halo = property(lambda self: self.halo_spec.widths, doc="Ghost width per axis.")
    rank = property(lambda self: self.topology.rank, doc="This rank.")
    size = property(lambda self: self.topology.size, doc="Number of ranks.")
    local_shape = property(lambda self: self._local_shape,
                           doc="This rank's block shape, without ghosts.")
    local_start = property(lambda self: self._local_start,
                           doc="Global index of this rank's first cell.")
    local_slices = property(lambda self: self._local_slices,
                            doc="This rank's block as slices of the global array.")
    ghosted_shape = property(lambda self: self._ghosted_shape,
                             doc="This rank's block shape with ghost cells.")
    interior_index = property(lambda self: self._interior,
                              doc="Index of the interior within the ghosted block.")

    def local_indices(self, axis):
        """Global indices along ``axis`` of this rank's cells (``np.arange(start, stop)``)."""
        s = self.local_slices[axis]
        return np.arange(s.start, s.stop)

    def local_coords(self, coord, axis):
        """This rank's part of a global coordinate array along ``axis`` (e.g. latitudes)."""
        coord = np.asarray(coord)
        if coord.shape != (self.shape[axis],):
            raise InputError(f"coordinate for axis {axis} must have shape "
                             f"({self.shape[axis]},), got {coord.shape}")
        return coord[self.local_slices[axis]]

    def reduced(self, axes):
        """The grid of a reduction over ``axes``: the other axes, on the ranks sharing a block.

        Its communicator groups the ranks that hold the same part of the result
        (one copy per position along the reduced axes). Cached per ``axes``.
        """
        axes = tuple(sorted(axes))
        cache = self._reduced
        if axes not in cache:
            kept = [a for a in range(self.ndim) if a not in axes]
            cache[axes] = Grid([self.shape[a] for a in kept], dims=[self.dims[a] for a in kept],
                               periodic=tuple(self.periodic[a] for a in kept),
                               comm=self.topology.sub(kept))
            cache[axes].reduced_from = (self, axes)  # its arrays broadcast back onto self
        return cache[axes]

    # -- arrays --------------------------------------------------------------------
    def empty(self, dtype="f8"):
        """A :class:`DistArray` on this grid, uninitialised."""
        return DistArray(self, dtype)

    def zeros(self, dtype="f8"):
        """A :class:`DistArray` of zeros (ghost cells included)."""
        return self.full(0, dtype)

    def full(self, value, dtype="f8"):
        """A :class:`DistArray` filled with ``value`` (ghost cells included)."""
        a = self.empty(dtype)
        a.ghosted[...] = value
        return a

    def scatter(self, array, root=0, dtype=None):
        """Distribute a global array held on ``root`` (ignored elsewhere) into a DistArray."""
        return scatter(self, array, root=root, dtype=dtype)

    def __repr__(self):
        return (f"Grid(shape={self.shape}, dims={self.dims}, periodic={self.periodic}, "
                f"halo={self.halo}, ranks={self.size})")
