"""Any N-D array as 3-D views: its C-order elements in chunks, its rows, and axis groups."""

import numba
import numpy as np
from numba import types
from numba.extending import intrinsic, overload

from ._checks import check_array
from ._jit import njit_cached

__all__ = ["as_3d", "axis_pieces", "chunk_ahead", "chunk_view",
           "flat_position", "float_bits", "gather_block", "reduction_input", "row_span",
           "unit_row"]


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
    while t < length:  # row by row, unit-stride rows typed contiguous (a vectorised copy)
        take = min(n2 - i2, length - t)
        dst = buf[t:t + take]
        src = unit_row(x, i0, i1)[i2:i2 + take]
        for k in range(take):  # (0-based views: LLVM proves the indices in range)
            dst[k] = src[k]
        t += take
        i2 = 0
        i1 += 1
        if i1 == n1:
            i1 = 0
            i0 += 1
    return buf[:length]


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


def chunk_ahead(x, start, length, buf):
    """The elements of a later chunk when :func:`chunk_view` would give a view of them.

    Used only to prefetch them (see :func:`~._prefetch.prefetch_range`).

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


@intrinsic
def _data_pointer(typingctx, arr):
    """The pointer to the first element of ``arr`` (typed by its dtype)."""
    def codegen(context, builder, signature, args):
        return context.make_array(signature.args[0])(context, builder, args[0]).data
    return types.CPointer(arr.dtype)(arr), codegen


def unit_row(x, i0, i1):
    """The row ``x[i0, i1]`` of 3-D ``x`` (1-D); in Numba typed C-contiguous when its
    elements are (unit stride: the rows of an interior with ghost cells), so that loops
    over it vectorise, and as it is otherwise."""
    return x[i0, i1]


@overload(unit_row, jit_options={"cache": True})
def _unit_row_jit(x, i0, i1):
    if isinstance(x, types.Array) and x.layout == "C":
        def impl(x, i0, i1):
            return x[i0, i1]
        return impl

    def impl_strided(x, i0, i1):
        row = x[i0, i1]
        if x.strides[2] == x.itemsize:  # a view of the same elements, typed contiguous
            return numba.carray(_data_pointer(row), row.shape[0])
        return row.copy()  # (a strided last axis: never the case of a ghosted block)
    return impl_strided


def row_span(x, i0, i1, start, length, buf):
    """Elements ``start .. start+length-1`` of the row ``x[i0, i1]`` of 3-D ``x``, 1-D.

    A view when the row has unit stride (typed C-contiguous in Numba, see
    :func:`unit_row`), otherwise a copy in ``buf``: either way an array that Numba
    knows to be contiguous, so that loops over it vectorise. The values are the same.

    Parameters
    ----------
    x : numpy.ndarray
        3-D array.
    i0, i1 : int
        The row.
    start, length : int
        First column and number of columns.
    buf : numpy.ndarray
        1-D C-contiguous scratch of ``x.dtype`` with at least ``length`` elements.

    Returns
    -------
    numpy.ndarray
    """
    if x.strides[2] == x.itemsize:
        return x[i0, i1, start:start + length]
    buf[:length] = x[i0, i1, start:start + length]
    return buf[:length]


@overload(row_span, jit_options={"cache": True})
def _row_span_jit(x, i0, i1, start, length, buf):
    if isinstance(x, types.Array) and x.layout == "C":
        def impl(x, i0, i1, start, length, buf):
            return x[i0, i1, start:start + length]
        return impl

    def impl_strided(x, i0, i1, start, length, buf):  # unit_row's view, inlined: faster
        row = x[i0, i1]
        if x.strides[2] == x.itemsize:
            return numba.carray(_data_pointer(row), row.shape[0])[start:start + length]
        for k in range(length):
            buf[k] = row[start + k]
        return buf[:length]
    return impl_strided


#: 3-D forms of a reduction over axis groups: the groups' kinds (True: reduced) -> form
#: and where each group goes. "outer": (R1, K, R2) reduced to (K,); "middle": (P, R, Q)
#: reduced to (P, Q); absent groups have extent 1.
_FORMS = {
    (): ("middle", (None, None, None)), (True,): ("outer", (None, None, 0)),
    (False,): ("middle", (None, None, 0)), (False, True): ("outer", (None, 0, 1)),
    (True, False): ("middle", (None, 0, 1)), (True, True): ("outer", (0, None, 1)),
    (False, False): ("middle", (0, None, 1)), (True, False, True): ("outer", (0, 1, 2)),
    (False, True, False): ("middle", (0, 1, 2)),
}


def _groups(x, kinds):
    """Adjacent axes of one kind whose strides let them merge, as (kind, extent) pairs."""
    groups = []
    for a, (n, kind) in enumerate(zip(x.shape, kinds)):
        if groups and groups[-1][0] == kind and x.strides[a - 1] == n * x.strides[a]:
            groups[-1] = (kind, groups[-1][1] * n)
        else:
            groups.append((kind, n))
    return groups


def axis_pieces(x, axes):
    """Split a reduction of ``x`` over ``axes`` into 3-D views of the two kernel forms.

    Axes of extent 1 are dropped, and adjacent axes of one kind (reduced or
    kept) are merged where their strides allow a view. When the groups make
    an "outer" form ``(R1, K, R2)`` (reduced to ``K``) or a "middle" form
    ``(P, R, Q)`` (reduced to ``(P, Q)``), that is the one piece; a leading
    reduced group is moved after the kept group that follows it if that makes
    a form (the last axis, the rows, stays in place); otherwise the first axis
    is peeled off and each slice split in turn.

    Parameters
    ----------
    x : numpy.ndarray
        Array of any shape and strides (never copied).
    axes : tuple of int
        Sorted, non-negative axes to reduce.

    Yields
    ------
    (str, numpy.ndarray, int)
        ``(form, x3, offset)``: the piece reduces into the elements ``offset``
        onwards of the C-ordered array of the kept axes (as ``(K,)`` or
        ``(P, Q)``).
    """
    kinds = [a in axes for a, n in enumerate(x.shape) if n != 1]
    yield from _split(x[tuple(0 if n == 1 else slice(None) for n in x.shape)], kinds, 0)


def _split(x, kinds, offset):
    groups = _groups(x, kinds)
    kinds = [kind for kind, _ in groups]
    g = x.reshape([n for _, n in groups])  # a view: the groups' axes merge
    fit = _FORMS.get(tuple(kinds))
    if fit is None and len(kinds) >= 3 and kinds[0] and not kinds[1]:
        fit = _FORMS.get((False, True) + tuple(kinds[2:]))
        if fit is not None:
            g = g.swapaxes(0, 1)
    if fit is not None:
        form, where = fit
        yield form, g.reshape(tuple(1 if i is None else g.shape[i] for i in where)), offset
        return
    step = 0 if kinds[0] else int(np.prod([n for n, k in zip(g.shape[1:], kinds[1:]) if not k]))
    for i in range(g.shape[0]):
        yield from _split(g[i], kinds[1:], offset + i * step)


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
