"""Local (per-rank) reductions whose partial results MPI collectives combine."""

import numpy as np
from numba import prange

from ._combine import chan_combine, neumaier_combine, pairwise_combine
from ._blocksum import block_sums_at
from ._flat import BLOCK, CHUNK, LANES, chunk_ahead, chunk_view, flat_view, reduction_input
from ._jit import njit_cached, serial_and_parallel
from ._lanes import (lane_tree_sum, minmax_lanes, neumaier_lanes, shifted_lanes, sq_dev_lanes,
                     sum_lanes)
from .exactsum import EXACT_ACC_LEN, exact_sum_normalize, exact_sum_value, local_sum_exact

__all__ = [
    "BLOCK",
    "EXACT_ACC_LEN",
    "chan_combine",
    "exact_sum_normalize",
    "exact_sum_value",
    "local_minmax",
    "local_moments",
    "local_sum",
    "local_sum_exact",
    "local_sum_kahan",
    "nan_count",
    "neumaier_combine",
    "pairwise_combine",
]

_TASKS = 256  # parallel work items of the pairwise sum (fixed: the result never depends on it)


def _pairwise_body(x):
    """Pairwise sum of 3-D ``x`` (see :func:`local_sum`); threads over block ranges."""
    n = x.shape[0] * x.shape[1] * x.shape[2]
    nblocks = (n + BLOCK - 1) // BLOCK
    partial = np.empty(nblocks)
    ntasks = min(nblocks, _TASKS)
    scratch = np.empty((ntasks, BLOCK))
    for t in prange(ntasks):
        block_sums_at(x, t * nblocks // ntasks, (t + 1) * nblocks // ntasks, partial, scratch[t])
    return pairwise_combine(partial)


_pairwise_serial, _pairwise_parallel = serial_and_parallel(_pairwise_body)


@njit_cached
def _neumaier(x):
    n = x.shape[0] * x.shape[1] * x.shape[2]
    s = np.zeros(LANES)
    c = np.zeros(LANES)
    buf = np.empty(min(n, CHUNK), x.dtype)
    for start in range(0, n, CHUNK):
        neumaier_lanes(chunk_view(x, start, min(CHUNK, n - start), buf), s, c)
    w = LANES // 2
    while w > 0:  # lanes j and j + w, pairwise
        for j in range(w):
            s[j], c[j] = neumaier_combine(float(s[j]), float(c[j]), float(s[j + w]),
                                          float(c[j + w]))
        w //= 2
    return s[0], c[0]


_MCHUNK = 4 * CHUNK  # elements per chunk of the moments (one pass: L2 is near enough)


@njit_cached
def _chunk_moments(w, skipnan, shift, la, lb, lc, ahead):
    """(count, mean, M2) of the chunk ``w``, in lanes.

    One pass of sums of ``d = x - shift`` and ``d*d`` (``shift``: the previous chunk's
    mean), then ``M2 = sum d*d - (sum d)**2 / n``. When the shift is far from the
    chunk's mean, ``(sum d)**2 / n > sum d*d / 2``, that difference could cancel, and
    the chunk (in cache by now) is redone by the two-pass algorithm; otherwise it
    loses at most about one bit more than the two-pass algorithm.
    """
    la[:] = 0.0
    lb[:] = 0.0
    lc[:] = 0.0
    shifted_lanes(w, skipnan, shift, la, lb, lc, ahead)
    count = lane_tree_sum(la) if skipnan else float(w.shape[0])
    if count == 0.0:
        return 0, 0.0, 0.0
    sd = lane_tree_sum(lb)
    sq = lane_tree_sum(lc)
    if sq < np.inf and sd * sd <= 0.5 * sq * count:
        # (False for NaN, inf and overflowing squares: the two passes handle those)
        return int(count), shift + sd / count, sq - sd * sd / count
    la[:] = 0.0
    lb[:] = 0.0
    sum_lanes(w, skipnan, la, lb)
    count = lane_tree_sum(la) if skipnan else float(w.shape[0])
    mean = lane_tree_sum(lb) / count
    lb[:] = 0.0
    sq_dev_lanes(w, skipnan, mean, lb, w[:0])
    return int(count), mean, lane_tree_sum(lb)


@njit_cached
def _moments(x, skipnan):
    n = x.shape[0] * x.shape[1] * x.shape[2]
    buf = np.empty(min(n, _MCHUNK), x.dtype)
    la = np.empty(LANES)
    lb = np.empty(LANES)
    lc = np.empty(LANES)
    shift = 0.0
    sn = np.zeros(65, np.int64)
    sm = np.zeros(65)
    s2 = np.zeros(65)
    depth = 0
    nb = 0
    for start in range(0, n, _MCHUNK):
        cn, cm, cq = _chunk_moments(chunk_view(x, start, min(_MCHUNK, n - start), buf),
                                    skipnan, shift, la, lb, lc,
                                    chunk_ahead(x, start + _MCHUNK, _MCHUNK, buf))
        if cn > 0 and cm == cm and abs(cm) < np.inf:
            shift = cm  # the next chunk's shift
        sn[depth] = cn
        sm[depth] = cm
        s2[depth] = cq
        depth += 1
        nb += 1
        c = nb
        while c & 1 == 0:  # pairwise, as pairwise_combine
            depth -= 1
            cn, cm, cq = chan_combine(sn[depth - 1], sm[depth - 1], s2[depth - 1],
                                      sn[depth], sm[depth], s2[depth])
            sn[depth - 1] = cn
            sm[depth - 1] = cm
            s2[depth - 1] = cq
            c >>= 1
    if depth == 0:
        return 0, 0.0, 0.0
    cn = sn[depth - 1]
    cm = sm[depth - 1]
    cq = s2[depth - 1]
    for d in range(depth - 2, -1, -1):
        cn, cm, cq = chan_combine(sn[d], sm[d], s2[d], cn, cm, cq)
    return cn, cm, cq


@njit_cached
def _minmax(x, skipnan):
    n = x.shape[0] * x.shape[1] * x.shape[2]
    buf = np.empty(min(n, CHUNK), x.dtype)
    lo = np.full(LANES, np.inf)
    hi = np.full(LANES, -np.inf)
    nans = np.zeros(LANES)
    flat = flat_view(x, buf)
    if flat.shape[0] == n:
        # min and max do not depend on the chunking: one loop over a contiguous array
        # saves the per-chunk views (about 0.15 us each)
        minmax_lanes(flat, lo, hi, nans, buf[:0])
    else:
        for start in range(0, n, CHUNK):
            minmax_lanes(chunk_view(x, start, min(CHUNK, n - start), buf), lo, hi, nans,
                         chunk_ahead(x, start + CHUNK, CHUNK, buf))
    if not skipnan and lane_tree_sum(nans) > 0.0:
        return np.nan, np.nan
    rlo = lo[0]
    rhi = hi[0]
    for j in range(1, LANES):
        if lo[j] < rlo:
            rlo = lo[j]
        if hi[j] > rhi:
            rhi = hi[j]
    return rlo, rhi


@njit_cached
def _nan_count(x):
    count = 0
    for i0 in range(x.shape[0]):
        for i1 in range(x.shape[1]):
            row = x[i0, i1]
            for i2 in range(row.shape[0]):
                if row[i2] != row[i2]:
                    count += 1
    return count


def local_sum(x, *, parallel=False):
    """Pairwise sum of all elements, accumulated in float64.

    The elements, in C order, are cut into blocks of :data:`BLOCK` (128);
    each block is summed in eight interleaved lanes (as NumPy does), and the
    block sums are added pairwise by :func:`pairwise_combine`. The
    result depends only on the values and their C order: a strided view and
    its contiguous copy, and the serial and threaded variants, give the same
    bits. Error bound about ``(16 + log2(n/128)) * eps * sum(|x|)``.
    NaN/inf propagate as in ``numpy.sum``.

    Parameters
    ----------
    x : numpy.ndarray
        float32/float64 array of any shape and strides.
    parallel : bool
        Sum the blocks with threads (same result).

    Returns
    -------
    float
        0.0 for an empty array.

    Raises
    ------
    TypeError
        If ``x`` is not a float32/float64 array.
    """
    x3 = reduction_input("x", x)
    return float((_pairwise_parallel if parallel else _pairwise_serial)(x3))


def local_sum_kahan(x):
    """Neumaier (improved Kahan-Babuska) compensated sum in float64, in 64 lanes.

    Element ``i`` in C order goes to lane ``i % 64``; each lane is a
    Neumaier sum of its elements in order (the rounding error of every
    addition, found with the branch-free TwoSum, goes to the lane's
    compensation), so the lanes are independent and the loop vectorises.
    The lanes are then combined pairwise (lane ``j`` with ``j + 32``, then
    ``j + 16``, ...) by :func:`neumaier_combine`. The result depends only on
    the values and their C order: a strided view and its contiguous copy
    give the same bits. Error about ``2 eps |sum| + O(n eps**2) sum|x|``.

    Parameters
    ----------
    x : numpy.ndarray
        float32/float64 array of any shape and strides.

    Returns
    -------
    s, c : float
        Running sum and compensation; the sum is ``s + c``. Pairs from
        several ranks combine with :func:`neumaier_combine`. If ``s`` is
        not finite, ``c`` is 0.

    Raises
    ------
    TypeError
        If ``x`` is not a float32/float64 array.
    """
    s, c = _neumaier(reduction_input("x", x))
    return float(s), float(c)


def local_moments(x, *, skipna=False):
    """Count, mean and sum of squared deviations (M2) of all elements.

    Blocked Welford/Chan update in float64: the elements (C order) are cut
    into chunks of 16384; each chunk's count, mean and M2 come from one pass
    of sums of ``d = x - shift`` and ``d*d`` with the previous chunk's mean as
    the shift (``M2 = sum d*d - (sum d)**2/n``), in 64 lanes (element ``i`` to
    lane ``i % 64``, lanes added pairwise), leaving out the chunk's NaNs when
    ``skipna``. A chunk whose mean is far from the shift (``(sum d)**2/n >
    sum d*d / 2``: the difference could cancel), the first one among them, is
    redone by the two-pass algorithm while it is in cache. One core: about
    10 % (20 % with ``skipna``) faster than two passes over every chunk.
    The chunks are merged with :func:`chan_combine` in
    the pairwise order of :func:`pairwise_combine` (Welford's per-element
    update is the chunk-size-1 case). The result depends only on the values
    and their C order (strided views and contiguous copies give the same
    bits). Partial results from ranks combine with :func:`chan_combine`;
    the variance is ``M2 / n`` (``M2 / (n-1)`` sample).

    Parameters
    ----------
    x : numpy.ndarray
        float32/float64 array of any shape and strides.
    skipna : bool
        Ignore NaNs (otherwise a NaN makes mean and M2 NaN).

    Returns
    -------
    count, mean, m2 : int, float, float
        ``(0, 0.0, 0.0)`` when there is nothing to count (the identity of
        :func:`chan_combine`).

    Raises
    ------
    TypeError
        If ``x`` is not a float32/float64 array.
    """
    n, m, q = _moments(reduction_input("x", x), bool(skipna))
    return int(n), float(m), float(q)


def local_minmax(x, *, skipna=False):
    """Minimum and maximum of all elements.

    Parameters
    ----------
    x : numpy.ndarray
        float32/float64 array of any shape and strides.
    skipna : bool
        Ignore NaNs; otherwise any NaN gives ``(nan, nan)``.

    Returns
    -------
    lo, hi : float
        ``(inf, -inf)`` for an empty array (or all-NaN with ``skipna``):
        the identities of the min/max reductions across ranks. When both
        ``0.0`` and ``-0.0`` are extremes, which one is returned depends on
        their positions (deterministically).

    Raises
    ------
    TypeError
        If ``x`` is not a float32/float64 array.
    """
    lo, hi = _minmax(reduction_input("x", x), bool(skipna))
    return float(lo), float(hi)


def nan_count(x):
    """Number of NaN elements.

    Parameters
    ----------
    x : numpy.ndarray
        float32/float64 array of any shape and strides.

    Returns
    -------
    int

    Raises
    ------
    TypeError
        If ``x`` is not a float32/float64 array.
    """
    return int(_nan_count(reduction_input("x", x)))
