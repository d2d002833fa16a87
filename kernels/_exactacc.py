"""The long accumulator of the exact sum: exact addition of a float64, carries, rounding once.

Every finite float64 is an integer multiple of 2**-1074, smaller than
2**1024. The accumulator holds the exact sum of its inputs as a signed
integer in units of 2**-1074, in radix 2**32: ``NDIGITS`` int64 "digits"
``d[k]`` with value ``sum_k d[k] * 2**(32*k - 1074)`` (a Kulisch-style long
accumulator), followed by three int64 counters of NaNs, +infs and -infs.

Adding ``x = +-m * 2**(p - 1074)`` (``m < 2**53``) adds ``+-`` three 32-bit
pieces of ``m << (p % 32)`` to digits ``p//32 .. p//32 + 2``. Digits have 31
bits of headroom, so carries are propagated ("normalisation": digits
``0..NDIGITS-2`` brought to ``[0, 2**32)``, the top digit signed) after at
most 2**30 additions and at the end. Because integer addition is exact and
associative, the state does not depend on the order of the inputs or on how
they were split: accumulators of several ranks combine by elementwise
integer addition (``MPI.SUM`` on an int64 array; safe for up to 2**31
normalised operands), and :func:`exact_sum_value` rounds the total once to
the nearest float64 (ties to even). The result is the correctly rounded
exact sum, bitwise identical for any rank count and order; it overflows to
+-inf only when the exact sum does; NaN if any input is NaN or both
infinities occur.
"""

import math

import numpy as np

from ._checks import check_array
from ._jit import njit_cached

__all__ = [
    "ACC_NAN",
    "EXACT_ACC_LEN",
    "FLUSH",
    "NDIGITS",
    "acc_add",
    "acc_normalize",
    "check_acc",
    "exact_nan_count",
    "exact_round",
    "exact_sum_value",
]

NDIGITS = 68  # 68*32 = 2176 bits: 2098 for any double + headroom for carries
EXACT_ACC_LEN = NDIGITS + 3  # digits, then counts of nan, +inf, -inf
ACC_NAN = NDIGITS  # index of the NaN count
_PINF = NDIGITS + 1
_NINF = NDIGITS + 2
_MASK32 = 0xFFFFFFFF
_FRAC = (1 << 52) - 1
FLUSH = 1 << 30  # additions between normalisations (digits stay below 2**62)


@njit_cached
def acc_normalize(acc):
    """Propagate the carries of the digits of ``acc`` in place (see the module docstring)."""
    carry = 0
    for k in range(NDIGITS - 1):
        v = acc[k] + carry
        carry = v >> 32
        acc[k] = v & _MASK32
    acc[NDIGITS - 1] += carry


@njit_cached
def acc_add(acc, v, cell, bits):
    """Add the float64 ``v`` exactly to ``acc`` (or count it as NaN/inf); 1 if digits changed."""
    cell[0] = v
    b = bits[0]
    e = (b >> 52) & 0x7FF
    m = b & _FRAC
    if e == 0x7FF:
        if m != 0:
            acc[ACC_NAN] += 1
        elif b < 0:
            acc[_NINF] += 1
        else:
            acc[_PINF] += 1
        return 0
    if e == 0:
        if m == 0:
            return 0
        p = 0
    else:
        m |= 1 << 52
        p = e - 1
    k = p >> 5
    r = p & 31
    lo = (m & ((1 << (32 - r)) - 1)) << r
    mid = (m >> (32 - r)) & _MASK32
    hi = (m >> 32) >> (32 - r)
    if b < 0:
        acc[k] -= lo
        acc[k + 1] -= mid
        acc[k + 2] -= hi
    else:
        acc[k] += lo
        acc[k + 1] += mid
        acc[k + 2] += hi
    return 1


@njit_cached
def _bits(d, pos, count):
    """Bits ``pos .. pos+count-1`` (``count <= 62``) of the non-negative digit number ``d``."""
    res = 0
    end = pos + count
    for k in range(pos >> 5, ((end - 1) >> 5) + 1):
        lo_bit = max(pos, 32 * k)
        hi_bit = min(end, 32 * k + 32)
        piece = (d[k] >> (lo_bit - 32 * k)) & ((1 << (hi_bit - lo_bit)) - 1)
        res |= piece << (lo_bit - pos)
    return res


