"""The grouped sums/counts/extremes kernel against a NumPy twin, fed in uneven time chunks:
NaN, packed input, steps in no group, groups absent from a chunk, several groupings, the
threaded variant, rows wider than a tile; and GroupStats' means against NumPy."""

import numpy as np
import pytest

from clusterkit.kernels import GroupStats, accumulate_groups


def numpy_twin(v, ids, ngroups, xids=None, nx_groups=0):
    """Sums, counts (and minima, maxima) per group of the decoded values ``v`` (NaN =
    missing), step by step."""
    shape = v.shape[1:]
    s, c = np.zeros((ngroups,) + shape), np.zeros((ngroups,) + shape)
    lo, hi = np.full((nx_groups,) + shape, np.inf), np.full((nx_groups,) + shape, -np.inf)
    ok = ~np.isnan(v)
    for k in range(ids.shape[0]):
        for t in range(v.shape[0]):
            g = ids[k, t]
            if g >= 0:
                s[g] += np.where(ok[t], v[t], 0.0)
                c[g] += ok[t]
            if xids is not None and xids[k, t] >= 0:
                h = xids[k, t]
                lo[h] = np.fmin(lo[h], np.where(ok[t], v[t], np.inf))
                hi[h] = np.fmax(hi[h], np.where(ok[t], v[t], -np.inf))
    return s, c, lo, hi


def _data(shape, dtype, seed):
    rng = np.random.default_rng(seed)
    x = (280 + 10 * rng.standard_normal(shape)).astype(dtype)
    x[rng.random(shape) < 0.3] = np.nan
    x[:, :, 0, 0] = np.nan            # a point never valid
    x[1:, :, -1, -1] = np.nan         # a point valid once
    return x, rng


def _feed(x, ids, xids, g, h, rng, parallel, decode=None):
    gsum, gcnt = np.zeros((g,) + x.shape[1:]), np.zeros((g,) + x.shape[1:])
    gmin = gmax = None
    if xids is not None:
        gmin = np.full((h,) + x.shape[1:], np.inf)
        gmax = np.full((h,) + x.shape[1:], -np.inf)
    nt = x.shape[0]
    cuts = sorted({0, nt, *rng.integers(0, nt, size=3).tolist()})
    for a, b in zip(cuts[:-1], cuts[1:]):
        accumulate_groups(x[a:b], ids[:, a:b], gsum, gcnt, gmin=gmin, gmax=gmax,
                          xids=None if xids is None else xids[:, a:b], decode=decode,
                          parallel=parallel)
    return gsum, gcnt, gmin, gmax


# The kernels' code does not depend on the dtype (it only changes the signature): each
# dtype with one variant, each variant with one dtype (float32 serial, float64 threaded),
# every shape, with and without extremes, with both.
VARIANT_DTYPES = [(False, "f4"), (True, "f8")]


