"""Prefetch helpers of the row loops: which columns they hint, their constants, typing."""

import os

import numba
import numpy as np
import pytest

from clusterkit.kernels import _prefetch as pf
from clusterkit.kernels import _tuning

JIT = os.environ.get("NUMBA_DISABLE_JIT", "0") in ("", "0")


def reference_cells(n0, row, next_row, lo, m, t0, t1):
    """The (row, column) cells a loop at positions t0..t1-1 of a row of m columns reaches."""
    cells = set()
    for t in range(t0, t1):
        r, c = (row, lo + t) if t < m else (next_row, lo + t - m)
        if t < 2 * m and 0 <= r < n0:
            cells.add((r, c))
    return cells


@numba.njit
def _spans_jit(n0, row, next_row, lo, m, t0, t1):
    return pf.row_ahead_spans(n0, row, next_row, lo, m, t0, t1)


@pytest.mark.parametrize("compiled", [False, True])
def test_row_ahead_spans_cover_the_cells_ahead(compiled):
    spans = _spans_jit if compiled else pf.row_ahead_spans
    rng = np.random.default_rng(3)
    cases = [(5, 4, 5, 1, 10, 3, 9),      # within the row
             (5, 4, 5, 1, 10, 8, 14),     # across the row's end into a missing row
             (5, 2, 3, 1, 10, 8, 14),     # across the row's end
             (5, 2, 6, 2, 10, 12, 18),    # wholly in the next row (a block of rows further)
             (5, -1, 0, 0, 10, 5, 15),    # a row before the array
             (5, 2, 3, 1, 10, 15, 40)]    # past the next row too
    for _ in range(300):
        n0, m = int(rng.integers(1, 6)), int(rng.integers(1, 40))
        row = int(rng.integers(-1, n0 + 1))
        t0 = int(rng.integers(0, 3 * m))
        cases.append((n0, row, row + int(rng.integers(1, 5)), int(rng.integers(0, 3)), m,
                      t0, t0 + int(rng.integers(0, 2 * m))))
    for case in cases:
        r0, c0, c1, r1, d0, d1 = spans(*case)
        got = {(r0, c) for c in range(c0, c1)} | {(r1, c) for c in range(d0, d1)}
        assert got == reference_cells(*case), case


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_row_segment_constants(dtype):
    a = np.zeros((2, 3), dtype)
    expect = (_tuning.ROW_SEGMENT_BYTES // a.itemsize, _tuning.ROW_AHEAD_BYTES // a.itemsize)
    assert pf.row_segment(a) == expect
    assert numba.njit(lambda x: pf.row_segment(x))(a) == expect


@pytest.mark.skipif(not JIT, reason="typing happens only when compiled")
def test_write_flag_must_be_a_constant():
    @numba.njit
    def hint(a, write):
        pf.prefetch_row_ahead(a, 0, 1, 0, a.shape[1], 0, a.shape[1], write)

    with pytest.raises(numba.core.errors.TypingError, match="write must be a constant"):
        hint(np.zeros((2, 8)), True)

    @numba.njit
    def hint_both(a):
        pf.prefetch_row_ahead(a, 0, 1, 0, a.shape[1], 0, 2 * a.shape[1], False)
        pf.prefetch_row_ahead(a, 5, 6, 0, a.shape[1], 0, 2 * a.shape[1], True)

    a = np.arange(16.0).reshape(2, 8)
    hint_both(a)  # hints never change data, even at rows outside the array
    np.testing.assert_array_equal(a, np.arange(16.0).reshape(2, 8))
