"""Local reductions against math.fsum / exact rational sums / NumPy on adversarial data."""

import math
import sys
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clusterkit.kernels import exactsum as ex
from clusterkit.kernels import reductions as red
from clusterkit.kernels._combine import chan_combine
from clusterkit.kernels._exactacc import acc_normalize
from clusterkit.kernels._flat import axis_pieces
from clusterkit.kernels._tuning import MOMENTS_CHUNK_ELEMENTS, REDUCTION_LANES

EPS = np.finfo(np.float64).eps
BIG = np.finfo(np.float64).max
TINY = 5e-324
SETTINGS = settings(deadline=None, max_examples=60,
                    suppress_health_check=[HealthCheck.too_slow])

finite = st.floats(allow_nan=False, allow_infinity=False)
moderate = st.floats(min_value=-1e200, max_value=1e200, allow_nan=False)


def exact_ref(values):
    """Correctly rounded sum via exact rational arithmetic (inf on overflow)."""
    vals = [float(v) for v in np.ravel(values)]
    if any(math.isnan(v) for v in vals):
        return math.nan
    pinf, ninf = math.inf in vals, -math.inf in vals
    if pinf and ninf:
        return math.nan
    if pinf or ninf:
        return math.inf if pinf else -math.inf
    total = sum((Fraction(v) for v in vals), Fraction(0))
    try:
        return float(total)
    except OverflowError:
        return math.inf if total > 0 else -math.inf


def same(a, b):
    """Equal floats, NaN equal to NaN."""
    return (math.isnan(a) and math.isnan(b)) or a == b


def exact(x):
    return ex.exact_sum_value(ex.local_sum_exact(np.asarray(x, dtype=np.float64)))


def _axis(func):
    """``func`` over axis 0 of a 2-D input, into fresh outputs."""
    def run(x):
        outs = [np.zeros(np.shape(x)[1:]) for _ in range(2 if func is red.axis_sums else 3)]
        return func(x, (0,), *outs)
    return run


@pytest.mark.parametrize("func", [red.local_moments, ex.local_sum_exact, _axis(red.axis_sums),
                                  _axis(red.axis_moments)])
def test_reductions_reject_non_float_input(func):
    with pytest.raises(TypeError, match="dtype"):
        func(np.arange(6).reshape(2, 3))
    with pytest.raises(TypeError, match="dtype|ndarray"):
        func([[1, 2, 3]])
    with pytest.raises(TypeError, match="dtype"):
        func(np.ones((2, 3), dtype=np.complex128))


# -------------------------------------------------------------------------- moments

def moments_ref(x):
    x = np.asarray(x, dtype=np.float64).ravel()
    if x.size == 0:
        return 0, 0.0, 0.0
    mean = math.fsum(x) / x.size
    return x.size, mean, math.fsum((x - mean) ** 2)


@pytest.mark.parametrize("n", [1, 2, 127, 128, 129, 1000, 128 * 5 + 3])
@pytest.mark.parametrize("offset", [0.0, 1e9])
def test_moments_match_reference(n, offset):
    rng = np.random.default_rng(n)
    x = offset + rng.standard_normal(n)
    count, mean, m2 = red.local_moments(x)
    rc, rmean, rm2 = moments_ref(x)
    assert count == rc
    assert abs(mean - rmean) <= 1e-14 * (abs(offset) + 1)
    # A streaming mean carries an error ~eps*offset, which enters M2 to first order
    # (relative ~1e-7 here); the naive sum(x**2) - n*mean**2 would be off by ~1e2.
    assert abs(m2 - rm2) <= (1e-12 + 1e-15 * offset) * rm2


def test_moments_strided_float32_and_empty():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((6, 40, 9)).astype(np.float32)[::2, 3:, 1:-1]
    count, mean, m2 = red.local_moments(x)
    rc, rmean, rm2 = moments_ref(x)
    assert count == rc == x.size
    assert math.isclose(mean, rmean, rel_tol=1e-12, abs_tol=1e-14)
    assert math.isclose(m2, rm2, rel_tol=1e-12)
    assert red.local_moments(np.empty((0, 3))) == (0, 0.0, 0.0)


def test_moments_nan_handling():
    rng = np.random.default_rng(8)
    x = rng.standard_normal(500)
    x[rng.random(500) < 0.2] = np.nan
    count, mean, m2 = red.local_moments(x)
    assert count == 500 and math.isnan(mean) and math.isnan(m2)
    count, mean, m2 = red.local_moments(x, skipna=True)
    good = x[~np.isnan(x)]
    assert count == good.size
    assert math.isclose(mean, np.mean(good), rel_tol=1e-12)
    assert math.isclose(m2, np.var(good) * good.size, rel_tol=1e-12)
    assert red.local_moments(np.full(7, np.nan), skipna=True) == (0, 0.0, 0.0)


