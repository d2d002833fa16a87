"""MPI tests of DistArray movement (scatter/gather/redistribute) and reductions vs NumPy."""

import math

import numpy as np
import pytest

from clusterkit.grid import Grid
from clusterkit.testing import assert_all, assert_allclose_all, assert_equal_all

pytestmark = pytest.mark.mpi

SHAPES = [(13,), (7, 5), (3, 11), (2, 3), (17, 19), (5, 3, 7), (4, 6, 5), (3, 2, 5, 4)]
DTYPES = ["f8", "f4", "i8"]


def global_array(shape, dtype, seed=0, nans=False):
    """The same pseudo-random global array on every rank."""
    rng = np.random.default_rng(seed)
    if np.dtype(dtype).kind == "i":
        return rng.integers(-1000, 1000, size=shape).astype(dtype)
    G = rng.normal(10.0, 3.0, size=shape).astype(dtype)
    if nans:
        G[rng.random(shape) < 0.2] = np.nan
    return G


def grid_or_skip(comm, shape, **kw):
    try:
        return Grid(shape, comm=comm, **kw)
    except ValueError as exc:
        assert_all("no process grid" in str(exc), str(exc), comm)
        pytest.skip(f"{shape} cannot be split over {comm.Get_size()} ranks")


def distribute(comm, G, **kw):
    grid = grid_or_skip(comm, G.shape, **kw)
    return grid.scatter(G if comm.Get_rank() == 0 else None)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_scatter_gather_allgather_roundtrip(comm, shape, dtype):
    G = global_array(shape, dtype)
    u = distribute(comm, G, halo=1)
    assert_equal_all(u.interior, G[u.grid.local_slices], comm)
    back = u.gather(root=comm.Get_size() - 1)
    if comm.Get_rank() == comm.Get_size() - 1:
        assert_equal_all(back, G, comm)
    else:
        assert_all(back is None, "gather returned data off the root", comm)
    assert_equal_all(u.allgather(), G, comm)
    assert_all(u.allgather().dtype == np.dtype(dtype), "dtype changed", comm)


@pytest.mark.parametrize("shape", [(7, 9, 11), (4, 5, 3), (13, 2, 3)])
def test_redistribute_latlon_blocks_to_time_split_and_back(comm, shape):
    G = global_array(shape, "f8")
    u = distribute(comm, G, keep=(0,), halo=(0, 1, 1))
    timesplit = grid_or_skip(comm, shape, dims=(comm.Get_size(), 1, 1))
    t = u.redistribute(timesplit)
    assert_equal_all(t.interior, G[timesplit.local_slices], comm)
    back = t.redistribute(u.grid)
    assert_equal_all(back.interior, u.interior, comm)


def test_redistribute_shape_mismatch_raises_everywhere(comm):
    u = distribute(comm, global_array((8, 8), "f8"))
    other = grid_or_skip(comm, (8, 9))
    with pytest.raises(ValueError, match="cannot redistribute"):
        u.redistribute(other)


def test_scatter_wrong_shape_raises_everywhere(comm):
    grid = grid_or_skip(comm, (6, 6))
    with pytest.raises(ValueError, match="cannot scatter an array of shape"):
        grid.scatter(np.zeros((5, 6)) if comm.Get_rank() == 0 else None)


AXES = [None, 0, -1, (0, 1), (1,)]


