"""Exact, order-independent sums: chunks of an array added exactly to a long accumulator.

The accumulator (see :mod:`._exactacc`) holds the exact sum of its inputs as
an integer in units of 2**-1074 plus counts of NaNs and infinities, so its
state does not depend on the order of the inputs or on how they were split:
accumulators of several ranks combine by elementwise integer addition
(``MPI.SUM`` on an int64 array), and :func:`exact_sum_value` rounds the total
once to the nearest float64. The result is the correctly rounded exact sum,
bitwise identical for any rank count and order. float32 inputs are summed
exactly as float64 values.

Speed: most elements never reach the digits one by one. The elements are taken
in chunks of ``REDUCTION_CHUNK_ELEMENTS`` (``_tuning``; at most 2**12, the
headroom ``_HEAD`` below); with ``|x| < 2**e`` for all of a chunk and ``sigma =
1.5 * 2**k``, ``k = e + 13``, ``q = (sigma + x) - sigma`` is ``x`` rounded to a
multiple of ``2**(k-52)`` and ``x - q`` is exact (the "extraction" of Rump,
Ogita and Oishi). A second extraction with ``k - 40`` takes the next 40 bits of
the remainders. All ``q`` of one level are multiples of one power of two and
their sum stays below ``2**52`` of them, so floating-point sums of them (in any
order, in vectorised lanes) are exact. When nothing is left over, the chunk adds
just these two exact level sums to the digits. For float32 data, whose short
mantissas the first level takes whole when a chunk spans fewer than about 16
binary orders of magnitude, that level is tried alone first (while it works, and
every ``SINGLE_LEVEL_RETRY_CHUNKS``-th chunk after it did not). ``e`` is taken
from the previous chunk and checked in the same pass (so a chunk is usually read
once); when it was wrong the chunk is redone with its own ``e``, and when the
two levels do not suffice (values spanning more than about 80 binary orders of
magnitude in one chunk, inf, subnormals, magnitudes near overflow or all below
``2**-850``) its elements are added one by one (:func:`~._exactacc.acc_add`).
NaNs count as zeros in the levels and are counted in the accumulator's NaN
slot, as one by one, so a NaN-skipping sum (:func:`exact_sum_value` with
``skipna``) and the number of NaNs (:func:`exact_nan_count`) come from the same
single pass. The state, and so every result, is the same either way.
"""

import math

import numpy as np

from ._exactacc import (ACC_NAN, EXACT_ACC_LEN, FLUSH, NDIGITS, acc_add, acc_normalize,
                        check_acc, exact_nan_count, exact_round, exact_sum_value)
from ._flat import chunk_ahead, chunk_view, float_bits, reduction_input
from ._jit import njit_cached
from ._lanes import lane_tree_sum
from ._prefetch import prefetch_range
from ._tuning import (LANE_ROWS_PER_PASS, REDUCTION_CHUNK_ELEMENTS, REDUCTION_LANES,
                      SINGLE_LEVEL_RETRY_CHUNKS)

__all__ = [
    "EXACT_ACC_LEN",
    "NDIGITS",
    "exact_accumulate",
    "exact_nan_count",
    "exact_round",
    "exact_sum_value",
    "local_sum_exact",
]

# Correctness bounds, not tuning (the argument is in the module docstring):
_HEAD = 12  # headroom bits of the extraction levels: at most 2**_HEAD elements per chunk
_LEVEL = 52 - _HEAD  # bits taken per extraction level
_FAST_EXP = 1021 - 1 - _HEAD  # magnitudes from 2**_FAST_EXP on would overflow sigma
_FAST_MIN_EXP = -850  # below, the extraction could meet subnormals (see _extract_lanes)
_ABS = (1 << 63) - 1  # the bits of |x|
_EXP_INF = 0x7FF << 52  # the bits of inf; larger magnitude bits are NaNs
_NO_GUESS = -(1 << 20)
if REDUCTION_CHUNK_ELEMENTS > 1 << _HEAD:
    raise ImportError("exactsum: REDUCTION_CHUNK_ELEMENTS exceeds the extraction headroom")


