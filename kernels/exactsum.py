"""Exact, order-independent sums: chunks of an array added exactly to a long accumulator.

The accumulator (see :mod:`._exactacc`) holds the exact sum of its inputs as
an integer in units of 2**-1074 plus counts of NaNs and infinities, so its
state does not depend on the order of the inputs or on how they were split:
accumulators of several ranks combine by elementwise integer addition
(``MPI.SUM`` on an int64 array), and :func:`exact_sum_value` rounds the total
once to the nearest float64. The result is the correctly rounded exact sum,
bitwise identical for any rank count and order. float32 inputs are summed
exactly as float64 values.

Speed: most elements never reach the digits one by one. The elements are
taken in chunks of ``CHUNK`` (4096 <= 2**12); with ``|x| < 2**e`` for all
of a chunk and ``sigma = 1.5 * 2**k``, ``k = e + 13``, ``q = (sigma + x) -
sigma`` is ``x`` rounded to a multiple of ``2**(k-52)`` and ``x - q`` is
exact (the "extraction" of Rump, Ogita and Oishi). A second extraction with
``k - 40`` takes the next 40 bits of the remainders. All ``q`` of one level
are multiples of one power of two and their sum stays below ``2**52`` of
them, so floating-point sums of them (in any order, in vectorised lanes) are
exact. When nothing is left over, the chunk adds just these two exact level
sums to the digits. ``e`` is taken from the previous chunk and checked in the
same pass (so a chunk is usually read once); when it was wrong the chunk is
redone with its own ``e``, and when the two levels do not suffice (values
spanning more than about 80 binary orders of magnitude in one chunk, NaN,
inf, subnormals, magnitudes near overflow or all below ``2**-850``) its
elements are added one by one (:func:`~._exactacc.acc_add`). The state, and so every
result, is the same either way.
"""

import math

import numpy as np

from ._exactacc import (EXACT_ACC_LEN, FLUSH, NDIGITS, acc_add, acc_normalize, check_acc,
                        exact_round, exact_sum_normalize, exact_sum_value)
from ._flat import CHUNK, LANES, chunk_view, float_bits, reduction_input
from ._jit import njit_cached
from ._lanes import ROWS, lane_tree_sum

__all__ = [
    "EXACT_ACC_LEN",
    "NDIGITS",
    "exact_accumulate",
    "exact_round",
    "exact_sum_normalize",
    "exact_sum_value",
    "local_sum_exact",
]

_HEAD = 12  # headroom bits of the extraction levels: at most 2**_HEAD elements per chunk
_LEVEL = 52 - _HEAD  # bits taken per extraction level
_FAST_EXP = 1021 - 1 - _HEAD  # magnitudes from 2**_FAST_EXP on would overflow sigma
_FAST_MIN_EXP = -850  # below, the extraction could meet subnormals (see _extract_lanes)
_ABS = (1 << 63) - 1  # the bits of |x|
_EXP_INF = 0x7FF << 52  # the bits of inf; larger magnitude bits are NaNs
_NO_GUESS = -(1 << 20)
if CHUNK > 1 << _HEAD:
    raise ImportError("exactsum: CHUNK exceeds the extraction headroom")


@njit_cached
def _absmax_lanes(w, mx):
    """Per lane: the largest bits of ``|x|`` (as int64: ordered like ``|x|``, NaN above inf)."""
    n = w.shape[0]
    step = ROWS * LANES
    mr = n - n % step
    for i in range(0, mr, step):
        for j in range(LANES):
            a = mx[j]
            for k in range(ROWS):
                y = float_bits(float(w[i + k * LANES + j])) & _ABS
                a = y if y > a else a
            mx[j] = a
    for i in range(mr, n):
        j = (i - mr) % LANES
        y = float_bits(float(w[i])) & _ABS
        mx[j] = y if y > mx[j] else mx[j]


@njit_cached
def _extract_lanes(w, sig1, sig2, q1, q2, rest, mx):
    """Two extraction levels (see the module docstring) summed per lane.

    ``rest`` gets the bits of the left-overs OR-ed together (0 iff nothing
    is left) and ``mx`` the largest bits of ``|x|`` as in
    :func:`_absmax_lanes`, to check afterwards that ``sig1`` was large enough.
    The checks use integer operations, leaving the floating-point units to
    the extraction. A subnormal ``x`` also sets ``rest`` (the chunk is then
    added element by element): with magnitudes from ``2**_FAST_MIN_EXP`` on
    no other value met here is subnormal, so the result does not depend on
    flush-to-zero / denormals-are-zero modes. The extraction needs IEEE
    round-to-nearest arithmetic as written: never compile it with fastmath.
    """
    n = w.shape[0]
    step = ROWS * LANES
    mr = n - n % step
    for i in range(0, mr, step):
        for j in range(LANES):
            a = q1[j]
            b = q2[j]
            c = rest[j]
            d = mx[j]
            for k in range(ROWS):
                x = float(w[i + k * LANES + j])
                h = (sig1 + x) - sig1
                r = x - h
                g = (sig2 + r) - sig2
                a += h
                b += g
                y = float_bits(x) & _ABS
                c |= float_bits(r - g) | (((y - 1) >> 52) == 0)
                d = y if y > d else d
            q1[j] = a
            q2[j] = b
            rest[j] = c
            mx[j] = d
    for i in range(mr, n):
        j = (i - mr) % LANES
        x = float(w[i])
        h = (sig1 + x) - sig1
        r = x - h
        g = (sig2 + r) - sig2
        q1[j] += h
        q2[j] += g
        y = float_bits(x) & _ABS
        rest[j] |= float_bits(r - g) | (((y - 1) >> 52) == 0)
        mx[j] = y if y > mx[j] else mx[j]