@njit_cached
def exact_round(acc, skipna=False):
    """Round the exact value held by an accumulator to the nearest float64.

    Parameters
    ----------
    acc : numpy.ndarray
        int64 accumulator of length :data:`EXACT_ACC_LEN` (need not be
        normalised; it is not modified).
    skipna : bool
        Leave the NaN inputs out (as ``numpy.nansum``).

    Returns
    -------
    float
        Correctly rounded (ties to even) sum; +-inf on overflow; NaN for
        NaN inputs (unless ``skipna``) or both infinities; +0.0 for an exact zero.
    """
    if (acc[ACC_NAN] > 0 and not skipna) or (acc[_PINF] > 0 and acc[_NINF] > 0):
        return np.nan
    if acc[_PINF] > 0:
        return np.inf
    if acc[_NINF] > 0:
        return -np.inf
    d = acc[:NDIGITS].copy()
    acc_normalize(d)
    sign = 1.0
    if d[NDIGITS - 1] < 0:
        sign = -1.0
        for k in range(NDIGITS):
            d[k] = -d[k]
        acc_normalize(d)
    h = NDIGITS - 1
    while h >= 0 and d[h] == 0:
        h -= 1
    if h < 0:
        return 0.0
    top = d[h]
    nbits = 0
    while top > 0:
        nbits += 1
        top >>= 1
    length = 32 * h + nbits  # the magnitude is in [2**(length-1), 2**length) units of 2**-1074
    if length > 1074 + 1024:
        return sign * np.inf
    if length <= 53:
        small = _bits(d, 0, length)
        return sign * math.ldexp(float(small), -1074)
    pos = length - 54
    top54 = _bits(d, pos, 54)
    mant = top54 >> 1
    sticky = False
    k0 = pos >> 5
    if d[k0] & ((1 << (pos - 32 * k0)) - 1) != 0:
        sticky = True
    for k in range(k0):
        if d[k] != 0:
            sticky = True
            break
    if top54 & 1 and (sticky or mant & 1):
        mant += 1
        if mant == 1 << 53:
            mant >>= 1
            pos += 1
    e = pos + 1 - 1074
    if e > 1023 - 52:
        return sign * np.inf
    return sign * math.ldexp(float(mant), e)


def check_acc(acc, writeable=False):
    """Raise TypeError/ValueError unless ``acc`` is an exact-sum accumulator."""
    check_array("acc", acc, ndim=1, dtypes=(np.dtype(np.int64),), writeable=writeable)
    if acc.shape != (EXACT_ACC_LEN,):
        raise ValueError(f"acc must have shape ({EXACT_ACC_LEN},) (an exact-sum accumulator), "
                         f"got {acc.shape}")
    if min(acc[NDIGITS:].tolist()) < 0:  # 3 counts: a list beats a NumPy reduction
        raise ValueError("acc has negative NaN/inf counts; it is not an exact-sum accumulator")


def exact_sum_value(acc, skipna=False):
    """Round an exact-sum accumulator (possibly a sum of several) once to float64.

    Parameters
    ----------
    acc : numpy.ndarray
        int64 accumulator of length :data:`EXACT_ACC_LEN`.
    skipna : bool
        Leave the NaN inputs out (as ``numpy.nansum``); otherwise any NaN gives NaN.

    Returns
    -------
    float
        The correctly rounded sum.

    Raises
    ------
    TypeError, ValueError
        If ``acc`` is not an accumulator.
    """
    check_acc(acc)
    return float(exact_round(acc, bool(skipna)))


def exact_nan_count(acc):
    """Number of NaN inputs added to an exact-sum accumulator (possibly a sum of several).

    Parameters
    ----------
    acc : numpy.ndarray
        int64 accumulator of length :data:`EXACT_ACC_LEN`.

    Returns
    -------
    int

    Raises
    ------
    TypeError, ValueError
        If ``acc`` is not an accumulator.
    """
    check_acc(acc)
    return int(acc[ACC_NAN])