@njit_cached
def _absmax_lanes(w, mx):
    """Per lane: the largest bits of ``|x|`` over the non-NaN ``x`` (as int64: ordered like
    ``|x|``; 0 if there are none)."""
    n = w.shape[0]
    step = LANE_ROWS_PER_PASS * REDUCTION_LANES
    mr = n - n % step
    for i in range(0, mr, step):
        for j in range(REDUCTION_LANES):
            a = mx[j]
            for k in range(LANE_ROWS_PER_PASS):
                y = float_bits(float(w[i + k * REDUCTION_LANES + j])) & _ABS
                y = y if y <= _EXP_INF else 0
                a = y if y > a else a
            mx[j] = a
    for i in range(mr, n):
        j = (i - mr) % REDUCTION_LANES
        y = float_bits(float(w[i])) & _ABS
        y = y if y <= _EXP_INF else 0
        mx[j] = y if y > mx[j] else mx[j]


@njit_cached
def _extract_step(x, sig1, sig2, a, b, m, c, d):
    """One element of :func:`_extract_lanes` added to its lane's two level sums ``a``,
    ``b``, NaN count ``m``, left-over bits ``c`` and largest magnitude bits ``d``."""
    ok = x == x
    x = x if ok else 0.0
    h = (sig1 + x) - sig1
    r = x - h
    g = (sig2 + r) - sig2
    y = float_bits(x) & _ABS
    c |= float_bits(r - g) | (((y - 1) >> 52) == 0)
    return a + h, b + g, m + (0.0 if ok else 1.0), c, y if y > d else d


@njit_cached
def _extract_lanes(w, sig1, sig2, q1, q2, nan, rest, mx, ahead):
    """Two extraction levels (see the module docstring) summed per lane; NaNs counted.

    A NaN counts as 0 in the levels and adds 1 to its lane of ``nan``. ``rest``
    gets the bits of the left-overs OR-ed together (0 iff nothing is left) and
    ``mx`` the largest bits of ``|x|`` as in :func:`_absmax_lanes`, to check
    afterwards that ``sig1`` was large enough. The checks use integer operations,
    leaving the floating-point units to the extraction. A subnormal ``x`` also
    sets ``rest`` (the chunk is then added element by element): with magnitudes
    from ``2**_FAST_MIN_EXP`` on no other value met here is subnormal, so the
    result does not depend on flush-to-zero / denormals-are-zero modes. The
    extraction needs IEEE round-to-nearest arithmetic as written: never compile
    it with fastmath. Prefetches ``ahead`` (the next chunk) as it goes.
    """
    n = w.shape[0]
    step = LANE_ROWS_PER_PASS * REDUCTION_LANES
    mr = n - n % step
    for i in range(0, mr, step):
        prefetch_range(ahead, i, i + step)
        for j in range(REDUCTION_LANES):
            a = q1[j]
            b = q2[j]
            m = nan[j]
            c = rest[j]
            d = mx[j]
            for k in range(LANE_ROWS_PER_PASS):
                a, b, m, c, d = _extract_step(float(w[i + k * REDUCTION_LANES + j]), sig1,
                                              sig2, a, b, m, c, d)
            q1[j] = a
            q2[j] = b
            nan[j] = m
            rest[j] = c
            mx[j] = d
    for i in range(mr, n):
        j = (i - mr) % REDUCTION_LANES
        q1[j], q2[j], nan[j], rest[j], mx[j] = _extract_step(
            float(w[i]), sig1, sig2, q1[j], q2[j], nan[j], rest[j], mx[j])


@njit_cached
def _extract_one_step(x, sig1, a, m, c, d):
    """One element of :func:`_extract_one_lanes` added to its lane's level sum ``a``, NaN
    count ``m``, left-over flag ``c`` and largest magnitude ``d``."""
    ok = x == x
    x = x if ok else 0.0
    h = (sig1 + x) - sig1
    y = abs(x)
    return a + h, m + (0.0 if ok else 1.0), c if x - h == 0.0 else 1.0, y if y > d else d


