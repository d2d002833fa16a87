"""Reductions of decomposed arrays: local partials on each block, combined with MPI.

Functions take a :class:`~clusterkit.darray.DistArray` (its ``interior`` and
``grid``) and return NumPy values replicated on every rank; reductions over
some axes return the reduced block of this rank and the communicator of the
ranks that share it (``DistArray`` methods wrap these into new arrays).

The local step of a float32/float64 array is one pass of a Numba kernel
(``clusterkit.kernels``) over the block, in place, whatever its ghost cells:
``local_sum_exact`` and ``local_moments`` over every axis, ``axis_sums`` and
``axis_moments`` over some; NaN counts come from the same pass. Integer,
complex and extended-precision sums take NumPy, and so do minima and maxima
(``numpy.fmin.reduce`` and its kin: one vectorised pass, no temporaries).

Reproducibility: a full floating-point ``sum``/``mean`` is computed with an
exact long accumulator whose integer digits are summed with ``MPI.SUM`` and
rounded once, so the result is the correctly rounded exact sum — bitwise
identical for any number of ranks and any process grid. Reductions over chosen
axes sum in float64 per block and combine with ``MPI.SUM``: deterministic for a
given process grid, equal to round-off across grids. ``var``/``std`` combine
per-block (count, mean, M2) with Chan et al.'s formula in rank order,
identically on every rank. Weights along one axis multiply the sums over the
other reduced axes (with that axis kept), before the ranks' sums are added.
"""

import array
import math

import numpy as np

from .comm import MPI
from .comm import resolve as _resolve
from .trace import traced
from .errors import InputError

__all__ = ["allreduce_scalar", "normalize_axes", "reduce_sum", "sum_dtype", "reduce_minmax",
           "reduce_moments", "reduce_argext", "exact_sum"]

_SCALAR_BUFS = {}
_KERNEL_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


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
    """Correctly rounded global sum of a float32/float64 DistArray (NaNs left out with
    ``skipna``) and its number of cells (non-NaN ones with ``skipna``); the sum is
    bitwise identical on any grid.

    One pass over the block and one in-place ``Allreduce`` of the accumulator
    (which counts the NaNs too); small arrays are common (norms and means of
    iterative solvers), so the fixed cost is kept to those two steps.
    """
    from clusterkit.kernels import exact_nan_count, exact_sum_value, local_sum_exact
    acc = local_sum_exact(a.interior)
    a.grid.comm.Allreduce(MPI.IN_PLACE, acc, op=MPI.SUM)
    cells = math.prod(a.shape)
    return exact_sum_value(acc, skipna), cells - exact_nan_count(acc) if skipna else cells


def sum_dtype(dtype):
    """The accumulator dtype of sums of ``dtype``: float64, complex128 or int64."""
    kind = np.dtype(dtype).kind
    return np.dtype(np.complex128 if kind == "c" else np.float64 if kind == "f" else np.int64)


def _kept(x, axes):
    return tuple(n for i, n in enumerate(x.shape) if i not in axes)


def _local_sums(x, axes, skipna, out=None):
    """This block's sums over ``axes`` (into ``out`` if given) and numbers of cells summed.

    Returns ``(sums, counts, both)``; ``both`` is the one float64 buffer holding
    the two (so one ``Allreduce`` combines them), or None.
    """
    kept = _kept(x, axes)
    if x.dtype in _KERNEL_DTYPES:
        from clusterkit.kernels import axis_sums
        both = None
        if out is None:
            both = np.zeros((2,) + kept)
            sums, counts = both[0, ...], both[1, ...]
        else:
            sums, counts = out, np.zeros(kept)
            sums[...] = 0.0
        axis_sums(x, axes, sums, counts, skipna=skipna)
        return sums, counts, both
    nan = skipna and x.dtype.kind in "fc"
    sums = (np.nansum if nan else np.sum)(x, axis=axes, dtype=sum_dtype(x.dtype), out=out)
    if nan:
        counts = np.sum(~np.isnan(x), axis=axes, dtype=np.float64)
    else:
        counts = np.full(kept, float(np.prod([x.shape[i] for i in axes])))
    return _c_array(sums), counts, None


def _weigh(sums, counts, weights, inner, reduced, skipna):
    """Apply weights ``(w, axis)`` to sums and counts over ``inner`` (which lacks ``axis``);
    ``reduced``: sum over ``axis`` too."""
    w, wa = weights
    pos = wa - sum(1 for i in inner if i < wa)  # where ``wa`` is in the sums
    if skipna and not np.all(w):
        # A cell of weight 0 adds nothing even if it is +-inf (0 * inf is NaN, which
        # skipna would leave out of sum(x * w), as NumPy and xarray do).
        sums = np.array(sums, dtype=np.result_type(sums, w))
        np.moveaxis(sums, pos, 0)[w == 0] = 0
    if not reduced:  # constant over the reduced cells
        shape = [1] * sums.ndim
        shape[pos] = w.size
        return sums * w.reshape(shape), counts * w.reshape(shape)
    return np.tensordot(w, sums, axes=([0], [pos])), np.tensordot(w, counts, axes=([0], [pos]))


