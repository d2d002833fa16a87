"""The one-pass climate statistics kernel against NumPy twins, fed in uneven time chunks."""

import numpy as np
import pytest

from clusterkit.kernels import TimeStats, accumulate_time_stats


def numpy_twin(x, month, ty):
    """Independent NumPy computation of every statistic over the whole time axis."""
    import warnings
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        valid = ~np.isnan(x)
        n = valid.sum(0)
        out = {"time_mean": np.nanmean(x, 0), "time_std": np.nanstd(x, 0),
               "time_min": np.nanmin(x, 0), "time_max": np.nanmax(x, 0)}
        T = np.broadcast_to(ty[:, None, None, None], x.shape)
        tm = np.nansum(np.where(valid, T, 0), 0) / n
        xm = np.nanmean(x, 0)
        cov = np.nansum(np.where(valid, (T - tm) * (x - xm), 0), 0)
        var_t = np.nansum(np.where(valid, (T - tm) ** 2, 0), 0)
        out["trend"] = np.where((n >= 2) & (var_t > 0), cov / var_t, np.nan)
        out["climatology"] = np.stack([np.nanmean(np.where((month == m)[:, None, None, None],
                                                           x, np.nan), 0) for m in range(12)])
        zs = np.nansum(x, axis=3)
        zc = valid.sum(3).astype(float)
    return out, zs, zc


# The kernels' code does not depend on the dtype (it only changes the signature): each
# dtype with one variant, each variant with one dtype (float32 serial, float64 threaded),
# every shape and month order with both.
VARIANT_DTYPES = [(False, "f4"), (True, "f8")]


@pytest.mark.parametrize("shape", [(17, 1, 5, 7), (30, 2, 3, 11), (5, 1, 1, 1), (40, 3, 2, 13)])
@pytest.mark.parametrize("parallel, dtype", VARIANT_DTYPES)
@pytest.mark.parametrize("months", ["shuffled", "runs"])
def test_chunked_accumulation_matches_numpy(shape, dtype, parallel, months):
    """Shuffled months take the one-step path; sorted runs mostly the four-step one."""
    rng = np.random.default_rng(sum(shape))
    x = (280 + 10 * rng.standard_normal(shape)).astype(dtype)
    x[rng.random(shape) < 0.3] = np.nan
    x[:, :, 0, 0] = np.nan           # a point never valid
    x[1:, :, -1, -1] = np.nan        # a point valid once
    month = rng.integers(0, 12, size=shape[0])
    if months == "runs":
        month = np.sort(rng.integers(0, 4, size=shape[0]))
    ty = np.cumsum(rng.random(shape[0])) / 3.0 - 2.0
    stats = TimeStats.from_first_chunk(x[:3])
    zs = np.empty((shape[0],) + shape[1:3])
    zc = np.empty_like(zs)
    cuts = sorted({0, shape[0], *rng.integers(0, shape[0], size=3).tolist()})
    for a, b in zip(cuts[:-1], cuts[1:]):
        accumulate_time_stats(x[a:b], month[a:b], ty[a:b], stats, zs[a:b], zc[a:b],
                              parallel=parallel)
    ref, zs_ref, zc_ref = numpy_twin(x.astype(np.float64), month, ty)
    got = stats.results()
    for name, want in ref.items():
        np.testing.assert_allclose(got[name], want, rtol=1e-10, atol=1e-9, err_msg=name)
    np.testing.assert_allclose(zs, zs_ref, rtol=1e-12)
    np.testing.assert_array_equal(zc, zc_ref)


def test_shifted_sums_keep_precision_for_large_offsets():
    """Values 1e6 ± 1e-3: naive float64 sums of squares would lose the variance."""
    rng = np.random.default_rng(1)
    x = (1e6 + 1e-3 * rng.standard_normal((200, 1, 1, 4)))
    stats = TimeStats.from_first_chunk(x[:10])
    zs = np.empty((200, 1, 1))
    accumulate_time_stats(x, np.zeros(200, int), np.linspace(-1, 1, 200), stats, zs,
                          np.empty_like(zs))
    np.testing.assert_allclose(stats.results()["time_std"], x.std(0), rtol=1e-6)


def test_bad_arguments():
    stats = TimeStats((1, 2, 3))
    zs = np.zeros((4, 1, 2))
    with pytest.raises(ValueError, match="does not match accumulators"):
        accumulate_time_stats(np.zeros((4, 1, 2, 4)), np.zeros(4, int), np.zeros(4), stats,
                              zs, zs.copy())
    with pytest.raises(ValueError, match="month indices must be in 0..11"):
        accumulate_time_stats(np.zeros((4, 1, 2, 3)), np.full(4, 12), np.zeros(4), stats,
                              zs, zs.copy())
    with pytest.raises(TypeError):
        accumulate_time_stats(np.zeros((4, 1, 2, 3), int), np.zeros(4, int), np.zeros(4),
                              stats, zs, zs.copy())