@njit_cached
def _extract_one_lanes(w, sig1, q1, nan, rest, mx, ahead):
    """One extraction level summed per lane, NaNs counted as in :func:`_extract_lanes`.

    ``rest`` gets 1 where a left-over ``x - h`` was not zero, ``mx`` the largest
    ``|x|`` (floating-point: fewer operations than the bit checks of two levels).
    Prefetches ``ahead`` (the next chunk) as it goes. The loop repeats the first
    level of :func:`_extract_lanes` on purpose: it is the float32 fast path, and a
    shared loop would carry the second level's work or a test per element.
    """
    n = w.shape[0]
    step = LANE_ROWS_PER_PASS * REDUCTION_LANES
    mr = n - n % step
    for i in range(0, mr, step):
        prefetch_range(ahead, i, i + step)
        for j in range(REDUCTION_LANES):
            a = q1[j]
            m = nan[j]
            c = rest[j]
            d = mx[j]
            for k in range(LANE_ROWS_PER_PASS):
                a, m, c, d = _extract_one_step(float(w[i + k * REDUCTION_LANES + j]), sig1,
                                               a, m, c, d)
            q1[j] = a
            nan[j] = m
            rest[j] = c
            mx[j] = d
    for i in range(mr, n, REDUCTION_LANES):
        v = w[i:min(n, i + REDUCTION_LANES)]
        for j in range(v.shape[0]):
            q1[j], nan[j], rest[j], mx[j] = _extract_one_step(float(v[j]), sig1, q1[j],
                                                              nan[j], rest[j], mx[j])


@njit_cached
def _lanes_max(mx):
    big = mx[0]
    for j in range(1, mx.shape[0]):
        big = max(big, mx[j])
    return big


@njit_cached
def _exponent(big):
    """``e`` with ``|x| < 2**e`` for the magnitude bits ``big`` (finite)."""
    return int(max(big >> 52, 1)) - 1022


@njit_cached
def _fast_exponent(big):
    """:func:`_exponent` of the magnitude bits ``big``, or ``_NO_GUESS`` outside the range
    the extraction levels take (inf, overflow, subnormals); any valid ``e`` for 0."""
    if big >= _EXP_INF:
        return _NO_GUESS
    e = _exponent(big) if big > 0 else _FAST_MIN_EXP
    return e if _FAST_MIN_EXP <= e <= _FAST_EXP else _NO_GUESS


@njit_cached
def _try_one(w, acc, cell, bits, e, lanes, ahead):
    """Extract one level with ``sigma`` for magnitudes below ``2**e``; returns (ok, additions).

    ``ok`` is False (and nothing was added) unless every non-NaN element was
    below ``2**e`` and the level took all of it (short mantissas, e.g. float32
    data spanning fewer than 16 binary orders of magnitude).
    """
    k1 = max(e + 1 + _HEAD, -1022)
    lanes[:, :] = 0.0
    _extract_one_lanes(w, math.ldexp(1.5, k1), lanes[0], lanes[1], lanes[2], lanes[3], ahead)
    if not (_lanes_max(lanes[3]) < math.ldexp(1.0, e) and _lanes_max(lanes[2]) == 0.0):
        return False, 0
    acc[ACC_NAN] += int(lane_tree_sum(lanes[1]))
    return True, acc_add(acc, lane_tree_sum(lanes[0]), cell, bits)


@njit_cached
def _try_levels(w, acc, cell, bits, e, lanes, ints, ahead):
    """Extract two levels with ``sigma`` for magnitudes below ``2**e``; returns (ok,
    additions, max bits).

    ``ok`` is False (and nothing was added) unless every non-NaN element was
    below ``2**e`` and both levels took all of it; when True the NaNs are counted.
    """
    k1 = max(e + 1 + _HEAD, -1022)  # |x| < 2**e <= 2**(k1 - 1 - _HEAD)
    k2 = max(k1 - _LEVEL, -1022)
    lanes[:, :] = 0.0
    ints[:, :] = 0
    _extract_lanes(w, math.ldexp(1.5, k1), math.ldexp(1.5, k2), lanes[0], lanes[1], lanes[2],
                   ints[0], ints[1], ahead)
    big = _lanes_max(ints[1])
    rest = 0
    for j in range(REDUCTION_LANES):
        rest |= ints[0, j]
    if big >= _EXP_INF or _exponent(big) > k1 - 1 - _HEAD or rest & _ABS != 0:
        return False, 0, big
    acc[ACC_NAN] += int(lane_tree_sum(lanes[2]))
    return True, acc_add(acc, lane_tree_sum(lanes[0]), cell, bits) + acc_add(
        acc, lane_tree_sum(lanes[1]), cell, bits), big


