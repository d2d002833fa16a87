"""Local (per-rank) reductions whose partial results MPI collectives combine."""

import math

import numpy as np
from numba import prange

from ._flat import BLOCK, block_sum, block_sum_at, reduction_input
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
def _neumaier(x):
    s = 0.0
    c = 0.0
    for i0 in range(x.shape[0]):
        for i1 in range(x.shape[1]):
            row = x[i0, i1]
            for i2 in range(row.shape[0]):
                v = float(row[i2])
                t = s + v
                if abs(s) >= abs(v):
                    c += (s - t) + v
                else:
                    c += (v - t) + s
                s = t
    if not math.isfinite(s):
        c = 0.0
    return s, c


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
def _push_moments(buf, fill, sn, sm, s2, depth, nb):
    v = buf[:fill]
    mean = block_sum(v) / fill
    for t in range(fill):
        d = v[t] - mean
        v[t] = d * d
    sn[depth] = fill
    sm[depth] = mean
    s2[depth] = block_sum(v)
    depth += 1
    c = nb + 1
    while c & 1 == 0:
        depth -= 1
        n, m, q = chan_combine(sn[depth - 1], sm[depth - 1], s2[depth - 1],
                               sn[depth], sm[depth], s2[depth])
        sn[depth - 1] = n
        sm[depth - 1] = m
        s2[depth - 1] = q
        c >>= 1
    return depth


@njit_cached
def _moments(x, skipnan):
    buf = np.empty(BLOCK)
    sn = np.zeros(65, np.int64)
    sm = np.zeros(65)
    s2 = np.zeros(65)
    depth = 0
    nb = 0
    fill = 0
    for i0 in range(x.shape[0]):
        for i1 in range(x.shape[1]):
            row = x[i0, i1]
            for i2 in range(row.shape[0]):
                v = float(row[i2])
                if skipnan and v != v:
                    continue
                buf[fill] = v
                fill += 1
                if fill == BLOCK:
                    depth = _push_moments(buf, fill, sn, sm, s2, depth, nb)
                    nb += 1
                    fill = 0
    if fill > 0:
        depth = _push_moments(buf, fill, sn, sm, s2, depth, nb)
    if depth == 0:
        return 0, 0.0, 0.0
    n = sn[depth - 1]
    m = sm[depth - 1]
    q = s2[depth - 1]
    for d in range(depth - 2, -1, -1):
        n, m, q = chan_combine(sn[d], sm[d], s2[d], n, m, q)
    return n, m, q


@njit_cached
def _minmax(x, skipnan):
    lo = np.inf
    hi = -np.inf
    for i0 in range(x.shape[0]):
        for i1 in range(x.shape[1]):
            row = x[i0, i1]
            for i2 in range(row.shape[0]):
                v = float(row[i2])
                if v != v:
                    if skipnan:
                        continue
                    return np.nan, np.nan
                if v < lo:
                    lo = v
                if v > hi:
                    hi = v
    return lo, hi


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
    """Neumaier (improved Kahan-Babuska) compensated sum in float64, in C order.

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

    Blocked Welford/Chan update in float64: the elements (C order, NaNs
    dropped first when ``skipna``) are cut into blocks of :data:`BLOCK`;
    each block's mean and M2 are computed exactly as in the two-pass
    algorithm, and the blocks are merged with :func:`chan_combine` in the
    pairwise order of :func:`pairwise_combine` (Welford's per-element update
    is the block-size-1 case). Partial results from ranks combine with
    :func:`chan_combine`; the variance is ``M2 / n`` (``M2 / (n-1)``
    sample).

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
        the identities of the min/max reductions across ranks.

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
