"""Reductions of decomposed arrays: local partials on each block, combined with MPI.

Functions take a :class:`~clusterkit.darray.DistArray` (its ``interior`` and
``grid``) and return NumPy values replicated on every rank; reductions over
some axes return the reduced block of this rank and the communicator of the
ranks that share it (``DistArray`` methods wrap these into new arrays).

Reproducibility: a full floating-point ``sum``/``mean`` is computed with an
exact long accumulator (``clusterkit.kernels.local_sum_exact``) whose integer
digits are summed with ``MPI.SUM`` and rounded once, so the result is the
correctly rounded exact sum — bitwise identical for any number of ranks and
any process grid. Reductions over chosen axes sum in float64 per block and
combine with ``MPI.SUM``: deterministic for a given process grid, equal to
round-off across grids. ``var``/``std`` combine per-block (count, mean, M2)
with Chan et al.'s formula in rank order, identically on every rank.
"""

import array

import numpy as np

from .comm import MPI
from .comm import resolve as _resolve
from .trace import traced
from .errors import InputError

__all__ = ["allreduce_scalar", "normalize_axes", "reduce_sum", "sum_dtype", "reduce_count",
           "reduce_minmax", "reduce_moments", "reduce_argext", "exact_sum"]

_SCALAR_BUFS = {}


def _c_array(a):
    """A C-contiguous copy-if-needed that keeps 0-d results 0-d (unlike ascontiguousarray)."""
    return np.array(a, order="C", copy=None)


@traced("collective.allreduce_scalar")
def allreduce_scalar(value, op=MPI.SUM, comm=None, dtype="d"):
    """Allreduce one number through preallocated buffers (no pickling); returns a Python number.

    ``dtype`` is an :mod:`array` typecode (``"d"`` float64, ``"q"`` int64, ``"f"``).
    The hot path is one dict look-up, one store, the MPI call and one load.
    """
    bufs = _SCALAR_BUFS.get(dtype)
    if bufs is None:
        bufs = _SCALAR_BUFS[dtype] = (array.array(dtype, [0]), array.array(dtype, [0]))
    send, recv = bufs
    send[0] = value
    (comm if comm is not None else _resolve(None)).Allreduce(send, recv, op)
    return recv[0]


