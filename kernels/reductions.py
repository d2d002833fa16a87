"""Local (per-rank) reductions whose partial results MPI collectives combine."""

import math

import numpy as np
from numba import prange

from ._flat import (BLOCK, CHUNK, LANES, block_sum_at, chunk_ahead, chunk_view, prefetch_range,
                    reduction_input)
from ._jit import njit_cached, serial_and_parallel
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

_ROWS = 8  # rows of LANES elements per pass of the lane loops (lanes stay in registers)
_TASKS = 256  # parallel work items of the pairwise sum (fixed: the result never depends on it)


@njit_cached
def pairwise_combine(partial):
    """Pairwise (binary-counter) sum of block partial sums, left to right.

    Block ``b`` is pushed on a stack; after each push, while the number of
    blocks pushed so far is even at the current level, the top two entries
    are replaced by their sum (left + right). The remaining entries are then
    added from the right. For ``2**k`` blocks this is the balanced binary
    tree; in general the tree depends only on ``len(partial)``.

    Parameters
    ----------
    partial : numpy.ndarray
        1-D float64 block sums.

    Returns
    -------
    float
        0.0 for an empty input.
    """
    stack = np.empty(65)
    depth = 0
    for b in range(partial.shape[0]):
        stack[depth] = partial[b]
        depth += 1
        c = b + 1
        while c & 1 == 0:
            depth -= 1
            stack[depth - 1] = stack[depth - 1] + stack[depth]
            c >>= 1
    s = 0.0
    if depth > 0:
        s = stack[depth - 1]
        for d in range(depth - 2, -1, -1):
            s = stack[d] + s
    return s


def _pairwise_body(x):
    """Pairwise sum of 3-D ``x`` (see :func:`local_sum`); threads over block ranges."""
    n = x.shape[0] * x.shape[1] * x.shape[2]
    nblocks = (n + BLOCK - 1) // BLOCK
    partial = np.empty(nblocks)
    ntasks = min(nblocks, _TASKS)
    scratch = np.empty((ntasks, BLOCK))
    for t in prange(ntasks):
        b0 = t * nblocks // ntasks
        b1 = (t + 1) * nblocks // ntasks
        for b in range(b0, b1):
            start = b * BLOCK
            partial[b] = block_sum_at(x, start, min(BLOCK, n - start), scratch[t])
    return pairwise_combine(partial)


_pairwise_serial, _pairwise_parallel = serial_and_parallel(_pairwise_body)


@njit_cached
def _two_sum(s, c, x):
    """Add ``x`` to the Neumaier pair ``(s, c)``; returns the new pair.

    The rounding error of ``s + x`` comes from Knuth's branch-free TwoSum,
    which gives the same value as Neumaier's branch on ``|s| >= |x|``.
    """
    t = s + x
    bb = t - s
    return t, c + ((s - (t - bb)) + (x - bb))


@njit_cached
def _neumaier_lanes(w, s, c):
    """Add chunk ``w`` (first element in lane 0) to lane sums ``s`` and compensations ``c``.

    Element ``i`` goes to lane ``i % LANES``, each lane in order. The loop over
    the lanes vectorises; four rows of lanes per pass keep the lanes in registers.
    """
    n = w.shape[0]
    m = n - n % LANES
    m4 = n - n % (4 * LANES)
    for i in range(0, m4, 4 * LANES):
        v0 = w[i:i + LANES]
        v1 = w[i + LANES:i + 2 * LANES]
        v2 = w[i + 2 * LANES:i + 3 * LANES]
        v3 = w[i + 3 * LANES:i + 4 * LANES]
        for j in range(LANES):
            a, e = _two_sum(float(s[j]), float(c[j]), float(v0[j]))
            a, e = _two_sum(a, e, float(v1[j]))
            a, e = _two_sum(a, e, float(v2[j]))
            a, e = _two_sum(a, e, float(v3[j]))
            s[j] = a
            c[j] = e
    for i in range(m4, m, LANES):
        v = w[i:i + LANES]
        for j in range(LANES):
            s[j], c[j] = _two_sum(float(s[j]), float(c[j]), float(v[j]))
    for j in range(n - m):
        s[j], c[j] = _two_sum(float(s[j]), float(c[j]), float(w[m + j]))


