"""Local reductions against math.fsum / exact rational sums / NumPy on adversarial data."""

import math
import sys
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clusterkit.kernels import reductions as red

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
    return red.exact_sum_value(red.local_sum_exact(np.asarray(x, dtype=np.float64)))


def pairwise_bound(n, abs_sum):
    nblocks = max(1, -(-n // red.BLOCK))
    return (26 + 2 * math.log2(nblocks + 1)) * EPS * abs_sum


# ----------------------------------------------------------------------------- local_sum

@SETTINGS
@given(st.lists(moderate, max_size=700))
def test_local_sum_error_bound(values):
    x = np.array(values, dtype=np.float64)
    s = red.local_sum(x)
    assert abs(s - math.fsum(values)) <= pairwise_bound(x.size, math.fsum(np.abs(x)))
    assert red.local_sum(x, parallel=True) == s


def test_local_sum_is_not_naive_accumulation():
    x = np.full(1 << 16, 1e-16)
    x[0] = 1.0
    ref = math.fsum(x)
    assert abs(np.cumsum(x)[-1] - ref) > 1e-12  # left-to-right loses every 1e-16
    for parallel in (False, True):
        assert abs(red.local_sum(x, parallel=parallel) - ref) < 1e-14


@pytest.mark.parametrize("n", [0, 1, 7, 8, 127, 128, 129, 1000, 128 * 300 + 5])
def test_local_sum_serial_parallel_and_layouts_agree_bitwise(n):
    rng = np.random.default_rng(n)
    x = rng.standard_normal(n) * np.exp(rng.uniform(-20, 20, n))
    s = red.local_sum(x)
    assert abs(s - math.fsum(x)) <= pairwise_bound(n, math.fsum(np.abs(x)))
    assert red.local_sum(x, parallel=True) == s
    assert red.local_sum(x[::-1].copy()[::-1]) == s  # negative stride, same sequence


@pytest.mark.parametrize("shape, index", [
    ((9, 37, 13), (slice(1, -1), slice(2, None), slice(None, None, 2))),
    ((4, 3, 50, 11), (slice(None), slice(None, 2), slice(1, -1), slice(1, -1))),
    ((30, 41), (slice(None, None, -1), slice(3, -3))),
])
@pytest.mark.parametrize("parallel", [False, True])
def test_local_sum_strided_equals_contiguous_copy(shape, index, parallel):
    rng = np.random.default_rng(len(shape))
    view = rng.standard_normal(shape)[index]
    assert not view.flags.c_contiguous
    copy = np.ascontiguousarray(view)
    assert red.local_sum(view, parallel=parallel) == red.local_sum(copy)
    assert red.local_sum(view.T, parallel=parallel) == red.local_sum(np.ascontiguousarray(view.T))
    np.testing.assert_allclose(red.local_sum(view), math.fsum(view.ravel()), rtol=1e-13,
                               atol=1e-13)


def test_local_sum_float32_accumulates_in_float64():
    rng = np.random.default_rng(11)
    x = (rng.standard_normal(3000) * 1e4).astype(np.float32)
    assert red.local_sum(x) == red.local_sum(x.astype(np.float64))
    assert abs(red.local_sum(x) - math.fsum(x.astype(np.float64))) < 1e-9


def test_local_sum_special_values():
    assert red.local_sum(np.array([])) == 0.0
    assert red.local_sum(np.array(2.5)) == 2.5
    assert math.isnan(red.local_sum(np.array([1.0, np.nan])))
    assert red.local_sum(np.array([1.0, np.inf])) == np.inf
    assert math.isnan(red.local_sum(np.array([-np.inf, np.inf])))


@pytest.mark.parametrize("func", [red.local_sum, red.local_sum_kahan, red.local_moments,
                                  red.local_minmax, red.nan_count, red.local_sum_exact])
def test_reductions_reject_non_float_input(func):
    with pytest.raises(TypeError, match="dtype"):
        func(np.arange(5))
    with pytest.raises(TypeError, match="dtype"):
        func([1, 2, 3])
    with pytest.raises(TypeError, match="dtype"):
        func(np.ones(3, dtype=np.complex128))


# ------------------------------------------------------------------------- Neumaier

def test_kahan_neumaier_recovers_cancelled_term():
    s, c = red.local_sum_kahan(np.array([1e100, 1.0, -1e100]))
    assert s + c == 1.0
    s, c = red.local_sum_kahan(np.array([1.0, 1e100, 1.0, -1e100]))
    assert s + c == 2.0


@SETTINGS
@given(st.lists(moderate, max_size=300), st.integers(0, 300))
def test_kahan_error_bound_and_combine(values, cut):
    x = np.array(values, dtype=np.float64)
    ref = math.fsum(values)
    s, c = red.local_sum_kahan(x)
    n = x.size
    bound = 2 * EPS * abs(ref) + 4 * n * EPS**2 * math.fsum(np.abs(x))
    assert abs((s + c) - ref) <= bound
    cut = min(cut, n)
    sa, ca = red.local_sum_kahan(x[:cut])
    sb, cb = red.local_sum_kahan(x[cut:])
    s2, c2 = red.neumaier_combine(sa, ca, sb, cb)
    assert abs((s2 + c2) - ref) <= 2 * bound + 2 * EPS * abs(ref)


def test_kahan_non_finite():
    s, c = red.local_sum_kahan(np.array([1.0, np.inf, 2.0]))
    assert (s, c) == (np.inf, 0.0)
    s, c = red.local_sum_kahan(np.array([np.nan, 1.0]))
    assert math.isnan(s) and c == 0.0


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
    n, mean, m2 = red.chan_combine(*a, *b)
    rn, rmean, rm2 = moments_ref(x)
    assert n == rn
    scale = max(1.0, float(np.max(np.abs(x)))) if x.size else 1.0
    assert abs(mean - rmean) <= 1e-13 * scale
    assert abs(m2 - rm2) <= 1e-11 * (rm2 + x.size * scale**2 * 1e-10)


def test_chan_combine_identity_and_formula():
    assert red.chan_combine(0, 0.0, 0.0, 3, 2.0, 8.0) == (3, 2.0, 8.0)
    assert red.chan_combine(3, 2.0, 8.0, 0, 0.0, 0.0) == (3, 2.0, 8.0)
    # {0, 2} and {4}: n = 3, mean = 2, M2 = 4 + 0 + 4 = 8
    n, mean, m2 = red.chan_combine(2, 1.0, 2.0, 1, 4.0, 0.0)
    assert (n, mean, m2) == (3, 2.0, 8.0)


# --------------------------------------------------------------- min/max, NaN count

@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_minmax_and_nan_count(dtype):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((7, 33, 5)).astype(dtype)[:, ::3]
    assert red.local_minmax(x) == (float(x.min()), float(x.max()))
    assert red.nan_count(x) == 0
    x = x.copy()
    x[1, 2, 3] = np.inf
    x[2, 0, 0] = -np.inf
    assert red.local_minmax(x) == (-np.inf, np.inf)
    x[3, 1, 1] = x[0, 0, 4] = np.nan
    lo, hi = red.local_minmax(x)
    assert math.isnan(lo) and math.isnan(hi)
    assert red.local_minmax(x, skipna=True) == (float(np.nanmin(x)), float(np.nanmax(x)))
    assert red.nan_count(x) == int(np.isnan(x).sum()) == 2


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", [(3, 1439), (2, 5, 1001), (9000,), (3 * 4096 + 517,)])
def test_minmax_contiguous_and_strided_agree(dtype, shape):
    """A C-contiguous array takes one loop over all elements, a strided one goes chunk
    by chunk: same values, same results, also for a NaN in the last (partial) pass and
    for which signed zero is returned."""
    rng = np.random.default_rng(len(shape))
    x = rng.standard_normal(shape).astype(dtype)
    strided = np.empty(shape + (2,), dtype)[..., 0]
    assert not strided.flags.c_contiguous

    def both(a, skipna=False):
        strided[...] = a
        got = red.local_minmax(a, skipna=skipna)
        assert [math.copysign(1, v) for v in got] == \
            [math.copysign(1, v) for v in red.local_minmax(strided, skipna=skipna)]
        return got

    assert both(x) == (float(x.min()), float(x.max()))
    x.flat[-1] = np.nan
    assert all(math.isnan(v) for v in both(x))
    assert both(x, skipna=True) == (float(np.nanmin(x)), float(np.nanmax(x)))
    z = np.zeros(shape, dtype)
    z.flat[::3] = -0.0
    assert both(z) == (0.0, 0.0)


def test_minmax_identities_for_empty_input():
    assert red.local_minmax(np.array([])) == (np.inf, -np.inf)
    assert red.local_minmax(np.full(4, np.nan), skipna=True) == (np.inf, -np.inf)
    assert red.nan_count(np.array([])) == 0


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
    whole = red.local_sum_exact(x)
    bounds = [0] + sorted(min(c, x.size) for c in cuts) + [x.size]
    parts = [red.local_sum_exact(x[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]
    rnd.shuffle(parts)
    total = np.sum(parts, axis=0)  # what MPI.SUM over ranks does
    assert same(red.exact_sum_value(total), red.exact_sum_value(whole))
    assert same(red.exact_sum_value(whole), exact_ref(values))
    red.exact_sum_normalize(total)
    np.testing.assert_array_equal(total, whole)  # the normalised state is unique


def test_exact_sum_streaming_float32_and_strided():
    rng = np.random.default_rng(2)
    a = (rng.standard_normal((5, 30, 7)) * 1e20).astype(np.float32)[:, ::4, 1:]
    b = rng.standard_normal(100) * np.exp(rng.uniform(-600, 600, 100))
    acc = red.local_sum_exact(a)
    assert red.local_sum_exact(b, acc=acc) is acc
    expect = exact_ref(np.concatenate([a.astype(np.float64).ravel(), b]))
    assert red.exact_sum_value(acc) == expect


def test_exact_accumulator_checks():
    with pytest.raises(ValueError, match="shape"):
        red.exact_sum_value(np.zeros(5, dtype=np.int64))
    with pytest.raises(TypeError, match="int64"):
        red.exact_sum_value(np.zeros(red.EXACT_ACC_LEN))
    bad = np.zeros(red.EXACT_ACC_LEN, dtype=np.int64)
    bad[-1] = -1
    with pytest.raises(ValueError, match="counts"):
        red.exact_sum_value(bad)
    with pytest.raises(ValueError, match="shape"):
        red.local_sum_exact(np.ones(3), acc=np.zeros(3, dtype=np.int64))


def test_reductions_module_does_not_pull_in_mpi():
    assert "mpi4py" not in sys.modules or "clusterkit.comm" in sys.modules


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
    ref_sum = math.fsum(x64)
    abs_sum = math.fsum(np.abs(x64))
    s, c = red.local_sum_kahan(x)
    assert abs((s + c) - ref_sum) <= 2 * EPS * abs(ref_sum) + 4 * n * EPS**2 * abs_sum
    count, mean, m2 = red.local_moments(x)
    rc, rmean, rm2 = moments_ref(x64)
    assert count == rc
    assert abs(mean - rmean) <= 1e-14 * (abs(rmean) + abs_sum / max(n, 1))
    assert abs(m2 - rm2) <= 1e-12 * rm2 + 1e-300
    lo, hi = red.local_minmax(x)
    assert (lo, hi) == ((float(x.min()), float(x.max())) if n else (np.inf, -np.inf))
    assert red.exact_sum_value(red.local_sum_exact(x)) == exact_ref(x64)
    for view in layouts(x):  # bitwise the same for every layout
        assert red.local_sum_kahan(view) == (s, c)
        assert red.local_moments(view) == (count, mean, m2)
        assert red.local_moments(view, skipna=True) == (count, mean, m2)
        assert red.local_minmax(view) == (lo, hi)
        np.testing.assert_array_equal(red.local_sum_exact(view), red.local_sum_exact(x))


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
    lo, hi = red.local_minmax(x)
    assert math.isnan(lo) and math.isnan(hi)
    assert red.local_minmax(x, skipna=True) == (
        (float(good.min()), float(good.max())) if good.size else (np.inf, -np.inf))
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
    s, c = red.local_sum_kahan(x)
    assert math.isnan(s) and c == 0.0
    assert math.isnan(exact(x))
    for view in layouts(x):
        assert red.local_moments(view, skipna=True) == (count, mean, m2)
        assert red.nan_count(view) == n - good.size


def test_moments_large_offset_and_outlier_chunks():
    rng = np.random.default_rng(5)
    x = 1e9 + rng.standard_normal(3 * 4096 + 11)
    x[4096] = -1e9  # one outlier chunk
    count, mean, m2 = red.local_moments(x)
    rc, rmean, rm2 = moments_ref(x)
    assert count == rc
    assert math.isclose(mean, rmean, rel_tol=1e-14)
    assert math.isclose(m2, rm2, rel_tol=1e-12)


def test_kahan_lanes_keep_compensation():
    # every lane sees 1e16 then many 1.0 then -1e16: uncompensated lanes would lose the ones
    n = 64 * 50
    x = np.ones(n)
    x[:64] = 1e16
    x[-64:] = -1e16
    s, c = red.local_sum_kahan(x)
    assert s + c == n - 128


def test_minmax_infinities_and_signed_zero_are_deterministic():
    x = np.zeros(4096 + 3)
    x[::2] = -0.0
    lo, hi = red.local_minmax(x)
    assert lo == 0.0 and hi == 0.0
    assert red.local_minmax(x[::-1].copy()[::-1]) == (lo, hi)
    assert math.copysign(1, red.local_minmax(x)[0]) == math.copysign(1, lo)
    y = edge_data(5000, 3)
    y[4100] = np.inf
    y[17] = -np.inf
    assert red.local_minmax(y) == (-np.inf, np.inf)


def scalar_exact(x):
    """Accumulator built one element at a time (the slow path only)."""
    acc = np.zeros(red.EXACT_ACC_LEN, dtype=np.int64)
    for v in np.ravel(x):
        red.local_sum_exact(np.array([v]), acc=acc)
    return acc


@pytest.mark.parametrize("kind", ["uniform", "wide", "huge", "tiny", "small", "zeros", "mixed",
                                  "growing", "shrinking", "special"])
def test_exact_sum_chunked_fast_path_matches_elementwise(kind):
    rng = np.random.default_rng(len(kind))
    n = 2 * 4096 + 333
    if kind == "uniform":
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
    acc = red.local_sum_exact(x)
    np.testing.assert_array_equal(acc, scalar_exact(x))
    assert same(red.exact_sum_value(acc), exact_ref(x))
    np.testing.assert_array_equal(red.local_sum_exact(x[::-1]), acc)
    with np.errstate(over="ignore"):
        x32 = x.astype(np.float32)
    np.testing.assert_array_equal(red.local_sum_exact(x32), scalar_exact(x32.astype(np.float64)))


def test_lane_reductions_read_only_and_broadcast_inputs():
    x = edge_data(5000, 11)
    ro = x.copy()
    ro.flags.writeable = False
    wide = np.broadcast_to(x[:50], (100, 50))  # zero stride
    for a, b in ((ro, x), (wide, np.ascontiguousarray(wide))):
        assert red.local_sum_kahan(a) == red.local_sum_kahan(b)
        assert red.local_moments(a, skipna=True) == red.local_moments(b)
        assert red.local_minmax(a) == red.local_minmax(b)
        np.testing.assert_array_equal(red.local_sum_exact(a), red.local_sum_exact(b))


# ------------------------------------- pairwise sum: vectorised whole blocks vs a NumPy twin

def pairwise_twin(x):
    """local_sum's documented order in NumPy/Python: blocks of 128, 8 lanes, pairwise blocks."""
    flat = np.asarray(x, dtype=np.float64).ravel()  # C order
    partial = []
    for start in range(0, flat.size, red.BLOCK):
        v = flat[start:start + red.BLOCK]
        m = v.size - v.size % 8
        lanes = np.zeros(8)
        for row in v[:m].reshape(-1, 8):
            lanes = lanes + row  # each lane in order
        s = ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) + ((lanes[4] + lanes[5])
                                                             + (lanes[6] + lanes[7]))
        for y in v[m:]:
            s += y
        partial.append(s)
    stack = []
    for b, p in enumerate(partial):
        stack.append(p)
        c = b + 1
        while c & 1 == 0:
            right = stack.pop()
            stack[-1] = stack[-1] + right
            c >>= 1
    s = 0.0
    if stack:
        s = stack[-1]
        for p in stack[-2::-1]:
            s = p + s
    return s


@pytest.mark.parametrize("shape", [(0,), (5,), (127,), (128,), (129,), (1000,), (128 * 37 + 9,),
                                   (3, 128), (3, 300), (7, 129), (4, 5, 200), (2, 3, 4, 64)])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("parallel", [False, True])
def test_local_sum_matches_twin_bitwise(shape, dtype, parallel):
    rng = np.random.default_rng(sum(shape) + np.dtype(dtype).itemsize)
    size = int(np.prod(shape))
    x = (rng.standard_normal(size) * np.exp(rng.uniform(-30, 30, size))).astype(dtype)
    x = x.reshape(shape)
    expect = pairwise_twin(x)
    assert red.local_sum(x, parallel=parallel) == expect
    if x.ndim >= 2:  # rows with halos: whole blocks in a row read in place, the others gathered
        pad = [(0, 0)] * (x.ndim - 1) + [(1, 2)]
        ghosted = np.pad(x, pad, constant_values=np.nan)
        view = ghosted[..., 1:-2]
        assert red.local_sum(view, parallel=parallel) == expect
    strided = np.zeros(2 * size + 1, dtype=dtype)
    strided[1::2] = x.ravel()
    assert red.local_sum(strided[1::2], parallel=parallel) == expect


def test_full_block_sum_matches_block_sum():
    """The vector lanes (only inside jitted code) give block_sum's bits; strided: scalar."""
    import numba

    from clusterkit.kernels import _blocksum, _flat
    full = numba.njit(lambda v, start: _blocksum.full_block_sum(v, start))
    rng = np.random.default_rng(4)
    for dtype in (np.float64, np.float32):
        v = (rng.standard_normal(5 * _flat.BLOCK + 3) * 1e8).astype(dtype)
        v[7] = -0.0
        wide = np.zeros(2 * v.size, dtype=dtype)
        wide[::2] = v
        for start in (0, 1, 3 * _flat.BLOCK, 4 * _flat.BLOCK + 3):
            expect = _flat.block_sum(v[start:start + _flat.BLOCK])
            assert full(v, start) == expect  # vector lanes
            assert full(wide[::2], start) == expect  # strided: scalar lanes
    v = np.full(_flat.BLOCK, np.nan)
    assert math.isnan(full(v, 0))
    v = np.zeros(_flat.BLOCK)
    v[5] = np.inf
    assert full(v, 0) == np.inf
    v[6] = -np.inf
    assert math.isnan(full(v, 0))


# ------------------------------- moments: one shifted pass per chunk, two passes as fallback

@pytest.mark.parametrize("skipna", [False, True])
def test_moments_over_many_chunks_with_level_jumps(skipna):
    """Each chunk after the first is summed in one pass, shifted by the previous chunk's
    mean; levels that jump between chunks (and NaNs) must not cost accuracy."""
    c = red._MCHUNK
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
    x = 1e160 * (1.0 + 1e-10 * rng.standard_normal(3 * red._MCHUNK))
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
    la, lb, lc = np.empty(red.LANES), np.empty(red.LANES), np.empty(red.LANES)
    count, mean, m2 = red._chunk_moments(w, skipna, shift, la, lb, lc, w[:0])
    rc, rmean, rm2 = moments_ref(w[~np.isnan(w)])
    assert count == rc
    assert math.isclose(mean, rmean, rel_tol=1e-14)
    assert math.isclose(m2, rm2, rel_tol=1e-9), (m2, rm2)


def test_chunk_and_flat_views():
    """chunk_view gives the C-order elements (a view of a C-contiguous array, across rows
    too; a copy of a strided one), chunk_ahead a view only when it is one, flat_view all
    elements of a C-contiguous array; the same compiled and in Python."""
    import numba

    from clusterkit.kernels import _flat

    @numba.njit
    def views(x, start, length, buf):
        return (_flat.chunk_view(x, start, min(length, x.size - start), buf).copy(),
                _flat.chunk_ahead(x, start, length, buf).copy(),  # clips the length itself
                _flat.flat_view(x, buf).copy())

    c = np.arange(3 * 5 * 7, dtype=np.float64).reshape(3, 5, 7)
    strided = np.empty((3, 5, 14))[:, :, ::2]
    strided[...] = c
    buf = np.full(40, -1.0)
    for run in (views, getattr(views, "py_func", views)):  # compiled, then Python
        for x in (c, strided):
            for start, length in ((0, 7), (3, 20), (33, 40), (100, 5), (104, 9)):
                chunk, ahead, flat = run(x, start, length, buf)
                length = min(length, x.size - start)
                np.testing.assert_array_equal(chunk, c.ravel()[start:start + length])
                if x is c:
                    np.testing.assert_array_equal(ahead, chunk)
                    np.testing.assert_array_equal(flat, c.ravel())
                else:
                    assert ahead.size == 0 and flat.size == 0
    assert np.shares_memory(_flat.chunk_view(c, 3, 20, buf), c)
    assert not np.shares_memory(_flat.chunk_view(strided, 3, 20, buf), strided)