def test_in_kernel_decoding_of_packed_values_matches_decode_then_accumulate():
    rng = np.random.default_rng(7)
    raw = rng.integers(-3000, 3000, size=(12, 1, 3, 5)).astype(np.int16)
    raw[rng.random(raw.shape) < 0.2] = -32767
    raw[0, 0, 0, :2] = 9999                      # a second missing value
    scale, offset = 0.01, 280.0
    ref = raw.astype(np.float64) * scale + offset
    ref = np.where((raw == -32767) | (raw == 9999), np.nan, ref).astype(np.float64)
    month, tc = np.arange(12) // 5, np.linspace(-1, 1, 12)   # runs of 5, 5 and 2
    a = TimeStats((1, 3, 5))
    b = TimeStats((1, 3, 5))
    za, zb = np.empty((12, 1, 3)), np.empty((12, 1, 3))
    accumulate_time_stats(raw, month, tc, a, za, za.copy(),
                          decode=(scale, offset, (-32767, 9999)))
    accumulate_time_stats(ref, month, tc, b, zb, zb.copy())
    for k, v in a.results().items():
        np.testing.assert_array_equal(v, b.results()[k], err_msg=k)
    shift_raw = TimeStats.from_first_chunk(raw, decode=(scale, offset, (-32767, 9999))).shift
    np.testing.assert_allclose(shift_raw, np.nan_to_num(np.nanmean(ref, axis=0)), rtol=1e-14)
    with pytest.raises(ValueError, match="at most two missing values"):
        accumulate_time_stats(raw, month, tc, a, za, za.copy(), decode=(1, 0, (1, 2, 3)))


def test_rows_longer_than_one_tile():
    """Rows wider than the kernel's lon tile are split; the split must not show."""
    from clusterkit.kernels._tuning import CLIMATE_TILE_COLUMNS
    rng = np.random.default_rng(3)
    shape = (9, 1, 2, CLIMATE_TILE_COLUMNS + 5)
    x = 280 + rng.standard_normal(shape)
    x[rng.random(shape) < 0.1] = np.nan
    month = np.array([0, 0, 0, 0, 0, 1, 1, 1, 1])
    ty = np.linspace(-1, 1, 9)
    stats = TimeStats.from_first_chunk(x)
    zs, zc = np.empty(shape[:3]), np.empty(shape[:3])
    accumulate_time_stats(x, month, ty, stats, zs, zc)
    ref, zs_ref, zc_ref = numpy_twin(x, month, ty)
    got = stats.results()
    for name, want in ref.items():
        np.testing.assert_allclose(got[name], want, rtol=1e-10, atol=1e-9, err_msg=name)
    np.testing.assert_allclose(zs, zs_ref, rtol=1e-12)
    np.testing.assert_array_equal(zc, zc_ref)


@pytest.mark.parametrize("parallel", [False, True])
@pytest.mark.parametrize("out_dtype", ["f4", "f8"])
def test_anomalies_match_numpy(parallel, out_dtype):
    from clusterkit.kernels import climate_anomalies
    rng = np.random.default_rng(11)
    raw = rng.integers(-3000, 3000, size=(9, 2, 3, 5)).astype(np.int16)
    raw[rng.random(raw.shape) < 0.2] = -32767
    scale, offset = 0.01, 280.0
    x = np.where(raw == -32767, np.nan, raw * scale + offset)
    month = np.array([0, 0, 1, 1, 1, 5, 5, 11, 0])
    clim = rng.normal(280, 5, size=(12, 2, 3, 5))
    want = (x - clim[month]).astype(out_dtype)
    for values, decode in ((raw, (scale, offset, (-32767,))), (x, None)):
        out = np.empty(x.shape, out_dtype)
        climate_anomalies(values, month, clim, out, decode=decode, parallel=parallel)
        np.testing.assert_array_equal(out, want)
    with pytest.raises(ValueError, match="shapes do not fit"):
        climate_anomalies(x, month[:3], clim, np.empty(x.shape))


def weighted_twin(x, weights):
    """NumPy twin of the weighted row sums: Σ_x w·v and Σ_x w over the valid values."""
    valid = ~np.isnan(x)
    return (np.where(valid, x * weights, 0).sum(axis=3),
            np.where(valid, weights, 0.0).sum(axis=3))