@njit_cached
def _neumaier(x):
    n = x.shape[0] * x.shape[1] * x.shape[2]
    s = np.zeros(LANES)
    c = np.zeros(LANES)
    buf = np.empty(min(n, CHUNK), x.dtype)
    for start in range(0, n, CHUNK):
        _neumaier_lanes(chunk_view(x, start, min(CHUNK, n - start), buf), s, c)
    w = LANES // 2
    while w > 0:  # lanes j and j + w, pairwise
        for j in range(w):
            s[j], c[j] = neumaier_combine(float(s[j]), float(c[j]), float(s[j + w]),
                                          float(c[j + w]))
        w //= 2
    return s[0], c[0]


@njit_cached
def neumaier_combine(s_a, c_a, s_b, c_b):
    """Combine two Neumaier partial sums ``(s, c)`` into one.

    ``s = s_a + s_b`` with its rounding error (Knuth's TwoSum) added to the
    compensation ``c = c_a + c_b + err``; the total is ``s + c``.

    Parameters
    ----------
    s_a, c_a, s_b, c_b : float
        Sums and compensations of two parts.

    Returns
    -------
    s, c : float
    """
    s = s_a + s_b
    bb = s - s_a
    err = (s_a - (s - bb)) + (s_b - bb)
    c = c_a + c_b
    if math.isfinite(s):
        c += err
    else:
        c = 0.0
    return s, c


@njit_cached
def chan_combine(n_a, mean_a, m2_a, n_b, mean_b, m2_b):
    """Combine two (count, mean, M2) summaries (Chan, Golub & LeVeque, 1979).

    ``n = n_a + n_b``, ``delta = mean_b - mean_a``,
    ``mean = mean_a + delta * (n_b / n)``,
    ``M2 = M2_a + M2_b + delta**2 * n_a * (n_b / n)``. An empty side
    (``n == 0``) returns the other unchanged. The variance is ``M2 / n``
    (or ``M2 / (n - 1)``). The result can differ in the last bits when the
    operands are swapped, so combine in a fixed order for reproducibility.

    Parameters
    ----------
    n_a, mean_a, m2_a : int, float, float
        Count, mean and sum of squared deviations of part A.
    n_b, mean_b, m2_b : int, float, float
        The same for part B.

    Returns
    -------
    n, mean, m2 : int, float, float
    """
    if n_b == 0:
        return n_a, mean_a, m2_a
    if n_a == 0:
        return n_b, mean_b, m2_b
    n = n_a + n_b
    f = n_b / n
    delta = mean_b - mean_a
    return n, mean_a + delta * f, m2_a + m2_b + delta * delta * (n_a * f)


@njit_cached
def _lane_tree_sum(a):
    """Sum of the lanes ``a`` (a power of two of them), pairwise; clobbers ``a``."""
    w = a.shape[0] // 2
    while w > 0:
        for j in range(w):
            a[j] = a[j] + a[j + w]
        w //= 2
    return a[0]


@njit_cached
def _sum_lanes(w, skipnan, cnt, sm):
    """Per lane (element ``i`` -> lane ``i % LANES``, in order): sum of the elements and,
    with ``skipnan``, count and sum of the non-NaN ones only (``cnt`` is then updated)."""
    n = w.shape[0]
    mr = n - n % (_ROWS * LANES)
    if skipnan:
        for i in range(0, mr, _ROWS * LANES):
            for j in range(LANES):
                a = cnt[j]
                b = sm[j]
                for k in range(_ROWS):
                    x = float(w[i + k * LANES + j])
                    ok = x == x
                    a += 1.0 if ok else 0.0
                    b += x if ok else 0.0
                cnt[j] = a
                sm[j] = b
        for i in range(mr, n):
            j = (i - mr) % LANES
            x = float(w[i])
            ok = x == x
            cnt[j] += 1.0 if ok else 0.0
            sm[j] += x if ok else 0.0
    else:
        for i in range(0, mr, _ROWS * LANES):
            for j in range(LANES):
                b = sm[j]
                for k in range(_ROWS):
                    b += float(w[i + k * LANES + j])
                sm[j] = b
        for i in range(mr, n):
            sm[(i - mr) % LANES] += float(w[i])