@pytest.mark.parametrize("shape", [(17, 1, 5, 7), (30, 2, 3, 11), (5, 1, 1, 1), (40, 3, 2, 13)])
@pytest.mark.parametrize("parallel, dtype", VARIANT_DTYPES)
@pytest.mark.parametrize("extremes", [False, True])
def test_grouped_sums_match_numpy(shape, dtype, parallel, extremes):
    """Three groupings at once: runs (monthly-like, with steps in no group), shuffled ids
    (every run one step long) and one group that skips the chunk's middle."""
    x, rng = _data(shape, dtype, sum(shape))
    nt = shape[0]
    runs = np.sort(rng.integers(0, 5, size=nt))
    runs[rng.random(nt) < 0.2] = -1
    shuffled = rng.integers(-1, 3, size=nt)
    middle = np.where((np.arange(nt) < nt // 3) | (np.arange(nt) > 2 * nt // 3), 0, -1)
    ids = np.stack([runs, shuffled + 5, np.where(middle >= 0, 8, -1)])
    xids = np.stack([runs, np.full(nt, -1), np.where(middle >= 0, 5, -1)]) if extremes \
        else None
    gsum, gcnt, gmin, gmax = _feed(x, ids, xids, 9, 6, rng, parallel)
    s, c, lo, hi = numpy_twin(x.astype(np.float64), ids, 9, xids, 6)
    np.testing.assert_allclose(gsum, s, rtol=1e-12, atol=1e-9)
    np.testing.assert_array_equal(gcnt, c)
    if extremes:
        np.testing.assert_array_equal(gmin, lo)
        np.testing.assert_array_equal(gmax, hi)


def test_groups_absent_from_a_chunk_are_untouched():
    x, rng = _data((12, 1, 3, 4), "f4", 5)
    gsum, gcnt = np.full((4, 1, 3, 4), 7.0), np.full((4, 1, 3, 4), 2.0)
    gmin, gmax = np.full((4, 1, 3, 4), -5.0), np.full((4, 1, 3, 4), 500.0)
    ids = np.array([1] * 6 + [2] * 6)
    accumulate_groups(x, ids, gsum, gcnt, gmin=gmin, gmax=gmax, xids=ids)
    for g in (0, 3):
        assert (gsum[g] == 7.0).all() and (gcnt[g] == 2.0).all()
        assert (gmin[g] == -5.0).all() and (gmax[g] == 500.0).all()
    s, c, _, _ = numpy_twin(x.astype(np.float64), ids[None], 4)
    np.testing.assert_allclose(gsum[1:3], 7.0 + s[1:3], rtol=1e-12)
    np.testing.assert_array_equal(gcnt[1:3], 2.0 + c[1:3])


def test_steps_in_no_group_are_not_read():
    """A run no grouping takes is skipped, not read: garbage there changes nothing."""
    x, _ = _data((10, 1, 2, 3), "f8", 6)
    ids = np.array([-1, -1, 0, 0, 0, -1, 1, 1, -1, -1])
    a = [np.zeros((2, 1, 2, 3)) for _ in range(2)]
    b = [np.zeros((2, 1, 2, 3)) for _ in range(2)]
    accumulate_groups(x, ids, *a)
    y = x.copy()
    y[ids < 0] = np.inf
    accumulate_groups(y, ids, *b)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


@pytest.mark.parametrize("parallel", [False, True])
def test_packed_values_are_decoded_in_the_kernel(parallel):
    rng = np.random.default_rng(7)
    raw = rng.integers(-3000, 3000, size=(13, 2, 3, 5)).astype(np.int16)
    raw[rng.random(raw.shape) < 0.2] = -32767
    raw[0, 0, 0, :2] = 9999                      # a second missing value
    scale, offset = 0.01, 280.0
    ref = np.where((raw == -32767) | (raw == 9999), np.nan, raw * scale + offset)
    ids = (np.arange(13) // 5)[None]            # runs of 5, 5 and 3
    g = _feed(raw, ids, ids, 3, 3, np.random.default_rng(1), parallel,
              decode=(scale, offset, (-32767, 9999)))
    h = _feed(ref, ids, ids, 3, 3, np.random.default_rng(1), parallel)   # same chunks
    for a, b in zip(g, h):
        np.testing.assert_array_equal(a, b)
    s, c, lo, hi = numpy_twin(ref, ids, 3, ids, 3)
    np.testing.assert_allclose(g[0], s, rtol=1e-12)
    np.testing.assert_array_equal(g[3], hi)


def test_rows_longer_than_one_tile():
    from clusterkit.kernels._tuning import GROUP_TILE_COLUMNS
    x, rng = _data((9, 1, 2, GROUP_TILE_COLUMNS + 5), "f8", 3)
    ids = np.array([[0, 0, 0, 0, 0, 1, 1, 1, 1]])
    for parallel in (False, True):
        gsum, gcnt, gmin, gmax = _feed(x, ids, ids, 2, 2, rng, parallel)
        s, c, lo, hi = numpy_twin(x, ids, 2, ids, 2)
        np.testing.assert_allclose(gsum, s, rtol=1e-12)
        np.testing.assert_array_equal(gcnt, c)
        np.testing.assert_array_equal(gmin, lo)
        np.testing.assert_array_equal(gmax, hi)


def test_group_stats_results():
    x, rng = _data((40, 2, 3, 4), "f4", 11)
    season = np.sort(rng.integers(0, 4, size=40))
    year = np.arange(40) // 15
    month = np.arange(40) // 4
    month[:7] = -1                              # outside a base period
    gs = GroupStats((2, 3, 4), {"season": (4, False), "year": (3, True), "base": (10, False)})
    gs.feed(x[:17], {"season": season[:17], "year": year[:17], "base": month[:17]})
    gs.feed(x[17:], {"season": season[17:], "year": year[17:], "base": month[17:]},
            parallel=True)
    out = gs.results()
    v = x.astype(np.float64)
    with np.errstate(invalid="ignore"), pytest.warns(RuntimeWarning):
        for name, ids, g in (("season", season, 4), ("year", year, 3), ("base", month, 10)):
            for k in range(g):
                np.testing.assert_allclose(out[name]["mean"][k], np.nanmean(v[ids == k], 0),
                                           rtol=1e-12, err_msg=f"{name} {k}")
                np.testing.assert_array_equal(out[name]["count"][k],
                                              (~np.isnan(v[ids == k])).sum(0))
        for k in range(3):
            np.testing.assert_array_equal(out["year"]["min"][k], np.nanmin(v[year == k], 0))
            np.testing.assert_array_equal(out["year"]["max"][k], np.nanmax(v[year == k], 0))
    assert "min" not in out["season"]
    with pytest.raises(RuntimeError, match="already called"):
        gs.results()
    with pytest.raises(RuntimeError, match="after results"):
        gs.feed(x[:1], {"season": season[:1], "year": year[:1], "base": month[:1]})
    assert np.isnan(out["year"]["mean"][:, :, 0, 0]).all()
    assert np.isnan(out["year"]["min"][:, :, 0, 0]).all()
    assert GroupStats.nbytes((2, 3, 4), gs.groupings) == 8 * 24 * (2 * 4 + 4 * 3 + 2 * 10)
    assert gs.sum.nbytes + gs.cnt.nbytes + gs.min.nbytes + gs.max.nbytes == \
        GroupStats.nbytes((2, 3, 4), gs.groupings)


def test_bad_arguments():
    x = np.zeros((4, 1, 2, 3))
    s, c = np.zeros((2, 1, 2, 3)), np.zeros((2, 1, 2, 3))
    with pytest.raises(ValueError, match=r"ids must be in -1..1"):
        accumulate_groups(x, [0, 1, 2, 0], s, c)
    with pytest.raises(ValueError, match=r"ids must have shape \(4,\)"):
        accumulate_groups(x, [0, 1], s, c)
    with pytest.raises(TypeError, match="ids must be integers"):
        accumulate_groups(x, [0.0, 1, 1, 0], s, c)
    with pytest.raises(ValueError, match="gcnt must have shape"):
        accumulate_groups(x, [0, 1, 1, 0], s, np.zeros((3, 1, 2, 3)))
    with pytest.raises(ValueError, match="go together"):
        accumulate_groups(x, [0, 1, 1, 0], s, c, gmin=s.copy())
    with pytest.raises(TypeError, match="gsum must have dtype float64"):
        accumulate_groups(x, [0, 1, 1, 0], s.astype(np.float32), c)
    with pytest.raises(ValueError, match="xids must be in"):
        accumulate_groups(x, [0, 1, 1, 0], s, c, gmin=np.zeros((1, 1, 2, 3)),
                          gmax=np.zeros((1, 1, 2, 3)), xids=[0, 1, 1, 0])
    gs = GroupStats((1, 2, 3), {"year": (2, True)})
    with pytest.raises(ValueError, match="ids must name the groupings"):
        gs.feed(x, {"season": [0, 0, 0, 0]})
    with pytest.raises(ValueError, match=r"ids\['year'\] must be"):
        gs.feed(x, {"year": [0, 0, 0, 2]})