def normalize_axes(axis, ndim):
    """Return ``axis`` (None, int or sequence) as a sorted tuple of non-negative axes."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    out = []
    for a in axes:
        if isinstance(a, bool) or not isinstance(a, (int, np.integer)) or not -ndim <= a < ndim:
            raise InputError(f"axis {a!r} is out of range for an array of {ndim} dimensions")
        out.append(int(a) % ndim)
    if len(set(out)) != len(out):
        raise InputError(f"repeated axis in {axis!r}")
    return tuple(sorted(out))


def _group(a, axes):
    """Communicator of the ranks whose blocks are reduced together along ``axes``."""
    if len(axes) == a.grid.ndim:
        return a.grid.comm
    return a.grid.topology.sub(axes)


@traced("collective.exact_sum")
def exact_sum(a, skipna=False):
    """Correctly rounded global sum of a float DistArray; bitwise identical on any grid."""
    from clusterkit.kernels import exact_sum_value, local_sum_exact
    x = a.interior
    if skipna:
        x = np.where(np.isnan(x), 0, x)
    acc = local_sum_exact(np.asarray(x, dtype=np.float64) if x.dtype.kind != "f" else x)
    total = np.empty_like(acc)
    a.grid.comm.Allreduce(acc, total, op=MPI.SUM)
    return exact_sum_value(total)


def sum_dtype(dtype):
    """The accumulator dtype of sums of ``dtype``: float64, complex128 or int64."""
    kind = np.dtype(dtype).kind
    return np.dtype(np.complex128 if kind == "c" else np.float64 if kind == "f" else np.int64)


@traced("collective.reduce_sum")
def reduce_sum(a, axes, skipna=False, weights=None, out=None):
    """Sum of ``a`` (times ``weights``, broadcastable to the block) over ``axes``.

    Returns the reduced block (float64 or int64), identical on the ranks of the group.
    ``out``: a C-contiguous array of that shape and :func:`sum_dtype` to sum into;
    the group's ``Allreduce`` then works in place (no temporaries: at large sizes
    each fresh temporary costs page faults and an ``munmap``).
    """
    x = a.interior
    if weights is not None:
        x = x * weights
    acc = sum_dtype(x.dtype)
    reduce = np.nansum if skipna else np.sum
    group = _group(a, axes)
    if out is not None:
        reduce(x, axis=axes, dtype=acc, out=out)
        group.Allreduce(MPI.IN_PLACE, out, op=MPI.SUM)
        return out
    local = _c_array(reduce(x, axis=axes, dtype=acc))
    total = np.empty_like(local)
    group.Allreduce(local, total, op=MPI.SUM)
    return total


@traced("collective.reduce_count")
def reduce_count(a, axes, weights=None, skipna=True):
    """Number (or total weight) of cells over ``axes`` — non-NaN ones if ``skipna`` — per output cell."""
    if skipna and a.dtype.kind in "fc":
        valid = ~np.isnan(a.interior)
    else:
        valid = np.ones(a.interior.shape, bool)
    if weights is not None:
        valid = valid * weights
    local = _c_array(np.sum(valid, axis=axes, dtype=np.float64))
    out = np.empty_like(local)
    _group(a, axes).Allreduce(local, out, op=MPI.SUM)
    return out


@traced("collective.reduce_minmax")
def reduce_minmax(a, axes, kind, skipna=False):
    """Minimum (``kind="min"``) or maximum over ``axes``; NaN propagates unless ``skipna``.

    With ``skipna``, an output cell with no valid input is NaN (as ``numpy.nanmin``).
    """
    x = a.interior
    group = _group(a, axes)
    isfloat = x.dtype.kind == "f"
    if x.dtype.kind == "c":
        raise TypeError(f"{kind} is not defined for complex dtype {x.dtype}")
    if isfloat:
        ident = np.inf if kind == "min" else -np.inf
    else:
        info = np.iinfo(x.dtype)
        ident = info.max if kind == "min" else info.min
    func = np.min if kind == "min" else np.max
    if isfloat:
        nan = np.isnan(x)
        local = func(np.where(nan, ident, x), axis=axes, initial=ident)
        flag = np.any(~nan if skipna else nan, axis=axes)
    else:
        local = func(x, axis=axes, initial=ident)
    local = _c_array(local)
    out = np.empty_like(local)
    group.Allreduce(local, out, op=MPI.MIN if kind == "min" else MPI.MAX)
    if isfloat:
        flag = _c_array(flag)
        anyflag = np.empty_like(flag)
        group.Allreduce(flag, anyflag, op=MPI.LOR)
        out = np.where(anyflag, out, np.nan) if skipna else np.where(anyflag, np.nan, out)
    return out.astype(x.dtype, copy=False)


@traced("collective.reduce_moments")
def reduce_moments(a, axes, skipna=False):
    """(count, mean, M2) over ``axes`` combined across ranks with Chan's formula, in rank order."""
    x = np.asarray(a.interior, dtype=np.float64)
    if skipna:
        n = np.sum(~np.isnan(x), axis=axes, dtype=np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.nansum(x, axis=axes) / n
            dev = x - np.expand_dims(mean, axes)
            m2 = np.nansum(dev * dev, axis=axes)
        mean = np.where(n > 0, mean, 0.0)
    else:
        kept = tuple(d for i, d in enumerate(x.shape) if i not in axes)
        n = np.full(kept, float(np.prod([x.shape[i] for i in axes])))
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.sum(x, axis=axes) / n
            dev = x - np.expand_dims(mean, axes)
            m2 = np.sum(dev * dev, axis=axes)
        mean = np.where(n > 0, mean, 0.0)
    parts = _group(a, axes).allgather(np.stack([n, mean, m2]))
    N, M, S = parts[0]
    for nb, mb, sb in parts[1:]:
        tot = N + nb
        with np.errstate(invalid="ignore", divide="ignore"):
            delta = mb - M
            frac = np.where(tot > 0, nb / np.where(tot > 0, tot, 1), 0.0)
            M = M + delta * frac
            S = S + sb + delta * delta * N * frac
        N = tot
    return N, M, S


@traced("collective.reduce_argext")
def reduce_argext(a, kind):
    """Global flat (C-order) index of the first minimum/maximum, as ``numpy.argmin/argmax``.

    NaN counts as the extreme (NumPy returns the first NaN).
    """
    x = a.interior
    grid = a.grid
    if x.size:
        local_flat = int(np.argmin(x) if kind == "min" else np.argmax(x))
        local_idx = np.unravel_index(local_flat, x.shape)
        gidx = tuple(int(i) + s for i, s in zip(local_idx, grid.local_start))
        value = x[local_idx].item()
        isnan = bool(x.dtype.kind == "f" and np.isnan(value))
        key = (0 if isnan else 1, 0 if isnan else (value if kind == "min" else -value),
               int(np.ravel_multi_index(gidx, grid.shape)))
    else:
        key = (2, 0, 0)
    best = min(grid.comm.allgather(key))
    if best[0] == 2:
        raise InputError(f"arg{kind} of an empty array")
    return best[2]