@njit_cached
def _sq_dev_lanes(w, skipnan, mean, sq, ahead):
    """Per lane: sum of ``(x - mean)**2`` over the elements (the non-NaN ones with ``skipnan``).

    ``w`` is in cache by now; the loop prefetches ``ahead`` (the next chunk) as it goes.
    """
    n = w.shape[0]
    step = _ROWS * LANES
    mr = n - n % step
    if skipnan:
        for i in range(0, mr, step):
            prefetch_range(ahead, i, i + step)
            for j in range(LANES):
                a = sq[j]
                for k in range(_ROWS):
                    x = float(w[i + k * LANES + j])
                    d = x - mean if x == x else 0.0
                    a += d * d
                sq[j] = a
    else:
        for i in range(0, mr, step):
            prefetch_range(ahead, i, i + step)
            for j in range(LANES):
                a = sq[j]
                for k in range(_ROWS):
                    d = float(w[i + k * LANES + j]) - mean
                    a += d * d
                sq[j] = a
    for i in range(mr, n):
        x = float(w[i])
        d = x - mean if (x == x) | (not skipnan) else 0.0
        sq[(i - mr) % LANES] += d * d


@njit_cached
def _chunk_moments(w, skipnan, la, lb, ahead):
    """(count, mean, M2) of the chunk ``w`` by the two-pass algorithm, in lanes."""
    la[:] = 0.0
    lb[:] = 0.0
    _sum_lanes(w, skipnan, la, lb)
    count = _lane_tree_sum(la) if skipnan else float(w.shape[0])
    if count == 0.0:
        prefetch_range(ahead, 0, ahead.shape[0])
        return 0, 0.0, 0.0
    mean = _lane_tree_sum(lb) / count
    lb[:] = 0.0
    _sq_dev_lanes(w, skipnan, mean, lb, ahead)
    return int(count), mean, _lane_tree_sum(lb)


@njit_cached
def _moments(x, skipnan):
    n = x.shape[0] * x.shape[1] * x.shape[2]
    buf = np.empty(min(n, CHUNK), x.dtype)
    la = np.empty(LANES)
    lb = np.empty(LANES)
    sn = np.zeros(65, np.int64)
    sm = np.zeros(65)
    s2 = np.zeros(65)
    depth = 0
    nb = 0
    for start in range(0, n, CHUNK):
        cn, cm, cq = _chunk_moments(chunk_view(x, start, min(CHUNK, n - start), buf),
                                    skipnan, la, lb, chunk_ahead(x, start + CHUNK, CHUNK, buf))
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
def _minmax_lanes(w, lo, hi, nans):
    """Per lane: minimum, maximum and number of NaNs (a NaN leaves min and max unchanged)."""
    n = w.shape[0]
    step = _ROWS * LANES
    mr = n - n % step
    for i in range(0, mr, step):
        for j in range(LANES):
            a = lo[j]
            b = hi[j]
            c = nans[j]
            for k in range(_ROWS):
                x = float(w[i + k * LANES + j])
                a = x if x < a else a
                b = x if x > b else b
                c += 1.0 if x != x else 0.0
            lo[j] = a
            hi[j] = b
            nans[j] = c
    for i in range(mr, n):
        j = (i - mr) % LANES
        x = float(w[i])
        lo[j] = x if x < lo[j] else lo[j]
        hi[j] = x if x > hi[j] else hi[j]
        nans[j] += 1.0 if x != x else 0.0


@njit_cached
def _minmax(x, skipnan):
    n = x.shape[0] * x.shape[1] * x.shape[2]
    buf = np.empty(min(n, CHUNK), x.dtype)
    lo = np.full(LANES, np.inf)
    hi = np.full(LANES, -np.inf)
    nans = np.zeros(LANES)
    for start in range(0, n, CHUNK):
        _minmax_lanes(chunk_view(x, start, min(CHUNK, n - start), buf), lo, hi, nans)
    if not skipnan and _lane_tree_sum(nans) > 0.0:
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
    into chunks of :data:`~clusterkit.kernels._flat.CHUNK` (4096); each
    chunk's count, mean and M2 come from the two-pass algorithm (sum, then
    sum of squared deviations from the chunk mean, each in 64 lanes: element
    ``i`` to lane ``i % 64``, lanes added pairwise), leaving out the chunk's
    NaNs when ``skipna``. The chunks are merged with :func:`chan_combine` in
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