@SETTINGS
@given(st.lists(st.floats(-1e6, 1e6), min_size=0, max_size=400), st.integers(0, 400))
def test_chan_combine_of_parts_equals_whole(values, cut):
    x = np.array(values, dtype=np.float64)
    cut = min(cut, x.size)
    a = red.local_moments(x[:cut])
    b = red.local_moments(x[cut:])
    n, mean, m2 = chan_combine(*a, *b)
    rn, rmean, rm2 = moments_ref(x)
    assert n == rn
    scale = max(1.0, float(np.max(np.abs(x)))) if x.size else 1.0
    assert abs(mean - rmean) <= 1e-13 * scale
    assert abs(m2 - rm2) <= 1e-11 * (rm2 + x.size * scale**2 * 1e-10)


def test_chan_combine_identity_and_formula():
    assert chan_combine(0, 0.0, 0.0, 3, 2.0, 8.0) == (3, 2.0, 8.0)
    assert chan_combine(3, 2.0, 8.0, 0, 0.0, 0.0) == (3, 2.0, 8.0)
    # {0, 2} and {4}: n = 3, mean = 2, M2 = 4 + 0 + 4 = 8
    n, mean, m2 = chan_combine(2, 1.0, 2.0, 1, 4.0, 0.0)
    assert (n, mean, m2) == (3, 2.0, 8.0)


# -------------------------------------------------------------------------- exact sum

ADVERSARIAL = [
    [1.0, 2.0**-53],                      # tie -> even (1.0)
    [1.0, 2.0**-53, TINY],                # just above the tie (sticky bit far below)
    [1.0, 2.0**-53, 2.0**-60],            # just above the tie (sticky bit in the same digit)
    [1.0 + 2.0**-52, 2.0**-53],           # tie -> even (up)
    [BIG, BIG, -BIG],                     # intermediate overflow, exact BIG
    [BIG, 2.0**970],                      # exactly half an ulp above BIG -> inf
    [BIG, 2.0**969],                      # below the overflow threshold -> BIG
    [-BIG, -BIG],                         # -inf
    [1e308, 1e-308, -1e308],              # huge + tiny cancellation
    [TINY, TINY, -TINY],                  # subnormals
    [2.0**-1022, -TINY],                  # normal/subnormal boundary
    [1e16, 1.0, -1e16, 1.0],              # 2
    [0.1] * 10,
    [3.0, -3.0, 0.0, -0.0],
    [2.0**53, 1.0, 1.0],
    [1e300, 1.0, -1e300, 1e-300, 5e-324] * 3,
]


@pytest.mark.parametrize("values", ADVERSARIAL)
def test_exact_sum_adversarial(values):
    expect = exact_ref(values)
    got = exact(values)
    assert same(got, expect), (got, expect)
    assert same(exact([-v for v in values]), -expect)
    assert same(exact(values[::-1]), expect)


def test_exact_sum_many_huge_values_cancel():
    x = np.concatenate([np.full(3000, BIG), np.full(3000, -BIG), [1e-300, TINY]])
    np.random.default_rng(0).shuffle(x)
    assert exact(x) == exact_ref(x) == 1e-300


@pytest.mark.parametrize("values, expect", [
    ([1.0, np.nan], math.nan), ([np.inf, 1.0], math.inf), ([-np.inf, 1.0], -math.inf),
    ([np.inf, -np.inf], math.nan), ([], 0.0), ([0.0, -0.0], 0.0),
])
def test_exact_sum_special_values(values, expect):
    assert same(exact(values), expect)


@pytest.mark.parametrize("values, expect, nans", [
    ([1.0, np.nan, 2.0], 3.0, 1), ([np.nan] * 5, 0.0, 5), ([np.inf, np.nan], math.inf, 1),
    ([np.inf, -np.inf, np.nan], math.nan, 1), ([], 0.0, 0), ([1e16, 1.0, np.nan, -1e16], 1.0, 1),
])
def test_exact_sum_skipping_nans_and_their_count(values, expect, nans):
    """The accumulator counts the NaNs it was given; rounded with ``skipna`` they are left
    out (numpy.nansum, but exact); both from the one pass."""
    for x in (np.array(values, dtype=np.float64), np.tile(values, 3000)):
        k = x.size // max(len(values), 1)
        acc = ex.local_sum_exact(x)
        assert ex.exact_nan_count(acc) == nans * k
        assert same(ex.exact_sum_value(acc, skipna=True), expect * k if expect else expect)
        assert same(ex.exact_sum_value(acc), math.nan if nans else expect * k)