@traced("collective.reduce_sum")
def reduce_sum(a, axes, skipna=False, weights=None, counts=False, out=None):
    """Sum of ``a`` over ``axes`` (NaNs left out with ``skipna``), optionally weighted.

    ``weights``: ``(w, axis)``, this rank's part of a 1-D weight array along
    ``axis``. With ``counts``, also the number (total weight) of cells summed.
    Returns the reduced block (float64, complex128 or int64; counts float64),
    identical on the ranks of the group, or ``(sums, counts)``. ``out``: a
    C-contiguous array of that shape and :func:`sum_dtype` to sum into (no
    weights or counts); the group's ``Allreduce`` then works in place (no
    temporaries: at large sizes each fresh temporary costs page faults and an
    ``munmap``).
    """
    x = a.interior
    inner = axes if weights is None else tuple(i for i in axes if i != weights[1])
    sums, cnt, both = _local_sums(x, inner, skipna, out if weights is None else None)
    if weights is not None:
        sums, cnt = _weigh(sums, cnt, weights, inner, weights[1] in axes, skipna)
        if sums.dtype == cnt.dtype:
            both = np.stack([sums, cnt])
            sums, cnt = both[0, ...], both[1, ...]
    group = _group(a, axes)
    if counts and both is not None:
        group.Allreduce(MPI.IN_PLACE, both, op=MPI.SUM)
        return sums, cnt
    group.Allreduce(MPI.IN_PLACE, sums, op=MPI.SUM)
    if not counts:
        return sums
    group.Allreduce(MPI.IN_PLACE, cnt, op=MPI.SUM)
    return sums, cnt


_EXTREMES = {("min", True): (np.fmin, np.nan), ("min", False): (np.minimum, np.inf),
             ("max", True): (np.fmax, np.nan), ("max", False): (np.maximum, -np.inf)}


@traced("collective.reduce_minmax")
def reduce_minmax(a, axes, kind, skipna=False):
    """Minimum (``kind="min"``) or maximum over ``axes``; NaN propagates unless ``skipna``.

    With ``skipna``, an output cell with no valid input is NaN (as ``numpy.nanmin``).
    The local step is NumPy's ``fmin``/``fmax`` (``minimum``/``maximum``) reduction:
    one vectorised pass over the block in place, faster than a kernel of ours.
    """
    x = a.interior
    group = _group(a, axes)
    if x.dtype.kind == "c":
        raise TypeError(f"{kind} is not defined for complex dtype {x.dtype}")
    if x.dtype.kind != "f":
        info = np.iinfo(x.dtype)
        ident = info.max if kind == "min" else info.min
        local = _c_array((np.min if kind == "min" else np.max)(x, axis=axes, initial=ident))
        out = np.empty_like(local)
        group.Allreduce(local, out, op=MPI.MIN if kind == "min" else MPI.MAX)
        return out
    ufunc, initial = _EXTREMES[kind, skipna]
    buf = np.empty((2,) + _kept(x, axes), x.dtype)  # extremes, flags: one Allreduce
    value, flag = buf[0, ...], buf[1, ...]
    ufunc.reduce(x, axis=axes, initial=initial, out=value)  # NaN: none valid / some NaN
    nan = np.isnan(value)
    np.copyto(value, np.inf if kind == "min" else -np.inf, where=nan)
    flag[...] = nan != skipna  # a valid cell (skipna) or a NaN (otherwise) among the inputs
    if kind == "min":
        np.negative(flag, out=flag)  # one MIN combines both rows: the flags by -max(flag)
        group.Allreduce(MPI.IN_PLACE, buf, op=MPI.MIN)
        np.negative(flag, out=flag)
    else:
        group.Allreduce(MPI.IN_PLACE, buf, op=MPI.MAX)
    np.copyto(value, np.nan, where=(flag > 0) != skipna)
    return value


@traced("collective.reduce_moments")
def reduce_moments(a, axes, skipna=False):
    """(count, mean, M2) over ``axes`` combined across ranks with Chan's formula, in rank order."""
    from clusterkit.kernels import axis_moments, local_moments
    x = a.interior
    if x.dtype not in _KERNEL_DTYPES:
        x = np.asarray(x, dtype=np.float64)
    if len(axes) == x.ndim:
        local = np.array(local_moments(x, skipna=skipna), dtype=np.float64)
    else:
        local = np.zeros((3,) + _kept(x, axes))
        axis_moments(x, axes, local[0], local[1], local[2], skipna=skipna)
    group = _group(a, axes)
    parts = np.empty((group.Get_size(),) + local.shape)
    group.Allgather(local, parts)
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