@njit_cached
def _chunk_accumulate(w, acc, cell, bits, lanes, ints, guess, one, ahead):
    """Add the chunk ``w`` (at most ``2**_HEAD`` elements) exactly; count its NaNs.

    ``guess`` is an estimate of the exponent of its largest magnitude (that
    of the previous chunk; ``_NO_GUESS`` if none): when right, the chunk is
    read once. With ``one``, a single extraction level is tried first.
    Returns the number of additions to the digits, the exponent for the
    next chunk and whether the single level sufficed. ``ahead``: the next
    chunk when it is a view (to prefetch), else empty.
    """
    e = guess
    if e == _NO_GUESS:
        ints[1, :] = 0
        _absmax_lanes(w, ints[1])
        e = _fast_exponent(_lanes_max(ints[1]))
    if e != _NO_GUESS:
        if one:
            ok, count = _try_one(w, acc, cell, bits, e, lanes, ahead)
            if ok:
                return count, e, True
        ok, count, big = _try_levels(w, acc, cell, bits, e, lanes, ints, ahead)
        if ok:
            return count, e, False
        if guess != _NO_GUESS:  # a wrong guess: the chunk's own exponent
            e = _fast_exponent(big)
            if e != _NO_GUESS:
                ok, count, big = _try_levels(w, acc, cell, bits, e, lanes, ints, ahead)
                if ok:
                    return count, e, False
    count = 0
    for i in range(w.shape[0]):
        count += acc_add(acc, float(w[i]), cell, bits)
    return count, _NO_GUESS, False


@njit_cached
def exact_accumulate(x, acc, single=False):
    """Add every element of 3-D ``x`` exactly into accumulator ``acc`` (normalised on exit).

    With ``single`` (float32 data), a chunk tries the single extraction level when the
    previous one could use it, and every ``SINGLE_LEVEL_RETRY_CHUNKS``-th chunk anyway.
    (float64 data always takes the two levels, whose bit checks also catch subnormals
    that a denormals-are-zero mode would hide from the arithmetic.)

    Parameters
    ----------
    x : numpy.ndarray
        3-D float32/float64 array (any strides).
    acc : numpy.ndarray
        int64 accumulator of length :data:`EXACT_ACC_LEN`, updated in place.
    single : bool
        Try the single level (for float32 data).
    """
    n = x.shape[0] * x.shape[1] * x.shape[2]
    buf = np.empty(min(n, REDUCTION_CHUNK_ELEMENTS), x.dtype)
    cell = np.empty(1, np.float64)
    bits = cell.view(np.int64)
    lanes = np.empty((4, REDUCTION_LANES))
    ints = np.empty((2, REDUCTION_LANES), np.int64)
    pending = 0
    guess = _NO_GUESS
    one = single
    size = REDUCTION_CHUNK_ELEMENTS
    for c, start in enumerate(range(0, n, size)):
        count, guess, one = _chunk_accumulate(
            chunk_view(x, start, min(size, n - start), buf), acc, cell, bits, lanes, ints,
            guess, single and (one or c % SINGLE_LEVEL_RETRY_CHUNKS == 0),
            chunk_ahead(x, start + size, size, buf))
        pending += count
        if pending > FLUSH - size:
            acc_normalize(acc)
            pending = 0
    acc_normalize(acc)


def local_sum_exact(x, acc=None):
    """Exact sum of all elements as an integer accumulator (see the module docstring).

    Parameters
    ----------
    x : numpy.ndarray
        float32/float64 array of any shape and strides.
    acc : numpy.ndarray, optional
        Accumulator to add into (int64, length :data:`EXACT_ACC_LEN`), e.g.
        to stream several arrays; a new one is created when omitted.

    Returns
    -------
    numpy.ndarray
        The normalised int64 accumulator. Combine accumulators by adding
        them (``acc_a + acc_b``, or ``MPI.SUM`` over ranks) and round once
        with :func:`exact_sum_value`.

    Raises
    ------
    TypeError, ValueError
        If ``x`` is not a float32/float64 array or ``acc`` is malformed.
    """
    x3 = reduction_input("x", x)
    if acc is None:
        acc = np.zeros(EXACT_ACC_LEN, dtype=np.int64)
    else:
        check_acc(acc, writeable=True)
    exact_accumulate(x3, acc, x3.dtype == np.float32)
    return acc