@pytest.mark.parametrize("shape", [(13, 7), (3, 11), (17, 19), (5, 3, 7), (2, 3)])
@pytest.mark.parametrize("axis", AXES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("halo", [0, 1])
def test_reductions_match_numpy(comm, shape, axis, dtype, halo):
    """(``halo=1``: the kernels read an interior with ghost cells, rows that do not merge.)"""
    G = global_array(shape, dtype, seed=3)
    u = distribute(comm, G, halo=halo)
    G64 = G.astype(np.float64)
    rtol = 1e-5 if dtype == "f4" else 1e-12
    checks = {
        "sum": (u.sum(axis=axis, replicate=True), G64.sum(axis=axis)),
        "mean": (u.mean(axis=axis, replicate=True), G64.mean(axis=axis)),
        "min": (u.min(axis=axis, replicate=True), G.min(axis=axis)),
        "max": (u.max(axis=axis, replicate=True), G.max(axis=axis)),
        "var": (u.var(axis=axis, replicate=True), G64.var(axis=axis)),
        "std": (u.std(axis=axis, ddof=1, replicate=True), G64.std(axis=axis, ddof=1)),
    }
    if axis is None:
        for name, (got, _) in checks.items():
            assert_all(np.ndim(got) == 0, f"{name} of everything is not a scalar", comm)
    for name, (got, want) in checks.items():
        assert_allclose_all(np.asarray(got, dtype=np.float64), want, rtol=rtol, atol=1e-9,
                            comm=comm, err_msg=name)


@pytest.mark.parametrize("shape", [(13, 7), (17, 19), (5, 3, 7)])
@pytest.mark.parametrize("axis", AXES)
@pytest.mark.parametrize("halo", [0, 1])
def test_nan_skipping_reductions_match_numpy(comm, shape, axis, halo):
    G = global_array(shape, "f8", seed=4, nans=True)
    G[0] = np.nan  # an all-NaN slice along every axis that contains index 0 of axis 0
    u = distribute(comm, G, halo=halo)
    with np.errstate(all="ignore"), _nowarn():
        want = {"sum": np.nansum(G, axis=axis), "mean": np.nanmean(G, axis=axis),
                "min": np.nanmin(G, axis=axis), "max": np.nanmax(G, axis=axis),
                "var": np.nanvar(G, axis=axis), "std": np.nanstd(G, axis=axis)}
    for name, ref in want.items():
        got = getattr(u, name)(axis=axis, skipna=True, **({} if axis is None else
                                                           {"replicate": True}))
        assert_allclose_all(np.asarray(got), ref, rtol=1e-12, atol=1e-12, comm=comm,
                            err_msg=name)
    # without skipna, NaN propagates like NumPy
    for name in ("sum", "mean", "min", "max", "var"):
        got = getattr(u, name)(axis=axis, **({} if axis is None else {"replicate": True}))
        ref = getattr(np, name)(G, axis=axis)
        assert_equal_all(np.isnan(np.asarray(got)), np.isnan(ref), comm=comm)


class _nowarn:
    def __enter__(self):
        import warnings
        self._w = warnings.catch_warnings()
        self._w.__enter__()
        warnings.simplefilter("ignore")

    def __exit__(self, *exc):
        return self._w.__exit__(*exc)


@pytest.mark.parametrize("skipna", [False, True])
def test_weighted_mean_like_xarray(comm, skipna):
    """cos(latitude)-weighted global and zonal means of a (time, lat, lon) field."""
    nt, ny, nx = 4, 13, 10
    G = global_array((nt, ny, nx), "f8", seed=6, nans=skipna)
    lat = np.linspace(-90, 90, ny)
    w = np.cos(np.deg2rad(lat))
    u = distribute(comm, G, keep=(0,))
    got = u.mean(axis=(1, 2), skipna=skipna, weights=w, weights_axis=1, replicate=True)
    W = np.broadcast_to(w[None, :, None], G.shape)
    valid = ~np.isnan(G) if skipna else np.ones(G.shape, bool)
    ref = np.nansum(np.where(valid, G * W, 0), axis=(1, 2)) / np.sum(np.where(valid, W, 0),
                                                                      axis=(1, 2))
    if not skipna:
        ref = np.average(G, axis=(1, 2), weights=W)
    assert_allclose_all(got, ref, rtol=1e-12, comm=comm)
    zonal = u.mean(axis=2, skipna=skipna, replicate=True)
    assert_allclose_all(zonal, np.nanmean(G, axis=2) if skipna else G.mean(axis=2),
                        rtol=1e-12, comm=comm)


@pytest.mark.parametrize("axis", [(0, 1, 2), (1, 2), (0, 2)])
def test_weighted_mean_leaves_out_infinite_cells_of_weight_zero(comm, axis):
    """With skipna, a cell of weight 0 adds nothing even when it is +-inf (as xarray's
    weighted mean, where 0 * inf is a NaN it skips); without skipna the result is NaN."""
    nt, ny, nx = 3, 7, 5
    G = global_array((nt, ny, nx), "f8", seed=16, nans=True)
    G[1, 0, 2], G[2, 6, 0] = np.inf, -np.inf  # at the poles, where cos(lat) is set to 0
    w = np.cos(np.deg2rad(np.linspace(-90, 90, ny)))
    w[0] = w[-1] = 0.0
    u = distribute(comm, G)
    got = u.mean(axis=axis, skipna=True, weights=w, weights_axis=1,
                 **({} if len(axis) == 3 else {"replicate": True}))
    W = np.broadcast_to(w[None, :, None], G.shape)
    keep = ~np.isnan(G) & (W != 0)
    with _nowarn():
        ref = (np.sum(np.where(keep, G * W, 0), axis=axis)
               / np.sum(np.where(keep, W, 0), axis=axis))
    assert_allclose_all(np.asarray(got), ref, rtol=1e-12, comm=comm)
    got = u.mean(axis=axis, weights=w, weights_axis=1,
                 **({} if len(axis) == 3 else {"replicate": True}))
    with _nowarn():
        ref = np.sum(G * W, axis=axis) / np.sum(W, axis=axis)
    assert_equal_all(np.isnan(np.asarray(got)), np.isnan(ref), comm=comm)


def test_partial_reduction_returns_a_distarray_on_the_reduced_grid(comm):
    G = global_array((12, 10), "f8", seed=7)
    u = distribute(comm, G)
    z = u.mean(axis=1)
    assert_all(z.shape == (12,), f"shape {z.shape}", comm)
    assert_allclose_all(z.interior, G.mean(axis=1)[z.grid.local_slices], rtol=1e-13, comm=comm)
    assert_allclose_all(z.allgather(), G.mean(axis=1), rtol=1e-13, comm=comm)


@pytest.mark.parametrize("dtype", DTYPES)
def test_argmin_argmax_are_global_first_occurrences(comm, dtype):
    G = global_array((9, 11), dtype, seed=8)
    G[2, 3] = G[7, 1] = G.min()  # ties: NumPy returns the first in C order
    G[5, 5] = G[8, 10] = G.max()
    u = distribute(comm, G)
    assert_all(u.argmin() == np.argmin(G), f"{u.argmin()} != {np.argmin(G)}", comm)
    assert_all(u.argmax() == np.argmax(G), f"{u.argmax()} != {np.argmax(G)}", comm)
    if dtype != "i8":
        G[6, 2] = G[8, 8] = np.nan
        u = distribute(comm, G)
        assert_all(u.argmin() == np.argmin(G) == u.argmax(), "NaN not first", comm)


@pytest.mark.parametrize("nans", [False, True])
def test_global_sum_is_correctly_rounded_and_grid_independent(comm, nans):
    """Ill-conditioned data: the distributed sum equals math.fsum bit for bit (of the
    non-NaN values with ``skipna``, the mean their count's share of it)."""
    rng = np.random.default_rng(9)
    n = 4099
    G = rng.normal(size=n) * np.exp2(rng.integers(-40, 40, size=n))
    G[::7] *= -1e12
    G = np.concatenate([G, -G[:1000]]).reshape(-1, 1)  # heavy cancellation
    if nans:
        G[rng.random(G.shape) < 0.3] = np.nan
        G[4096:5000] = np.nan
    good = G[~np.isnan(G)]
    exact = math.fsum(good)
    for dims in ((comm.Get_size(), 1), None):
        grid = grid_or_skip(comm, G.shape, dims=dims)
        u = grid.scatter(G if comm.Get_rank() == 0 else None)
        s = u.sum(skipna=nans)
        assert_all(s == exact, f"sum {s!r} != fsum {exact!r} on dims {grid.dims}", comm)
        assert_all(u.mean(skipna=nans) == exact / good.size, "mean differs", comm)


@pytest.mark.parametrize("axis", [5, (0, 0), "x"])
def test_bad_axes(comm, axis):
    u = distribute(comm, global_array((8, 8), "f8"))
    with pytest.raises(ValueError):
        u.sum(axis=axis)


_W = np.cos(np.deg2rad(np.linspace(-90, 90, 32)))
IN_PLACE_CALLS = {
    "mean": lambda u: u.mean(skipna=True), "var": lambda u: u.var(skipna=True),
    "min": lambda u: u.min(skipna=True), "max": lambda u: u.max(),
    "sum axis 0": lambda u: u.sum(axis=0, skipna=True),
    "mean axis 0": lambda u: u.mean(axis=0, skipna=True),
    "var axis 0": lambda u: u.var(axis=0, skipna=True),
    "min axis 0": lambda u: u.min(axis=0, skipna=True),
    "weighted mean": lambda u: u.mean(axis=(1, 2), skipna=True, weights=_W, weights_axis=1),
}


@pytest.mark.parametrize("halo", [0, 1])
@pytest.mark.parametrize("name", sorted(IN_PLACE_CALLS))
def test_float_reductions_read_the_block_in_place(comm, name, halo):
    """A float block is reduced by one kernel pass over it in place: no NaN masks,
    NaN-free or float64 copies, weighted products or deviations of the whole block
    (NumPy made 2-4 of them), so a call allocates far less than the block (results and
    scratch are small beside 2 MiB or more per rank)."""
    import tracemalloc
    G = global_array((2048, 32, 32), "f4", seed=11, nans=True)
    u = distribute(comm, G, halo=halo)
    call = IN_PLACE_CALLS[name]
    call(u)  # compiled, reduced grids made
    tracemalloc.start()
    try:
        call(u)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    block = u.interior.nbytes
    assert_all(peak < block / 4, f"{name}: {peak} bytes allocated for a {block}-byte block",
               comm)
