"""Any N-D array as a 3-D view, its C-order elements in blocks and chunks, and loop helpers."""

import numpy as np
from numba import types
from numba.extending import overload

from ._checks import check_array
from ._jit import njit_cached
from ._prefetch import prefetch_range

__all__ = ["AHEAD", "BLOCK", "CHUNK", "LANES", "as_3d", "block_sum", "block_sum_at",
           "chunk_ahead", "chunk_view", "flat_position", "flat_view", "float_bits",
           "gather_block", "prefetch_ahead", "reduction_input"]

BLOCK = 128  # elements per leaf block of the pairwise and blocked reductions
LANES = 64  # independent accumulators of the lane-wise reductions (element i -> lane i % LANES)
CHUNK = 4096  # elements per chunk of the chunked reductions (a multiple of LANES and BLOCK)
AHEAD = 1024  # software prefetch distance of the streaming loops, in elements


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

    C-contiguous inputs become a ``(1, 1, size)`` view (one row, so that the
    kernels read them in place, with unit stride). Otherwise 0-, 1- and 2-D
    inputs get leading unit axes and 3-D inputs are returned as they are
    (always views, whatever the strides). Inputs with more than 3 axes have
    their leading axes merged, which copies when their strides do not allow
    a view (the C-order sequence, and so every result, is the same either
    way).

    Parameters
    ----------
    x : numpy.ndarray
        Array of any dimensionality.

    Returns
    -------
    numpy.ndarray
        3-D array.
    """
    if x.flags.c_contiguous:
        return x.reshape((1, 1, x.size))
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
def flat_position(x, start):
    """``(i0, i1, i2)``: the index of C-order element ``start`` of 3-D ``x``."""
    i0, rest = divmod(start, x.shape[1] * x.shape[2])
    i1, i2 = divmod(rest, x.shape[2])
    return i0, i1, i2


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
    i0, i1, i2 = flat_position(x, start)
    t = 0
    while t < length:  # row by row
        row = x[i0, i1]
        take = min(n2 - i2, length - t)
        for k in range(take):
            buf[t + k] = row[i2 + k]
        t += take
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
    i0, i1, i2 = flat_position(x, start)
    if i2 + length <= x.shape[2]:
        return block_sum(x[i0, i1, i2:i2 + length])
    return block_sum(gather_block(x, start, length, buf))


def chunk_view(x, start, length, buf):
    """C-order elements ``start .. start+length-1`` of 3-D ``x`` as a 1-D array.

    A view when ``x`` is C-contiguous (typed so in Numba; the elements are then
    contiguous in memory, across rows too), otherwise a copy in ``buf``: either
    way a unit-stride array that Numba knows to be contiguous, so that loops over
    it vectorise. The values are the same.

    Parameters
    ----------
    x : numpy.ndarray
        3-D array.
    start, length : int
        First flat index and number of elements.
    buf : numpy.ndarray
        1-D C-contiguous scratch of ``x.dtype`` with at least ``length`` elements.

    Returns
    -------
    numpy.ndarray
        1-D array of ``length`` elements.
    """
    if x.flags.c_contiguous:
        return x.reshape(-1)[start:start + length]
    return gather_block(x, start, length, buf)


@overload(chunk_view, jit_options={"cache": True})
def _chunk_view_jit(x, start, length, buf):
    if isinstance(x, types.Array) and x.layout == "C":
        def impl(x, start, length, buf):
            return x.reshape(x.size)[start:start + length]
        return impl

    def impl_gather(x, start, length, buf):  # a strided view would not vectorise
        return gather_block(x, start, length, buf)
    return impl_gather


def flat_view(x, buf):
    """All elements of 3-D ``x`` in C order as one 1-D view, when ``x`` is
    C-contiguous (typed so in Numba); otherwise ``buf[:0]`` (empty).

    A reduction whose result does not depend on where the chunks start can then
    run over the whole array in one loop instead of chunk by chunk (each chunk
    costs a view or a gather).
    """
    if x.flags.c_contiguous:
        return x.reshape(-1)
    return buf[:0]


@overload(flat_view, jit_options={"cache": True})
def _flat_view_jit(x, buf):
    if isinstance(x, types.Array) and x.layout == "C":
        def impl(x, buf):
            return x.reshape(x.size)
        return impl

    def impl_empty(x, buf):
        return buf[:0]
    return impl_empty


def chunk_ahead(x, start, length, buf):
    """The elements of a later chunk when :func:`chunk_view` would give a view of them.

    Used only to prefetch them (see :func:`prefetch_range`).

    Parameters
    ----------
    x : numpy.ndarray
        3-D array.
    start, length : int
        First flat index and number of elements (clipped to ``x``).
    buf : numpy.ndarray
        The scratch array passed to :func:`chunk_view`.

    Returns
    -------
    numpy.ndarray
        A view of the elements, or an empty array when there is nothing to
        prefetch (past the end, or a strided ``x`` that is gathered anyway).
    """
    length = max(0, min(length, x.size - start))
    if x.flags.c_contiguous and length > 0:
        return x.reshape(-1)[start:start + length]
    return buf[:0]


@overload(chunk_ahead, jit_options={"cache": True})
def _chunk_ahead_jit(x, start, length, buf):
    if isinstance(x, types.Array) and x.layout == "C":
        def impl(x, start, length, buf):
            n = x.size
            length = max(0, min(length, n - start))
            if length == 0:
                return buf[:0]
            return x.reshape(n)[start:start + length]
        return impl

    def impl_empty(x, start, length, buf):
        return buf[:0]
    return impl_empty


@njit_cached
def float_bits(x):
    """The IEEE-754 bit pattern of ``float64(x)`` as an int64 (a bit cast; vectorises).

    Parameters
    ----------
    x : float
        float32 or float64 value.

    Returns
    -------
    int
    """
    return np.float64(x).view(np.int64)


@njit_cached
def prefetch_ahead(w, ahead, i0, i1):
    """Prefetch elements ``i0 .. i1-1`` of ``w`` followed by ``ahead`` (see :func:`prefetch_range`).

    ``w`` is the chunk being read, ``ahead`` the next one (:func:`chunk_ahead`),
    so a loop at element ``i`` of ``w`` can prefetch :data:`AHEAD` elements on
    across the chunk boundary.
    """
    n = w.shape[0]
    if i0 < n:
        prefetch_range(w, i0, i1)
    if i1 > n:
        prefetch_range(ahead, i0 - n, i1 - n)