@pytest.mark.parametrize("shape", [(17, 1, 5, 7), (30, 2, 3, 11), (5, 1, 1, 1), (9, 3, 4, 13)])
@pytest.mark.parametrize("parallel, dtype", VARIANT_DTYPES)
@pytest.mark.parametrize("months", ["shuffled", "runs"])
def test_weighted_row_sums_match_numpy(shape, dtype, parallel, months):
    """With ``weights`` the same pass adds Σ w·v and Σ w per row (both the one-step and
    the four-step paths); every other output is what the unweighted call gives."""
    rng = np.random.default_rng(sum(shape) + 1)
    x = (280 + 10 * rng.standard_normal(shape)).astype(dtype)
    x[rng.random(shape) < 0.3] = np.nan
    month = rng.integers(0, 12, size=shape[0]) if months == "shuffled" else \
        np.sort(rng.integers(0, 3, size=shape[0]))
    ty = np.linspace(-1, 1, shape[0])
    w = rng.uniform(0, 2, shape[2:])
    a, b = TimeStats.from_first_chunk(x), TimeStats.from_first_chunk(x)
    za, ca, zb, cb, ws, wc = (np.empty((shape[0],) + shape[1:3]) for _ in range(6))
    cuts = sorted({0, shape[0], *rng.integers(0, shape[0], size=2).tolist()})
    for t0, t1 in zip(cuts[:-1], cuts[1:]):
        accumulate_time_stats(x[t0:t1], month[t0:t1], ty[t0:t1], a, za[t0:t1], ca[t0:t1],
                              parallel=parallel)
        accumulate_time_stats(x[t0:t1], month[t0:t1], ty[t0:t1], b, zb[t0:t1], cb[t0:t1],
                              parallel=parallel, weights=w, wsum=ws[t0:t1], wcnt=wc[t0:t1])
    want_s, want_c = weighted_twin(x.astype(np.float64), w)
    np.testing.assert_allclose(ws, want_s, rtol=1e-12)
    np.testing.assert_allclose(wc, want_c, rtol=1e-12)
    np.testing.assert_array_equal(za, zb)
    np.testing.assert_array_equal(ca, cb)
    for name, value in a.results().items():
        np.testing.assert_array_equal(value, b.results()[name], err_msg=name)


def test_weighted_sums_of_packed_values():
    rng = np.random.default_rng(5)
    raw = rng.integers(-3000, 3000, size=(8, 2, 3, 5)).astype(np.int16)
    raw[rng.random(raw.shape) < 0.2] = -32767
    x = np.where(raw == -32767, np.nan, raw * 0.01 + 280.0)
    w = rng.uniform(0, 1, (3, 5))
    zs, zc, ws, wc = (np.empty((8, 2, 3)) for _ in range(4))
    accumulate_time_stats(raw, np.arange(8) // 4, np.linspace(-1, 1, 8), TimeStats((2, 3, 5)),
                          zs, zc, decode=(0.01, 280.0, (-32767,)), weights=w, wsum=ws,
                          wcnt=wc)
    want_s, want_c = weighted_twin(x, w)
    np.testing.assert_allclose(ws, want_s, rtol=1e-12)
    np.testing.assert_allclose(wc, want_c, rtol=1e-12)


def test_bad_weights_arguments():
    stats = TimeStats((1, 2, 3))
    x, month, tc = np.zeros((4, 1, 2, 3)), np.zeros(4, int), np.zeros(4)
    zs = np.zeros((4, 1, 2))
    with pytest.raises(ValueError, match=r"weights must have shape \(2, 3\)"):
        accumulate_time_stats(x, month, tc, stats, zs, zs.copy(), weights=np.ones((3, 2)),
                              wsum=zs.copy(), wcnt=zs.copy())
    with pytest.raises(ValueError, match="wsum is required with weights"):
        accumulate_time_stats(x, month, tc, stats, zs, zs.copy(), weights=np.ones((2, 3)))
    with pytest.raises(ValueError, match="pass weights"):
        accumulate_time_stats(x, month, tc, stats, zs, zs.copy(), wsum=zs.copy())
    with pytest.raises(ValueError, match=r"wcnt must have shape \(4, 1, 2\)"):
        accumulate_time_stats(x, month, tc, stats, zs, zs.copy(), weights=np.ones((2, 3)),
                              wsum=zs.copy(), wcnt=np.zeros((3, 1, 2)))
    with pytest.raises(TypeError):
        accumulate_time_stats(x, month, tc, stats, zs, zs.copy(),
                              weights=np.ones((2, 3), np.float32), wsum=zs.copy(),
                              wcnt=zs.copy())
