"""Cartesian process topology: periodicity, face/corner neighbours, sub-communicators."""

import itertools

from . import comm as _comm
from .comm import MPI
from .partition import Decomposition
from .errors import InputError

__all__ = ["CartTopology", "neighbour_offsets"]


def neighbour_offsets(ndim, corners=True, active=None):
    """Return the neighbour offsets (tuples of -1/0/1), faces first, in a fixed order.

    Parameters
    ----------
    ndim : int
        Number of axes.
    corners : bool
        Include edges and corners (offsets with several non-zero entries), as box
        stencils need; faces only (star stencils) otherwise.
    active : sequence of bool, optional
        Axes along which neighbours exist (e.g. axes with a non-zero halo);
        offsets moving along an inactive axis are left out.
    """
    active = (True,) * ndim if active is None else tuple(bool(a) for a in active)
    offsets = []
    for off in itertools.product((-1, 0, 1), repeat=ndim):
        moved = sum(o != 0 for o in off)
        if moved == 0 or (moved > 1 and not corners):
            continue
        if any(o != 0 and not a for o, a in zip(off, active)):
            continue
        offsets.append(off)
    offsets.sort(key=lambda o: (sum(x != 0 for x in o), o))
    return offsets


class CartTopology:
    """A Cartesian communicator laid over a :class:`~clusterkit.partition.Decomposition`.

    Ranks are numbered row-major over the process grid (no reordering), so
    ``decomposition.coords_of(rank)`` is this rank's block.

    Parameters
    ----------
    decomposition : Decomposition
        Global shape and process grid; ``decomposition.nprocs`` must equal the
        communicator's size.
    periodic : bool or sequence of bool
        Per-axis periodicity.
    comm : mpi4py.MPI.Intracomm, optional
    """

    def __init__(self, decomposition, periodic=False, comm=None):
        base = _comm.resolve(comm)
        ndim = decomposition.ndim
        if isinstance(periodic, bool):
            periodic = (periodic,) * ndim
        periodic = tuple(periodic)
        if len(periodic) != ndim or not all(isinstance(p, bool) for p in periodic):
            raise InputError(f"periodic must be a bool or {ndim} bools (one per axis), "
                             f"got {periodic!r}")
        if decomposition.nprocs != base.Get_size():
            raise InputError(f"process grid {decomposition.dims} needs "
                             f"{decomposition.nprocs} ranks, the communicator has "
                             f"{base.Get_size()}")
        self.decomposition = decomposition
        self.periodic = periodic
        self.cart = base.Create_cart(list(decomposition.dims), list(periodic), reorder=False)
        self.rank = self.cart.Get_rank()
        self.size = self.cart.Get_size()
        self.coords = tuple(self.cart.Get_coords(self.rank))
        if self.coords != decomposition.coords_of(self.rank):  # pragma: no cover
            raise RuntimeError("MPI_Cart_create numbered ranks other than row-major")
        self._subs = {}

    @property
    def dims(self):
        """Blocks per axis."""
        return self.decomposition.dims

    @property
    def ndim(self):
        """Number of axes."""
        return self.decomposition.ndim

    def neighbour(self, offset):
        """Rank of the block at ``coords + offset``, or ``MPI.PROC_NULL`` past a non-periodic edge."""
        target = []
        for c, o, d, p in zip(self.coords, offset, self.dims, self.periodic):
            t = c + o
            if not 0 <= t < d:
                if not p:
                    return MPI.PROC_NULL
                t %= d
            target.append(t)
        return self.decomposition.rank_of(tuple(target))

    def neighbours(self, corners=True, active=None):
        """Return ``{offset: rank}`` for every face (and edge/corner) neighbour."""
        return {off: self.neighbour(off)
                for off in neighbour_offsets(self.ndim, corners, active)}

    def sub(self, axes):
        """Sub-communicator of the ranks that share this rank's coordinates off ``axes``.

        ``sub((1,))`` on a (lat, lon) grid groups the ranks of one latitude band:
        the communicator a reduction over longitude needs. Cached per ``axes``.
        """
        axes = tuple(sorted(a % self.ndim for a in axes))
        if axes not in self._subs:
            remain = [a in axes for a in range(self.ndim)]
            self._subs[axes] = self.cart.Sub(remain)
        return self._subs[axes]

    def local_shape(self):
        """This rank's block shape (without ghost cells)."""
        return self.decomposition.local_shape(self.coords)

    def local_start(self):
        """Global index of this rank's first cell."""
        return self.decomposition.local_start(self.coords)

    def local_slices(self):
        """Slices of this rank's block in the global array."""
        return self.decomposition.local_slices(self.coords)

    @classmethod
    def auto(cls, shape, periodic=False, comm=None, **choose):
        """Choose the process grid for ``shape`` (see :func:`choose_grid`) and build the topology."""
        base = _comm.resolve(comm)
        return cls(Decomposition.auto(shape, base.Get_size(), **choose), periodic, base)
