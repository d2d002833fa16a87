"""``DistArray``: one rank's ghosted block of a global array, plus gather/scatter/redistribute."""

import numpy as np
from numpy.lib.mixins import NDArrayOperatorsMixin

from . import arith as _arith
from . import collectives as _coll
from .comm import MPI, check
from .halo import HaloExchange, mpi_datatype
from .trace import traced
from .errors import InputError

__all__ = ["DistArray", "scatter"]

_CHUNK = 1 << 30  # bytes per broadcast piece: keeps every MPI count below 2**31


class DistArray(NDArrayOperatorsMixin):
    """This rank's block of a global array decomposed by a :class:`~clusterkit.grid.Grid`.

    ``ghosted`` is the local block with its ghost cells and ``interior`` the owned
    cells (a view into it): plain C-contiguous NumPy arrays to hand to Numba kernels.

    Operators and NumPy ufuncs (``a + b``, ``a > 0``, ``np.sqrt(a)``, ``a -= a.mean(axis=0)``)
    and ``np.where`` work block by block and give DistArrays on the same grid (see
    :mod:`clusterkit.arith`); they do not touch ghost cells.

    Parameters
    ----------
    grid : Grid
        The decomposition, topology and halo widths.
    dtype : dtype-like
        Any native bool, integer, float or complex dtype (``TypeError`` otherwise).
    """

    def __init__(self, grid, dtype="f8"):
        self.mpi_type = mpi_datatype(dtype)
        self.grid = grid
        self.dtype = np.dtype(dtype)
        self.ghosted = np.empty(grid.ghosted_shape, dtype=self.dtype)
        self.interior = self.ghosted[grid.interior_index]
        self.fill_ghosts(0)   # ghosts never hold garbage: 0 until a halo exchange fills them
        self._halo = None
        #: optional labels (set by ``Variable.read``, kept by reductions and arithmetic,
        #: used by ``to_xarray`` and ``write_netcdf``): dimension names, ``{dim: 1-D
        #: global coordinate}``, variable name and attributes
        self.dims, self.coords, self.name, self.attrs = None, {}, None, {}

    def _labelled(self, other, drop=()):
        """Give ``other`` this array's dimension names and coordinates, without the
        axes ``drop``; returns ``other``."""
        if self.dims is not None:
            other.dims = tuple(d for i, d in enumerate(self.dims) if i not in drop)
            other.coords = {d: v for d, v in self.coords.items() if d in other.dims}
        return other

    def to_xarray(self, root=0, *, dims=None, coords=None, name=None, attrs=None):
        """This array gathered into an ``xarray.DataArray`` on ``root`` (None on the other
        ranks; ``root=None``: on every rank). Collective.

        Dimension names, coordinates, name and attributes default to the array's labels
        (from ``Variable.read``, kept by reductions); ``coords`` may also be a
        :class:`~clusterkit.io.variable.Variable` of the array's dimensions (or of more,
        for a reduction of it). xarray is an optional dependency.
        """
        from .interop import to_xarray
        return to_xarray(self, root, dims=dims, coords=coords, name=name, attrs=attrs)

    shape = property(lambda self: self.grid.shape, doc="Global shape.")
    ndim = property(lambda self: self.grid.ndim, doc="Number of axes.")
    comm = property(lambda self: self.grid.comm, doc="The grid's communicator.")

    def __repr__(self):
        return f"DistArray(shape={self.shape}, dtype={self.dtype}, grid={self.grid!r})"

    __hash__ = object.__hash__   # identity, although == is element-wise

    def __bool__(self):
        raise TypeError("the truth value of a DistArray is ambiguous (== and > are "
                        "element-wise); reduce it first, e.g. (a > 0).sum() > 0")

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        return _arith.apply_ufunc(DistArray, ufunc, method, inputs, kwargs)

    def __array_function__(self, func, types, args, kwargs):
        if func is np.where and len(args) == 3 and not kwargs:
            return _arith.where(DistArray, *args)
        return NotImplemented

    # -- halos ------------------------------------------------------------------------
    @property
    def halo(self):
        """The :class:`~clusterkit.halo.HaloExchange` of this array (built on first use)."""
        if self._halo is None:
            self._halo = HaloExchange(self.grid.topology, self.ghosted, self.grid.halo_spec)
        return self._halo

    def fill_ghosts(self, value):
        """Set every ghost cell to ``value`` (e.g. a boundary value beyond a non-periodic
        edge, which halo exchanges leave as it is); the interior is not touched."""
        for axis, w in enumerate(self.grid.halo):
            if w:
                lead = (slice(None),) * axis
                self.ghosted[lead + (slice(0, w),)] = value
                self.ghosted[lead + (slice(self.ghosted.shape[axis] - w, None),)] = value

    def exchange_halos(self):
        """Fill every ghost cell from the neighbours (blocking)."""
        self.halo.exchange()

    def start_halos(self):
        """Start the ghost-cell exchange; do interior work, then call :meth:`finish_halos`."""
        self.halo.start()

    def finish_halos(self):
        """Wait for the exchange started by :meth:`start_halos`."""
        self.halo.finish()

    # -- whole-array movement --------------------------------------------------------
    def _block_type(self, rank, base_shape, origin=None):
        dec = self.grid.decomposition
        coords = dec.coords_of(rank)
        sub = list(dec.local_shape(coords))
        if 0 in sub:
            return None
        start = list(dec.local_start(coords)) if origin is None else list(origin)
        return self.mpi_type.Create_subarray(list(base_shape), sub, start).Commit()

    def _exchange_with_root(self, full, root, to_root):
        """Move every rank's interior to (``to_root``) or from ``full`` on ``root``.

        One message per non-empty block, each a single subarray datatype on both
        sides (so no count ever exceeds 2**31 elements). Collective.
        """
        comm = self.comm
        root_op, rank_op = (comm.Irecv, comm.Isend) if to_root else (comm.Isend, comm.Irecv)
        tag = 77 if to_root else 78
        requests, types = [], []
        if self.grid.rank == root:
            for r in range(self.grid.size):
                t = self._block_type(r, self.shape)
                if t is not None:
                    types.append(t)
                    requests.append(root_op([full, 1, t], r, tag))
        mine = self._block_type(self.grid.rank, self.ghosted.shape, self.grid.halo)
        if mine is not None:
            types.append(mine)
            requests.append(rank_op([self.ghosted, 1, mine], root, tag))
        MPI.Request.Waitall(requests)
        for t in types:
            t.Free()

    @traced("darray.gather")
    def gather(self, root=0):
        """Return the global array on ``root`` (``None`` on the other ranks). Collective."""
        out = np.empty(self.shape, self.dtype) if self.grid.rank == root else None
        self._exchange_with_root(out, root, to_root=True)
        return out

    @traced("darray.allgather")
    def allgather(self):
        """Return the global array on every rank. Collective."""
        full = self.gather(root=0)
        if full is None:
            full = np.empty(self.shape, self.dtype)
        flat = full.reshape(-1).view(np.uint8)
        for i in range(0, flat.size, _CHUNK):
            self.comm.Bcast(flat[i:i + _CHUNK], root=0)
        return full

    @traced("darray.redistribute")
    def redistribute(self, grid):
        """Return a copy of this array laid out on another grid of the same global shape.

        One ``MPI_Alltoallw`` with subarray datatypes moves every overlap of an old
        block with a new block directly (e.g. lat-lon blocks ↔ time-split). Collective.
        """
        check(grid.shape == self.shape and grid.size == self.grid.size,
              f"cannot redistribute an array of shape {self.shape} on {self.grid.size} "
              f"ranks to a grid of shape {grid.shape} on {grid.size} ranks", comm=self.comm)
        out = self._labelled(DistArray(grid, self.dtype))
        old, new, me = self.grid.decomposition, grid.decomposition, self.grid.rank
        mine_old = old.local_slices(old.coords_of(me))
        mine_new = new.local_slices(new.coords_of(me))
        send, recv, types = [[], [], []], [[], [], []], []

        def part(buf, origin, a, b, bucket):
            lo = [max(x.start, y.start) for x, y in zip(a, b)]
            hi = [min(x.stop, y.stop) for x, y in zip(a, b)]
            if any(h <= l for l, h in zip(lo, hi)):
                bucket[0].append(0)
                bucket[2].append(self.mpi_type)
            else:
                start = [l - s.start + o for l, s, o in zip(lo, a, origin)]
                t = self.mpi_type.Create_subarray(list(buf.shape),
                                                  [h - l for l, h in zip(lo, hi)],
                                                  start).Commit()
                types.append(t)
                bucket[0].append(1)
                bucket[2].append(t)
            bucket[1].append(0)

        for r in range(grid.size):
            part(self.ghosted, self.grid.halo, mine_old, new.local_slices(new.coords_of(r)),
                 send)
            part(out.ghosted, grid.halo, mine_new, old.local_slices(old.coords_of(r)), recv)
        self.grid.topology.cart.Alltoallw([self.ghosted] + send, [out.ghosted] + recv)
        for t in types:
            t.Free()
        return out

    # -- reductions (collective; the result is the same on every rank) ----------------
    def _result(self, axes, value, replicate):
        if len(axes) == self.ndim:
            return value[()] if isinstance(value, np.ndarray) else value
        out = self._labelled(DistArray(self.grid.reduced(axes), value.dtype), axes)
        out.interior[...] = value
        return out.allgather() if replicate else out

    def _weights(self, weights, axis):
        """``(this rank's part of weights, axis)``, or None."""
        if weights is None:
            return None
        if axis is None:
            raise InputError("weights need weights_axis: the axis they run along")
        axis %= self.ndim
        return self.grid.local_coords(np.asarray(weights, dtype=np.float64), axis), axis

    def sum(self, axis=None, *, skipna=False, replicate=False):
        """Sum over ``axis`` (all axes: the correctly rounded, grid-independent sum).

        Parameters
        ----------
        axis : None, int or tuple of int
            Axes to reduce; the others stay distributed.
        skipna : bool
            Treat NaN as missing (``numpy.nansum``).
        replicate : bool
            For partial reductions: return the whole result on every rank as a
            NumPy array instead of a DistArray on :meth:`Grid.reduced`.
        """
        axes = _coll.normalize_axes(axis, self.ndim)
        if len(axes) == self.ndim and self.dtype.kind == "f":
            total = _coll.exact_sum(self, skipna)[0]
            return self.dtype.type(total) if self.dtype == np.float32 else total
        if len(axes) == self.ndim:                          # integers over every axis
            return self._result(axes, _coll.reduce_sum(self, axes, skipna), replicate)
        out = self._labelled(DistArray(self.grid.reduced(axes), _coll.sum_dtype(self.dtype)),
                             axes)
        _coll.reduce_sum(self, axes, skipna, out=out.interior)  # reduced grids: no halo
        return out.allgather() if replicate else out

    def mean(self, axis=None, *, skipna=False, weights=None, weights_axis=None,
             replicate=False):
        """Mean over ``axis``; NaN-skipping with ``skipna``; optionally weighted.

        ``weights`` is a 1-D array along ``weights_axis`` (global length), e.g.
        ``cos(latitude)``; with ``skipna`` the weights of missing cells are left
        out (renormalised), as ``xarray``'s ``weighted(...).mean()``.
        """
        axes = _coll.normalize_axes(axis, self.ndim)
        w = self._weights(weights, weights_axis)
        if w is None and len(axes) == self.ndim and self.dtype.kind == "f":
            total, cells = _coll.exact_sum(self, skipna)
            if cells:
                return np.float64(total) / float(cells)   # no warning: cells > 0
            with np.errstate(invalid="ignore"):
                return np.float64(total) / 0.0     # NaN, as numpy.mean of nothing
        num, den = _coll.reduce_sum(self, axes, skipna, weights=w, counts=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            value = num / den
        return self._result(axes, np.asarray(value), replicate)

    def min(self, axis=None, *, skipna=False, replicate=False):
        """Minimum over ``axis``; NaN propagates unless ``skipna``."""
        axes = _coll.normalize_axes(axis, self.ndim)
        return self._result(axes, _coll.reduce_minmax(self, axes, "min", skipna), replicate)

    def max(self, axis=None, *, skipna=False, replicate=False):
        """Maximum over ``axis``; NaN propagates unless ``skipna``."""
        axes = _coll.normalize_axes(axis, self.ndim)
        return self._result(axes, _coll.reduce_minmax(self, axes, "max", skipna), replicate)

    def var(self, axis=None, *, ddof=0, skipna=False, replicate=False):
        """Variance over ``axis`` (parallel Welford/Chan combination, not sums of squares)."""
        axes = _coll.normalize_axes(axis, self.ndim)
        n, _, m2 = _coll.reduce_moments(self, axes, skipna)
        with np.errstate(invalid="ignore", divide="ignore"):
            value = np.where(n - ddof > 0, m2 / (n - ddof), np.nan)
        return self._result(axes, np.asarray(value), replicate)

    def std(self, axis=None, *, ddof=0, skipna=False, replicate=False):
        """Standard deviation over ``axis`` (see :meth:`var`)."""
        v = self.var(axis, ddof=ddof, skipna=skipna, replicate=replicate)
        if isinstance(v, DistArray):
            np.sqrt(v.interior, out=v.interior)
            return v
        return np.sqrt(v)

    def argmin(self):
        """Global flat C-order index of the first minimum (``numpy.argmin``)."""
        return _coll.reduce_argext(self, "min")

    def argmax(self):
        """Global flat C-order index of the first maximum (``numpy.argmax``)."""
        return _coll.reduce_argext(self, "max")


def scatter(grid, array, root=0, dtype=None):
    """Distribute ``array`` (significant on ``root`` only) over ``grid``. Collective.

    Parameters
    ----------
    grid : Grid
    array : array-like or None
        The global array on ``root``; ignored on the other ranks.
    root : int
    dtype : dtype-like, optional
        Defaults to the root array's dtype.
    """
    comm = grid.comm
    ok, msg = True, ""
    if grid.rank == root:
        array = np.ascontiguousarray(array if dtype is None else np.asarray(array, dtype))
        if array.shape != grid.shape:
            ok, msg = False, (f"cannot scatter an array of shape {array.shape} over a grid "
                              f"of shape {grid.shape}")
        dtype = array.dtype
    check(ok, msg, comm=comm)
    dtype = comm.bcast(np.dtype(dtype).str, root=root)
    out = DistArray(grid, dtype)
    out._exchange_with_root(array, root, to_root=False)
    return out
