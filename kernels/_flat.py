"""Present any N-D array as a 3-D view and sum fixed-size blocks of its C-order elements."""

import numpy as np

from ._checks import check_array
from ._jit import njit_cached

__all__ = ["BLOCK", "as_3d", "block_sum", "block_sum_at", "gather_block", "reduction_input"]

BLOCK = 128  # elements per leaf block of the pairwise and blocked reductions


def reduction_input(name, x):
    """Validate a reduction input and return it as a 3-D array (a view if possible).

    Parameters
    ----------
    name : str
        Argument name for error messages.
    x : array_like
        float32/float64 data of any dimensionality.

    Returns
    -------
    numpy.ndarray
        3-D array with the same elements in the same C order.
    """
    if not isinstance(x, np.ndarray):
        x = np.asarray(x)
    check_array(name, x)
    return as_3d(x)


def as_3d(x):
    """View ``x`` as 3-D with its elements in the same C order.

    0-, 1- and 2-D inputs get leading unit axes and 3-D inputs are returned
    as they are (always views, whatever the strides). Inputs with more than
    3 axes have their leading axes merged, which copies when their strides
    do not allow a view (the C-order sequence, and so every result, is the
    same either way).

    Parameters
    ----------
    x : numpy.ndarray
        Array of any dimensionality.

    Returns
    -------
    numpy.ndarray
        3-D array.
    """
    if x.ndim <= 3:
        return x.reshape((1,) * (3 - x.ndim) + x.shape)
    lead = int(np.prod(x.shape[:-2], dtype=np.int64))
    return x.reshape((lead,) + x.shape[-2:])


@njit_cached
def block_sum(v):
    """Sum of a short 1-D array in float64, in eight interleaved lanes.

    (Elements go through ``float()`` so that float32 data is accumulated in
    float64 with and without JIT compilation.)

    Lane ``l`` accumulates ``v[l], v[l+8], ...`` over the first
    ``8*(len(v)//8)`` elements, left to right; the lanes are combined as
    ``((s0+s1)+(s2+s3)) + ((s4+s5)+(s6+s7))`` and the remaining elements are
    then added left to right.

    Parameters
    ----------
    v : numpy.ndarray
        1-D array (any stride), normally at most :data:`BLOCK` long.

    Returns
    -------
    float
    """
    n = v.shape[0]
    m = n - n % 8
    s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = 0.0
    for i in range(0, m, 8):
        s0 += float(v[i])
        s1 += float(v[i + 1])
        s2 += float(v[i + 2])
        s3 += float(v[i + 3])
        s4 += float(v[i + 4])
        s5 += float(v[i + 5])
        s6 += float(v[i + 6])
        s7 += float(v[i + 7])
    s = ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))
    for i in range(m, n):
        s += float(v[i])
    return s


@njit_cached
def gather_block(x, start, length, buf):
    """Copy C-order elements ``start .. start+length-1`` of 3-D ``x`` into ``buf``.

    Parameters
    ----------
    x : numpy.ndarray
        3-D array.
    start, length : int
        First flat (C-order) index and number of elements.
    buf : numpy.ndarray
        1-D float64 scratch of at least ``length`` elements.

    Returns
    -------
    numpy.ndarray
        ``buf[:length]``.
    """
    n1 = x.shape[1]
    n2 = x.shape[2]
    i0, rest = divmod(start, n1 * n2)
    i1, i2 = divmod(rest, n2)
    for t in range(length):
        buf[t] = x[i0, i1, i2]
        i2 += 1
        if i2 == n2:
            i2 = 0
            i1 += 1
            if i1 == n1:
                i1 = 0
                i0 += 1
    return buf[:length]


@njit_cached
def block_sum_at(x, start, length, buf):
    """:func:`block_sum` of C-order elements ``start .. start+length-1`` of 3-D ``x``.

    Reads the elements in place when they lie in one row of the last axis,
    otherwise gathers them into ``buf`` first; the result is the same.

    Parameters
    ----------
    x : numpy.ndarray
        3-D array.
    start, length : int
        First flat index and number of elements.
    buf : numpy.ndarray
        1-D float64 scratch of at least ``length`` elements.

    Returns
    -------
    float
    """
    n1 = x.shape[1]
    n2 = x.shape[2]
    i0, rest = divmod(start, n1 * n2)
    i1, i2 = divmod(rest, n2)
    if i2 + length <= n2:
        return block_sum(x[i0, i1, i2:i2 + length])
    return block_sum(gather_block(x, start, length, buf))