@SETTINGS
@given(st.lists(finite, max_size=60))
def test_exact_sum_is_correctly_rounded(values):
    assert same(exact(values), exact_ref(values))


@SETTINGS
@given(st.lists(finite, max_size=60), st.lists(st.integers(0, 60), max_size=6),
       st.randoms(use_true_random=False))
def test_exact_sum_independent_of_split_and_order(values, cuts, rnd):
    values = values + [-v for v in values[: len(values) // 2]]  # force cancellation
    rnd.shuffle(values)
    x = np.array(values, dtype=np.float64)
    whole = ex.local_sum_exact(x)
    bounds = [0] + sorted(min(c, x.size) for c in cuts) + [x.size]
    parts = [ex.local_sum_exact(x[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]
    rnd.shuffle(parts)
    total = np.sum(parts, axis=0)  # what MPI.SUM over ranks does
    assert same(ex.exact_sum_value(total), ex.exact_sum_value(whole))
    assert same(ex.exact_sum_value(whole), exact_ref(values))
    acc_normalize(total)
    np.testing.assert_array_equal(total, whole)  # the normalised state is unique


def test_exact_sum_streaming_float32_and_strided():
    rng = np.random.default_rng(2)
    a = (rng.standard_normal((5, 30, 7)) * 1e20).astype(np.float32)[:, ::4, 1:]
    b = rng.standard_normal(100) * np.exp(rng.uniform(-600, 600, 100))
    acc = ex.local_sum_exact(a)
    assert ex.local_sum_exact(b, acc=acc) is acc
    expect = exact_ref(np.concatenate([a.astype(np.float64).ravel(), b]))
    assert ex.exact_sum_value(acc) == expect


def test_exact_accumulator_checks():
    with pytest.raises(ValueError, match="shape"):
        ex.exact_sum_value(np.zeros(5, dtype=np.int64))
    with pytest.raises(TypeError, match="int64"):
        ex.exact_sum_value(np.zeros(ex.EXACT_ACC_LEN))
    bad = np.zeros(ex.EXACT_ACC_LEN, dtype=np.int64)
    bad[-1] = -1
    with pytest.raises(ValueError, match="counts"):
        ex.exact_sum_value(bad)
    with pytest.raises(ValueError, match="shape"):
        ex.local_sum_exact(np.ones(3), acc=np.zeros(3, dtype=np.int64))


def test_reductions_module_does_not_pull_in_mpi():
    assert "mpi4py" not in sys.modules or "clusterkit.comm" in sys.modules


#: Module-level numbers of the reduction modules that results rely on (formats and proven
#: bounds, next to their arguments); every other number is tuning and lives in _tuning.
CORRECTNESS_CONSTANTS = {
    "_exactacc": {"NDIGITS", "EXACT_ACC_LEN", "ACC_NAN", "_PINF", "_NINF", "_MASK32", "_FRAC",
                  "FLUSH"},
    "exactsum": {"_HEAD", "_LEVEL", "_FAST_EXP", "_FAST_MIN_EXP", "_ABS", "_EXP_INF",
                 "_NO_GUESS"},
    "reductions": {"_SHIFT_BITS"},
}


def test_reduction_tuning_constants_live_in_tuning():
    """No reduction module defines a tuning number of its own (chunk, lane, tile sizes...):
    they are in kernels/_tuning.py with their units in their names."""
    import ast
    import pathlib
    folder = pathlib.Path(red.__file__).parent
    for name in ("_combine", "_exactacc", "_flat", "_lanes", "exactsum", "reductions"):
        tree = ast.parse((folder / f"{name}.py").read_text())
        numbers = {t.id for node in tree.body if isinstance(node, ast.Assign)
                   and (isinstance(node.value, (ast.BinOp, ast.UnaryOp)) or isinstance(
                       getattr(node.value, "value", None), (int, float)))
                   for t in node.targets if isinstance(t, ast.Name)
                   and t.id.strip("_").isupper()}
        assert numbers <= CORRECTNESS_CONSTANTS.get(name, set()), (name, numbers)


# ------------------------------------------------- lanes, chunks and layouts (vectorised loops)

EDGE_LENGTHS = [0, 1, 3, 7, 8, 9, 63, 64, 65, 511, 512, 513, 4095, 4096, 4097, 3 * 4096 + 517]


def layouts(x):
    """The same C-order sequence as a contiguous array, a strided view and a 3-D strided view."""
    n = x.size
    wide = np.zeros(2 * n + 1, dtype=x.dtype)
    wide[1::2] = x
    yield x
    yield wide[1::2]  # strided: gathered chunk by chunk
    if n and n % 3 == 0:
        block = np.zeros((3, n // 3 + 2), dtype=x.dtype)
        block[:, 1:-1] = x.reshape(3, -1)
        yield block[:, 1:-1]  # rows with halos, like DistArray.interior


def edge_data(n, seed, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(n) * np.exp(rng.uniform(-5, 5, n)) + 3.0).astype(dtype)


@pytest.mark.parametrize("n", EDGE_LENGTHS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_lane_reductions_edge_lengths_and_layouts(n, dtype):
    x = edge_data(n, n, dtype)
    x64 = x.astype(np.float64)
    abs_sum = math.fsum(np.abs(x64))
    count, mean, m2 = red.local_moments(x)
    rc, rmean, rm2 = moments_ref(x64)
    assert count == rc
    assert abs(mean - rmean) <= 1e-14 * (abs(rmean) + abs_sum / max(n, 1))
    assert abs(m2 - rm2) <= 1e-12 * rm2 + 1e-300
    assert ex.exact_sum_value(ex.local_sum_exact(x)) == exact_ref(x64) == math.fsum(x64)
    for view in layouts(x):  # bitwise the same for every layout
        assert red.local_moments(view) == (count, mean, m2)
        assert red.local_moments(view, skipna=True) == (count, mean, m2)
        np.testing.assert_array_equal(ex.local_sum_exact(view), ex.local_sum_exact(x))


@pytest.mark.parametrize("n", [1, 9, 65, 513, 4097, 2 * 4096 + 77])
@pytest.mark.parametrize("where", ["first", "last", "random", "all"])
def test_lane_reductions_nan_positions(n, where):
    x = edge_data(n, 7 * n)
    if where == "first":
        x[0] = np.nan
    elif where == "last":
        x[-1] = np.nan
    elif where == "random":
        x[np.random.default_rng(n).random(n) < 0.3] = np.nan
        x[0] = np.nan
    else:
        x[:] = np.nan
    good = x[~np.isnan(x)]
    count, mean, m2 = red.local_moments(x)
    assert count == n and math.isnan(mean) and math.isnan(m2)
    count, mean, m2 = red.local_moments(x, skipna=True)
    if good.size == 0:
        assert (count, mean, m2) == (0, 0.0, 0.0)
    else:
        rc, rmean, rm2 = moments_ref(good)
        assert count == rc
        assert math.isclose(mean, rmean, rel_tol=1e-13, abs_tol=1e-13)
        assert abs(m2 - rm2) <= 1e-12 * rm2 + 1e-300
    assert math.isnan(exact(x))
    acc = ex.local_sum_exact(x)
    assert ex.exact_sum_value(acc, skipna=True) == math.fsum(good)
    assert ex.exact_nan_count(acc) == n - good.size
    for view in layouts(x):
        assert red.local_moments(view, skipna=True) == (count, mean, m2)
        np.testing.assert_array_equal(ex.local_sum_exact(view), acc)


def test_moments_large_offset_and_outlier_chunks():
    rng = np.random.default_rng(5)
    x = 1e9 + rng.standard_normal(3 * 4096 + 11)
    x[4096] = -1e9  # one outlier chunk
    count, mean, m2 = red.local_moments(x)
    rc, rmean, rm2 = moments_ref(x)
    assert count == rc
    assert math.isclose(mean, rmean, rel_tol=1e-14)
    assert math.isclose(m2, rm2, rel_tol=1e-12)


def scalar_exact(x):
    """Accumulator built one element at a time by the digit arithmetic alone (no chunks)."""
    from clusterkit.kernels._exactacc import acc_add
    acc = np.zeros(ex.EXACT_ACC_LEN, dtype=np.int64)
    cell = np.empty(1)
    bits = cell.view(np.int64)
    for v in np.ravel(x):
        acc_add(acc, float(v), cell, bits)
    acc_normalize(acc)
    return acc


@pytest.mark.parametrize("kind", ["uniform", "wide", "huge", "tiny", "small", "zeros", "mixed",
                                  "growing", "shrinking", "special", "nans", "narrow",
                                  "alternating"])
def test_exact_sum_chunked_fast_path_matches_elementwise(kind):
    rng = np.random.default_rng(len(kind))
    n = 2 * 4096 + 333
    if kind == "nans":  # NaNs counted in the fast paths: the same state as one by one
        x = rng.standard_normal(n) * 1e3
        x[rng.random(n) < 0.3] = np.nan
        x[4096:8192] = np.nan
    elif kind == "narrow":  # float32 values within a few binary orders: one level suffices
        x = (250 + 50 * rng.random(n)).astype(np.float32).astype(np.float64)
        x[::5] = np.nan
    elif kind == "alternating":  # chunks one level takes, then ones it does not (retried)
        n = 40 * 4096
        x = (250 + 50 * rng.random(n)).astype(np.float32).astype(np.float64)
        x[4096 * 3:4096 * 9] = rng.standard_normal(4096 * 6) * np.exp(rng.uniform(-9, 9, 4096 * 6))
        x[4096 * 12 + 7] = 1e-30
    elif kind == "uniform":
        x = rng.random(n)
    elif kind == "wide":  # spans more than the two extraction levels within a chunk
        x = rng.standard_normal(n) * np.exp(rng.uniform(-700, 700, n))
    elif kind == "huge":  # near overflow: sigma would overflow, elementwise path
        x = rng.uniform(-1, 1, n) * np.finfo(np.float64).max
        x[::2] = rng.random(n // 2 + 1) * 2.0**1000
    elif kind == "tiny":  # subnormals and the smallest normals
        x = rng.integers(-2**54, 2**54, n) * 5e-324
    elif kind == "small":  # around the smallest magnitudes of the chunked path, one subnormal
        x = rng.standard_normal(n) * 2.0**-845
        x[4500] = 3e-320
    elif kind == "zeros":
        x = np.zeros(n)
        x[::3] = -0.0
        x[5000] = 1e-300
    elif kind == "mixed":  # cancellation across chunks
        x = rng.standard_normal(n) * 1e20
        x = np.concatenate([x, -x[::-1], [1.0, 2.0**-60]])
    elif kind == "growing":  # the previous chunk's magnitude underestimates the next one
        x = rng.random(n) * np.exp(np.linspace(0, 600, n))
    elif kind == "shrinking":  # ... or overestimates it
        x = rng.random(n) * np.exp(np.linspace(600, -600, n))
    else:
        x = rng.standard_normal(n)
        x[4200] = np.inf
        x[8000] = -np.inf
    acc = ex.local_sum_exact(x)
    np.testing.assert_array_equal(acc, scalar_exact(x))
    assert same(ex.exact_sum_value(acc), exact_ref(x))
    np.testing.assert_array_equal(ex.local_sum_exact(x[::-1]), acc)
    with np.errstate(over="ignore"):
        x32 = x.astype(np.float32)
    np.testing.assert_array_equal(ex.local_sum_exact(x32), scalar_exact(x32.astype(np.float64)))


def test_lane_reductions_read_only_and_broadcast_inputs():
    x = edge_data(5000, 11)
    ro = x.copy()
    ro.flags.writeable = False
    wide = np.broadcast_to(x[:50], (100, 50))  # zero stride
    for a, b in ((ro, x), (wide, np.ascontiguousarray(wide))):
        assert red.local_moments(a, skipna=True) == red.local_moments(b)
        np.testing.assert_array_equal(ex.local_sum_exact(a), ex.local_sum_exact(b))


# ------------------------------- moments: one shifted pass per chunk, two passes as fallback

@pytest.mark.parametrize("skipna", [False, True])
def test_moments_over_many_chunks_with_level_jumps(skipna):
    """Each chunk after the first is summed in one pass, shifted by the previous chunk's
    mean; levels that jump between chunks (and NaNs) must not cost accuracy."""
    c = MOMENTS_CHUNK_ELEMENTS
    rng = np.random.default_rng(5)
    x = np.concatenate([rng.standard_normal(3 * c + 17), 1e9 + 1e-3 * rng.standard_normal(2 * c),
                        -5.0 + rng.standard_normal(c + 5)])
    if skipna:
        x[rng.random(x.size) < 0.1] = np.nan
    count, mean, m2 = red.local_moments(x, skipna=skipna)
    rc, rmean, rm2 = moments_ref(x[~np.isnan(x)])
    assert count == rc
    assert math.isclose(mean, rmean, rel_tol=1e-12) and math.isclose(m2, rm2, rel_tol=1e-10)


def test_moments_of_values_whose_squares_overflow_from_the_first_shift():
    """The first chunk's shift is 0: (x - 0)**2 overflows for x ~ 1e160 although the
    deviations from the mean do not; the two passes then give the finite M2."""
    rng = np.random.default_rng(7)
    x = 1e160 * (1.0 + 1e-10 * rng.standard_normal(3 * MOMENTS_CHUNK_ELEMENTS))
    count, mean, m2 = red.local_moments(x)
    rc, rmean, rm2 = moments_ref(x)
    assert count == rc and math.isclose(mean, rmean, rel_tol=1e-14)
    assert math.isfinite(m2) and math.isclose(m2, rm2, rel_tol=1e-6)


@pytest.mark.parametrize("skipna", [False, True])
@pytest.mark.parametrize("shift", [0.0, 1e3, -1e6, 1e9])
def test_chunk_moments_with_a_shift_far_from_the_chunk_mean(skipna, shift):
    """The one-pass sums of x - shift would cancel when the shift is far from the chunk's
    mean (a level jump between chunks): such a chunk is redone by two passes."""
    rng = np.random.default_rng(6)
    w = 1e3 + 1e-3 * rng.standard_normal(1000)   # M2 ~ 1e-3, mean**2 ~ 1e6
    if skipna:
        w[::7] = np.nan
    la, lb, lc = np.empty(REDUCTION_LANES), np.empty(REDUCTION_LANES), np.empty(REDUCTION_LANES)
    count, mean, m2 = red._chunk_moments(w, skipna, shift, la, lb, lc, w[:0])
    rc, rmean, rm2 = moments_ref(w[~np.isnan(w)])
    assert count == rc
    assert math.isclose(mean, rmean, rel_tol=1e-14)
    assert math.isclose(m2, rm2, rel_tol=1e-9), (m2, rm2)


def test_chunk_views_and_row_spans():
    """chunk_view gives the C-order elements (a view of a C-contiguous array, across rows
    too; a copy of a strided one), chunk_ahead a view only when it is one; row_span the
    columns of a row, a view whenever the row has unit stride (an interior with ghost
    cells: typed contiguous, so that loops over it vectorise), else a copy; the same
    compiled and in Python."""
    import numba

    from clusterkit.kernels import _flat

    @numba.njit
    def views(x, start, length, buf):
        return (_flat.chunk_view(x, start, min(length, x.size - start), buf).copy(),
                _flat.chunk_ahead(x, start, length, buf).copy())  # clips the length itself

    @numba.njit
    def span(x, i0, i1, start, length, buf, mark):
        v = _flat.row_span(x, i0, i1, start, length, buf)
        got = v.copy()
        v[0] = mark  # lands in x only if v is a view
        return got, _flat.unit_row(x, i0, i1).copy()

    c = np.arange(3 * 5 * 7, dtype=np.float64).reshape(3, 5, 7)
    strided = np.empty((3, 5, 14))[:, :, ::2]
    strided[...] = c
    ghosted = np.zeros((5, 7, 9))
    halo = ghosted[1:-1, 1:-1, 1:-1]
    halo[...] = c
    buf = np.full(40, -1.0)
    for run in (views, getattr(views, "py_func", views)):  # compiled, then Python
        for x in (c, strided, halo):
            for start, length in ((0, 7), (3, 20), (33, 40), (100, 5), (104, 9)):
                chunk, ahead = run(x, start, length, buf)
                length = min(length, x.size - start)
                np.testing.assert_array_equal(chunk, c.ravel()[start:start + length])
                if x is c:
                    np.testing.assert_array_equal(ahead, chunk)
                else:
                    assert ahead.size == 0
    for run in (span, getattr(span, "py_func", span)):
        for x, is_view in ((c.copy(), True), (halo, True), (strided, False)):
            got, row = run(x, 2, 3, 2, 4, buf, -7.0)
            np.testing.assert_array_equal(got, c[2, 3, 2:6])
            np.testing.assert_array_equal(row[3:], c[2, 3, 3:])
            assert (x[2, 3, 2] == -7.0) == is_view
            x[2, 3, 2] = c[2, 3, 2]
    assert np.shares_memory(_flat.chunk_view(c, 3, 20, buf), c)
    assert not np.shares_memory(_flat.chunk_view(strided, 3, 20, buf), strided)


def test_exact_sum_single_level_for_short_mantissas():
    """A chunk of float32 data within a few binary orders (temperatures) is taken by one
    extraction level, with its NaNs; a wider chunk needs the second level."""
    rng = np.random.default_rng(12)
    acc = np.zeros(ex.EXACT_ACC_LEN, dtype=np.int64)
    cell = np.empty(1)
    bits = cell.view(np.int64)
    lanes, ints = np.empty((4, REDUCTION_LANES)), np.empty((2, REDUCTION_LANES), np.int64)
    narrow = (250 + 50 * rng.random(4096)).astype(np.float32)
    narrow[::7] = np.nan
    wide = rng.standard_normal(4096) * np.exp(rng.uniform(-30, 30, 4096))
    _, e, one = ex._chunk_accumulate(narrow, acc, cell, bits, lanes, ints, ex._NO_GUESS, True,
                                     narrow[:0])
    assert one and e == 9
    assert not ex._chunk_accumulate(wide, acc, cell, bits, lanes, ints, ex._NO_GUESS, True,
                                    wide[:0])[2]
    acc_normalize(acc)
    np.testing.assert_array_equal(acc, scalar_exact(np.concatenate(
        [narrow.astype(np.float64), wide])))


# ------------------------------------------------------------------ over some axes vs NumPy

def axis_refs(x, axes, skipna):
    """NumPy's sums, counts, means and M2 over ``axes`` (float64)."""
    x64 = x.astype(np.float64)
    nan = np.isnan(x64)
    valid = ~nan if skipna else np.ones(x.shape, bool)
    with np.errstate(all="ignore"):
        sums = np.sum(np.where(nan, 0.0, x64) if skipna else x64, axis=axes)
        counts = np.sum(valid, axis=axes).astype(np.float64)
        mean = sums / counts
        dev = np.where(valid, x64 - np.expand_dims(mean, axes), 0.0)
        m2 = np.sum(dev * dev, axis=axes)
    return sums, counts, mean, m2


def run_axis(x, axes, skipna):
    kept = tuple(n for a, n in enumerate(x.shape) if a not in axes)
    s, c = np.zeros(kept), np.zeros(kept)
    red.axis_sums(x, axes, s, c, skipna=skipna)
    n, mean, m2 = np.zeros(kept), np.zeros(kept), np.zeros(kept)
    red.axis_moments(x, axes, n, mean, m2, skipna=skipna)
    return s, c, n, mean, m2


def check_axis(x, axes, skipna):
    s, c, n, mean, m2 = run_axis(x, axes, skipna)
    rs, rc, rmean, rm2 = axis_refs(x, axes, skipna)
    np.testing.assert_allclose(s, rs, rtol=1e-12, atol=1e-11)
    np.testing.assert_array_equal(c, rc)
    np.testing.assert_array_equal(n, rc)
    has = rc > 0
    np.testing.assert_allclose(mean[has], rmean[has], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(m2[has], rm2[has], rtol=1e-10, atol=1e-10)
    assert np.all(mean[~has] == 0) and np.all(m2[~has] == 0)  # Chan's identity


def all_axes(ndim):
    return [tuple(a for a in range(ndim) if mask >> a & 1) for mask in range(1, 2**ndim)]


SHAPES = [(7,), (5, 9), (1, 9), (4, 1, 6), (3, 17, 11), (2, 3, 4, 5), (2, 1, 3, 1, 4)]


def axis_data(shape, dtype, seed, nans):
    rng = np.random.default_rng(seed)
    x = (10 + 3 * rng.standard_normal(shape)).astype(dtype)
    if nans:
        x[rng.random(shape) < 0.25] = np.nan
        if x.ndim > 1:
            x[0] = np.nan  # whole NaN slices
    return x


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("nans", [False, True])
def test_axis_reductions_match_numpy(shape, dtype, nans):
    x = axis_data(shape, dtype, len(shape), nans)
    for axes in all_axes(x.ndim):
        for skipna in (False, True):
            check_axis(x, axes, skipna)


@pytest.mark.parametrize("layout", ["halo", "reversed", "transposed", "every other"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_axis_reductions_of_strided_views(layout, dtype):
    """A block with ghost cells (rows and planes that do not merge), negative and
    permuted strides: the rows are gathered, the results those of NumPy."""
    base = axis_data((6, 19, 23), dtype, 3, True)
    if layout == "halo":
        x = np.pad(base, 2, constant_values=-1e30)[2:-2, 2:-2, 2:-2]
    elif layout == "reversed":
        x = base[::-1, :, ::-1]
    elif layout == "transposed":
        x = base.transpose(2, 0, 1)
    else:
        x = base[:, ::2, ::2]
    assert not x.flags.c_contiguous
    for axes in all_axes(3):
        for skipna in (False, True):
            check_axis(x, axes, skipna)


def test_axis_pieces_are_views_in_the_two_forms():
    x = np.zeros((4, 5, 6, 7))
    ghosted = np.zeros((6, 7, 8, 9))
    halo = ghosted[1:-1, 1:-1, 1:-1, 1:-1]
    cases = [
        (x, (0,), [("middle", (1, 4, 210))]),                 # R K -> (1, R, K)
        (x, (3,), [("outer", (1, 120, 7))]),                  # K R -> (1, K, R)
        (x, (0, 3), [("outer", (4, 30, 7))]),                 # R K R
        (x, (1, 2), [("middle", (4, 30, 7))]),                # K R K
        (x, (0, 1, 2, 3), [("outer", (1, 1, 840))]),          # R
        (x, (0, 2), [("middle", (5, 6, 7))] * 4),             # R K R K: axis 0 peeled
        (halo, (0, 1, 2, 3), [("outer", (6, 1, 7))] * 20),    # no axes merge: peeled
        (halo[0], (0,), [("middle", (6, 5, 7))]),             # R K K -> (K, R, K)
    ]
    for arr, axes, want in cases:
        pieces = axis_pieces(arr, axes)
        assert [(f, v.shape) for f, v, _ in pieces] == want, (arr.shape, axes)
        assert all(np.shares_memory(v, arr) for _, v, _ in pieces)
    assert [offset for _, _, offset in axis_pieces(x, (0, 2))] == [0] * 4  # reduced: same out
    assert [offset for _, _, offset in axis_pieces(x, (1, 3))] == [0, 6, 12, 18]


def test_axis_reductions_accumulate_into_their_outputs():
    """Blocks streamed into the same outputs: sums add, moments combine (Chan) — as
    over the whole."""
    x = axis_data((40, 12, 9), np.float64, 5, True)
    whole = run_axis(x, (0, 2), True)
    s, c = np.zeros(12), np.zeros(12)
    n, mean, m2 = np.zeros(12), np.zeros(12), np.zeros(12)
    for part in (x[:13], x[13:30], x[30:]):
        red.axis_sums(part, (0, 2), s, c, skipna=True)
        red.axis_moments(part, (0, 2), n, mean, m2, skipna=True)
    for got, want in zip((s, c, n, mean, m2), whole):
        np.testing.assert_allclose(got, want, rtol=1e-12)


@pytest.mark.parametrize("skipna", [False, True])
def test_axis_moments_redo_a_tile_whose_first_values_are_far_out(skipna):
    """Columns are summed shifted by their first value; when that lies far from the
    column's mean (here 1e5 rows of noise 1e-3 after one value 1e3: M2 would lose about
    17 bits) the tile is redone by two passes and M2 keeps full precision."""
    rng = np.random.default_rng(9)
    x = 1e-3 * rng.standard_normal((100_000, 5))
    x[0] = 1e3
    if skipna:
        x[1::3, 2] = np.nan
    n, mean, m2 = np.zeros(5), np.zeros(5), np.zeros(5)
    red.axis_moments(x, (0,), n, mean, m2, skipna=skipna)
    for k in range(5):
        col = x[:, k][~np.isnan(x[:, k])] if skipna else x[:, k]
        rc, rmean, rm2 = moments_ref(col)
        assert n[k] == rc
        assert math.isclose(mean[k], rmean, rel_tol=1e-14)
        assert math.isclose(m2[k], rm2, rel_tol=1e-12), (k, m2[k], rm2)  # one pass: ~1e-9


def test_axis_reductions_check_their_arguments():
    x = np.zeros((3, 4))
    good = np.zeros(4)
    with pytest.raises(ValueError, match="axes must be"):
        red.axis_sums(x, [0], good, good.copy())
    with pytest.raises(ValueError, match="axes must be"):
        red.axis_sums(x, (2,), good, good.copy())
    with pytest.raises(ValueError, match="shape"):
        red.axis_sums(x, (1,), good, good.copy())
    with pytest.raises(TypeError, match="float64"):
        red.axis_sums(x, (0,), good.astype(np.float32), good)
    with pytest.raises(ValueError, match="C-contiguous"):
        red.axis_sums(np.zeros((3, 4, 2)), (0,), np.zeros((2, 4)).T, np.zeros((4, 2)))
    ro = good.copy()
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        red.axis_moments(x, (0,), good, ro, good.copy())
    s, c = np.full(4, 7.0), np.full(4, 2.0)
    red.axis_sums(np.zeros((0, 4)), (0,), s, c)  # nothing to add
    assert list(s) == [7.0] * 4 and list(c) == [2.0] * 4