@njit_cached
def _lanes_max(mx):
    big = 0
    for j in range(mx.shape[0]):
        big = max(big, mx[j])
    return big


@njit_cached
def _exponent(big):
    """``e`` with ``|x| < 2**e`` for the magnitude bits ``big`` (finite)."""
    return int(max(big >> 52, 1)) - 1022


@njit_cached
def _try_levels(w, acc, cell, bits, e, lanes, ints):
    """Extract with ``sigma`` for magnitudes below ``2**e``; returns (ok, additions, max bits).

    ``ok`` is False (and nothing was added) unless every element was below
    ``2**e`` and both levels took all of it.
    """
    k1 = max(e + 1 + _HEAD, -1022)  # |x| < 2**e <= 2**(k1 - 1 - _HEAD)
    k2 = max(k1 - _LEVEL, -1022)
    lanes[:, :] = 0.0
    ints[:, :] = 0
    _extract_lanes(w, math.ldexp(1.5, k1), math.ldexp(1.5, k2), lanes[0], lanes[1], ints[0],
                   ints[1])
    big = _lanes_max(ints[1])
    rest = 0
    for j in range(LANES):
        rest |= ints[0, j]
    if big >= _EXP_INF or _exponent(big) > k1 - 1 - _HEAD or rest & _ABS != 0:
        return False, 0, big
    return True, acc_add(acc, lane_tree_sum(lanes[0]), cell, bits) + acc_add(
        acc, lane_tree_sum(lanes[1]), cell, bits), big


@njit_cached
def _chunk_accumulate(w, acc, cell, bits, lanes, ints, guess):
    """Add the chunk ``w`` (at most ``2**_HEAD`` elements) exactly.

    ``guess`` is an estimate of the exponent of its largest magnitude (that
    of the previous chunk; ``_NO_GUESS`` if none): when right, the chunk is
    read once. Returns the number of additions to the digits and the
    exponent for the next chunk.
    """
    if guess != _NO_GUESS:  # within _FAST_MIN_EXP .. _FAST_EXP
        ok, count, big = _try_levels(w, acc, cell, bits, guess, lanes, ints)
        if ok:
            return count, guess
    else:
        ints[1, :] = 0
        _absmax_lanes(w, ints[1])
        big = _lanes_max(ints[1])
    if big == 0:  # only zeros
        return 0, _NO_GUESS
    if big < _EXP_INF:
        e = _exponent(big)
        if _FAST_MIN_EXP <= e <= _FAST_EXP:  # no overflow, no subnormals
            ok, count, big = _try_levels(w, acc, cell, bits, e, lanes, ints)
            if ok:
                return count, e
    count = 0
    for i in range(w.shape[0]):
        count += acc_add(acc, float(w[i]), cell, bits)
    return count, _NO_GUESS


@njit_cached
def exact_accumulate(x, acc):
    """Add every element of 3-D ``x`` exactly into accumulator ``acc`` (normalised on exit).

    Parameters
    ----------
    x : numpy.ndarray
        3-D float32/float64 array (any strides).
    acc : numpy.ndarray
        int64 accumulator of length :data:`EXACT_ACC_LEN`, updated in place.
    """
    n = x.shape[0] * x.shape[1] * x.shape[2]
    buf = np.empty(min(n, CHUNK), x.dtype)
    cell = np.empty(1, np.float64)
    bits = cell.view(np.int64)
    lanes = np.empty((2, LANES))
    ints = np.empty((2, LANES), np.int64)
    pending = 0
    guess = _NO_GUESS
    for start in range(0, n, CHUNK):
        count, guess = _chunk_accumulate(chunk_view(x, start, min(CHUNK, n - start), buf), acc,
                                         cell, bits, lanes, ints, guess)
        pending += count
        if pending > FLUSH - CHUNK:
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
    exact_accumulate(x3, acc)
    return acc
