"""MPI tests of the reading API: ``ck.open_dataset(path)[name].read(grid)`` gives every
rank its block, decoded as xarray decodes the file, on awkward grids (prime sizes, fewer
cells than ranks along an axis, descending latitude, packed int16 with a fill value, NaN
fill, a time window); bad input is the same InputError on every rank."""

import numpy as np
import pytest

import clusterkit as ck
from clusterkit.errors import InputError
from clusterkit.testing import assert_all, assert_equal_all

pytestmark = pytest.mark.mpi

xr = pytest.importorskip("xarray")
netCDF4 = pytest.importorskip("netCDF4")

NT, NY, NX = 5, 7, 11  # primes; the time axis is shorter than 4 ranks' blocks would like


def _write(path, seed=0):
    """A (time, lat, lon) file: ``tas`` float32 with a NaN _FillValue region, ``pr``
    int16 packed (scale/offset float32, _FillValue -32767), ``flag`` uint8 without
    attributes, latitude descending, a noleap calendar."""
    rng = np.random.default_rng(seed)
    with netCDF4.Dataset(path, "w") as f:
        for name, n in (("time", NT), ("lat", NY), ("lon", NX)):
            f.createDimension(name, n)
        t = f.createVariable("time", "f8", ("time",))
        t.units, t.calendar = "days since 2001-01-01", "noleap"
        t[:] = np.arange(NT) * 30.0 + 0.5
        lat = f.createVariable("lat", "f8", ("lat",))
        lat.units, lat[:] = "degrees_north", np.linspace(90, -90, NY)
        lon = f.createVariable("lon", "f8", ("lon",))
        lon.units, lon[:] = "degrees_east", np.arange(NX) * 360.0 / NX
        tas = f.createVariable("tas", "f4", ("time", "lat", "lon"), fill_value=np.float32(1e20))
        data = rng.normal(280, 10, (NT, NY, NX)).astype("f4")
        data[:, 2:4, 3:6] = np.float32(1e20)  # land: stored fill
        f.set_auto_maskandscale(False)
        tas[:] = data
        pr = f.createVariable("pr", "i2", ("time", "lat", "lon"), fill_value=np.int16(-32767))
        pr.scale_factor, pr.add_offset = np.float32(0.01), np.float32(5.0)
        raw = rng.integers(-30000, 30000, (NT, NY, NX)).astype("i2")
        raw[1, :, 0] = -32767
        pr[:] = raw
        flag = f.createVariable("flag", "u1", ("time", "lat", "lon"))
        flag[:] = rng.integers(0, 255, (NT, NY, NX)).astype("u1")


@pytest.fixture
def path(comm, shared_dir):
    p = f"{shared_dir}/in.nc"
    if comm.Get_rank() == 0:
        _write(p)
    comm.Barrier()
    return p


def _grids(comm):
    """Decompositions to read on: default, all ranks along time (fewer steps than some
    ranks would like), along longitude only, with halos and a periodic longitude."""
    n = comm.Get_size()
    return [dict(), dict(dims=(n, 1, 1)), dict(dims=(1, 1, n)),
            dict(dims=(1, n, 1), halo=1, periodic=(False, False, True))]


@pytest.mark.parametrize("name", ["tas", "pr", "flag"])
def test_read_matches_xarray_on_every_grid(comm, path, name):
    with xr.open_dataset(path) as x:  # a noleap calendar: cftime datetimes
        ref = x[name].values
        ref_time = x["time"].values
    with ck.open_dataset(path, comm=comm) as ds:
        var = ds[name]
        assert_all(var.dims == ("time", "lat", "lon") and var.shape == (NT, NY, NX),
                   f"{var.dims} {var.shape}", comm)
        assert_all(np.dtype(var.dtype) == ref.dtype or name == "flag",
                   f"decoded dtype {var.dtype} vs xarray {ref.dtype}", comm)
        assert_equal_all(var.coords["lat"], np.linspace(90, -90, NY), comm)
        assert_all(list(var.coords["time"]) == list(ref_time), "time coordinate", comm)
        for kw in _grids(comm):
            grid = ck.Grid(var.shape, comm=comm, **kw)
            u = var.read(grid)
            want = ref[grid.local_slices]
            assert_equal_all(u.interior, want.astype(u.dtype), comm,
                             err_msg=f"{name} on {kw}")
            full = u.gather(root=0)
            assert_equal_all(ref.astype(u.dtype) if full is None else full,
                             ref.astype(u.dtype), comm)


def test_read_a_time_window_and_a_narrower_dtype(comm, path):
    with xr.open_dataset(path) as x:
        ref = x["tas"].values
    with ck.open_dataset(path, comm=comm) as ds:
        var = ds["tas"]
        for kw in ({}, {"dims": (comm.Get_size(), 1, 1), "allow_empty": True}):
            grid = ck.Grid((2, NY, NX), comm=comm, **kw)   # 2 steps: some ranks own none
            u = var.read(grid, time=slice(2, 4))
            assert_equal_all(u.interior, ref[2:4][grid.local_slices], comm)
            full = u.gather(root=0)
            assert_equal_all(ref[2:4] if full is None else full, ref[2:4], comm)
        g64 = ck.Grid(var.shape, comm=comm)
        v = ds["pr"].read(g64, dtype="f8")   # float64 holds the int16 exactly: same decoding
        with xr.open_dataset(path) as x:
            raw = x["pr"].encoding
        assert_all(raw["dtype"] == np.int16 and v.dtype == np.float64, "dtypes", comm)
        w = ds["tas"].read(g64, dtype="f8")
        assert_equal_all(w.interior, ref.astype("f8")[g64.local_slices], comm)


def _refused(comm, fn, fragment):
    try:
        fn()
    except InputError as exc:
        message = str(exc)
    else:
        message = "no error"
    messages = comm.allgather(message)
    assert_all(all(m == messages[0] for m in messages) and fragment in messages[0],
               f"{messages[0]!r} lacks {fragment!r} or differs between ranks", comm)


def test_bad_input_is_the_same_error_on_every_rank(comm, path, shared_dir):
    with ck.open_dataset(path, comm=comm) as ds:
        _refused(comm, lambda: ds["tass"], "variable 'tass' not found")
        _refused(comm, lambda: ds["tass"], "tas, pr, flag")  # the candidates
        var = ds["tas"]
        _refused(comm, lambda: var.read(ck.Grid((NT, NY, NX + 1), comm=comm)),
                 "does not match variable 'tas' of shape (5, 7, 11)")
        _refused(comm, lambda: var.read(ck.Grid((NT, NY, NX), comm=comm), time=slice(1, 3)),
                 "of shape (2, 7, 11) (time steps 1:3)")
        _refused(comm, lambda: var.read(ck.Grid((NT, NY, NX), comm=comm), time=slice(3, 3)),
                 "is empty")
        _refused(comm, lambda: ds["lat"].read(ck.Grid((NY,), comm=comm), time=slice(0, 1)),
                 "has no time dimension")
        _refused(comm, lambda: var.read(ck.Grid((NT, NY, NX), comm=comm), dtype="i4"),
                 "read it as float32 or float64")
    _refused(comm, lambda: ck.open_dataset(f"{shared_dir}/missing.nc", comm=comm),
             "does not exist")

