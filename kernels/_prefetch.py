"""Software prefetch hints for the streaming loops (LLVM's ``llvm.prefetch``).

A core that keeps too few cache misses in flight (its loop also reads rows already
in cache, or does much arithmetic per element) leaves the hardware prefetchers
behind; a hint some KiB ahead of the loop keeps the misses in flight. Hints stay
only where they speed up a job or a public call by more than the noise (the
diffusion step's rows; the next chunk in the exact sum's and the moments' chunk
loops, i.e. ``DistArray.sum/mean/var/std`` over all axes of a block without ghost
cells; see ``docs/performance.md``). Hints never change results; without JIT they do nothing.
"""

import numba
from numba import types
from numba.core import cgutils
from numba.core.cgutils import ir  # llvmlite's IR module, as numba's code generation uses it
from numba.core.errors import TypingError
from numba.extending import intrinsic, overload

from ._jit import njit_cached
from ._tuning import CACHE_LINE_BYTES, ROW_AHEAD_BYTES, ROW_SEGMENT_BYTES

__all__ = ["prefetch_range", "prefetch_row_ahead", "row_ahead_spans", "row_segment"]


def _prefetch_intrinsic(rw):
    """Intrinsics hinting a fetch of ``v[i]`` / ``a[i, j]`` for reading (0) or writing (1)."""
    def codegen(context, builder, signature, args):
        aryty = signature.args[0]
        ary = context.make_array(aryty)(context, builder, args[0])
        item = cgutils.get_item_pointer(context, builder, aryty, ary, list(args[1:]))  # any stride
        ptr = builder.bitcast(item, cgutils.voidptr_t)
        fnty = ir.FunctionType(ir.VoidType(), [ptr.type] + [ir.IntType(32)] * 3)
        fn = builder.module.declare_intrinsic("llvm.prefetch", fnty=fnty)
        i32 = ir.IntType(32)
        builder.call(fn, [ptr, i32(rw), i32(3), i32(1)])  # rw, keep in all levels, data
        return context.get_dummy_value()

    @intrinsic
    def prefetch1(typingctx, arr, i):
        return types.void(arr, types.intp), codegen

    @intrinsic
    def prefetch2(typingctx, arr, i, j):
        return types.void(arr, types.intp, types.intp), codegen

    return prefetch1, prefetch2


_read1, _read2 = _prefetch_intrinsic(0)
_write2 = _prefetch_intrinsic(1)[1]


def _prefetch(v, i):
    """Hint the CPU to fetch ``v[i]`` for reading (a no-op without JIT)."""


@overload(_prefetch, jit_options={"cache": True})
def _prefetch_jit(v, i):
    def impl(v, i):
        _read1(v, i)
    return impl


@njit_cached
def prefetch_range(v, i0, i1):
    """Prefetch ``v[i0:i1]`` (clipped to ``v``) for reading, one hint per cache line.

    Interleaved with arithmetic on data already in cache, this overlaps the
    memory traffic of the next chunk with it (a single core otherwise keeps
    too few cache misses in flight to use the memory bandwidth). Without JIT
    it does nothing.

    Parameters
    ----------
    v : numpy.ndarray
        1-D array.
    i0, i1 : int
        Index range.
    """
    step = max(1, CACHE_LINE_BYTES // v.itemsize)
    for p in range(max(i0, 0), min(i1, v.shape[0]), step):
        _prefetch(v, p)


def row_segment(a):
    """``(segment, ahead)``: the row loops' segment length and prefetch distance for
    ``a``'s dtype, in elements (compile-time constants from ``_tuning``:
    ``ROW_SEGMENT_BYTES``, ``ROW_AHEAD_BYTES``)."""
    return (max(1, ROW_SEGMENT_BYTES // a.itemsize), max(1, ROW_AHEAD_BYTES // a.itemsize))


@overload(row_segment, jit_options={"cache": True})
def _row_segment_jit(a):
    size = a.dtype.bitwidth // 8
    segment = max(1, ROW_SEGMENT_BYTES // size)
    ahead = max(1, ROW_AHEAD_BYTES // size)

    def impl(a):
        return segment, ahead
    return impl


@numba.njit(inline="always")
def row_ahead_spans(n0, row, next_row, lo, m, t0, t1):
    """The columns :func:`prefetch_row_ahead` hints, as two spans of two rows.

    Returns ``(row, c0, c1, next_row, d0, d1)``: columns ``c0 .. c1-1`` of
    ``row`` and ``d0 .. d1-1`` of ``next_row``; a span is empty (``c0 >= c1``)
    where the loop positions do not reach that row or the row is not among the
    ``n0`` rows of the array.
    """
    c0 = lo + t0
    c1 = lo + min(t1, m)
    if not (0 <= row < n0):
        c1 = c0
    d0 = lo + max(t0 - m, 0)
    d1 = lo + min(t1 - m, m)
    if not (0 <= next_row < n0):
        d1 = d0
    return row, c0, c1, next_row, d0, d1


def prefetch_row_ahead(a, row, next_row, lo, m, t0, t1, write):
    """Prefetch the columns ``lo + t`` of row ``row`` of ``a``, for ``t`` in ``[t0, t1)``.

    A row loop runs over the ``m`` columns ``lo .. lo+m-1`` of a row and then
    over the same columns of ``next_row``; ``t >= m`` therefore hints column
    ``lo + t - m`` of ``next_row``, so the prefetch runs on across the row's end.
    One hint per cache line; rows outside ``a`` are skipped. Compiles to the
    hints alone, inlined (a call, or a reference count, per row segment costs
    more than the hints save). Without JIT it does nothing.

    Parameters
    ----------
    a : numpy.ndarray
        2-D array (any strides).
    row, next_row : int
        The row being worked on and the one that follows it in the loop.
    lo, m : int
        First column and number of columns the loop covers in each row
        (``lo + m <= a.shape[1]``).
    t0, t1 : int
        Range of loop positions to prefetch (``0 <= t0 <= t1``).
    write : bool
        A constant: hint a fetch for writing (the loop stores there) instead of
        reading.
    """


@overload(prefetch_row_ahead, jit_options={"cache": True})
def _prefetch_row_ahead_jit(a, row, next_row, lo, m, t0, t1, write):
    if not isinstance(write, types.BooleanLiteral):
        raise TypingError("prefetch_row_ahead: write must be a constant True or False")
    hint = _write2 if write.literal_value else _read2
    step = max(1, 8 * CACHE_LINE_BYTES // a.dtype.bitwidth)  # elements per cache line

    def impl(a, row, next_row, lo, m, t0, t1, write):
        r0, a0, b0, r1, a1, b1 = row_ahead_spans(a.shape[0], row, next_row, lo, m, t0, t1)
        for c in range(a0, b0, step):
            hint(a, r0, c)
        for c in range(a1, b1, step):
            hint(a, r1, c)
    return impl
