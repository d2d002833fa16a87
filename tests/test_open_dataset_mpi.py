"""MPI tests of the reading API: ``ck.open_dataset(nc_path)[name].read(grid)`` gives every
rank its block, decoded as xarray decodes the file, on awkward grids (prime sizes, fewer
cells than ranks along an axis, descending latitude, packed int16 with a fill value, NaN
fill, a time window); bad input is the same InputError on every rank."""

import numpy as np
import pytest

import clusterkit as ck
from clusterkit.testing import assert_all, assert_equal_all
from clusterkit.testing import assert_input_error_everywhere as refused

from ncfiles import NT, NX, NY

pytestmark = pytest.mark.mpi

xr = pytest.importorskip("xarray")
pytest.importorskip("netCDF4")


def _grids(comm):
    """Decompositions to read on: default, all ranks along time (fewer steps than some
    ranks would like), along longitude only, with halos and a periodic longitude."""
    n = comm.Get_size()
    return [dict(), dict(dims=(n, 1, 1)), dict(dims=(1, 1, n)),
            dict(dims=(1, n, 1), halo=1, periodic=(False, False, True))]


@pytest.mark.parametrize("name", ["tas", "pr", "flag"])
def test_read_matches_xarray_on_every_grid(comm, nc_path, name):
    with xr.open_dataset(nc_path) as x:  # a noleap calendar: cftime datetimes
        ref = x[name].values
        ref_time = x["time"].values
    with ck.open_dataset(nc_path, comm=comm) as ds:
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


def test_read_a_time_window_and_a_narrower_dtype(comm, nc_path):
    with xr.open_dataset(nc_path) as x:
        ref = x["tas"].values
    with ck.open_dataset(nc_path, comm=comm) as ds:
        var = ds["tas"]
        for kw in ({}, {"dims": (comm.Get_size(), 1, 1), "allow_empty": True}):
            grid = ck.Grid((2, NY, NX), comm=comm, **kw)   # 2 steps: some ranks own none
            u = var.read(grid, time=slice(2, 4))
            assert_equal_all(u.interior, ref[2:4][grid.local_slices], comm)
            full = u.gather(root=0)
            assert_equal_all(ref[2:4] if full is None else full, ref[2:4], comm)
        g64 = ck.Grid(var.shape, comm=comm)
        v = ds["pr"].read(g64, dtype="f8")   # float64 holds the int16 exactly: same decoding
        with xr.open_dataset(nc_path) as x:
            raw = x["pr"].encoding
        assert_all(raw["dtype"] == np.int16 and v.dtype == np.float64, "dtypes", comm)
        w = ds["tas"].read(g64, dtype="f8")
        assert_equal_all(w.interior, ref.astype("f8")[g64.local_slices], comm)


def test_bad_input_is_the_same_error_on_every_rank(comm, nc_path, shared_dir):
    with ck.open_dataset(nc_path, comm=comm) as ds:
        refused(comm, lambda: ds["tass"], "variable 'tass' not found")
        refused(comm, lambda: ds["tass"], "tas, pr, flag")  # the candidates
        var = ds["tas"]
        refused(comm, lambda: var.read(ck.Grid((NT, NY, NX + 1), comm=comm)),
                 "does not match variable 'tas' of shape (5, 7, 11)")
        refused(comm, lambda: var.read(ck.Grid((NT, NY, NX), comm=comm), time=slice(1, 3)),
                 "of shape (2, 7, 11) (time steps 1:3)")
        refused(comm, lambda: var.read(ck.Grid((NT, NY, NX), comm=comm), time=slice(3, 3)),
                 "is empty")
        refused(comm, lambda: ds["lat"].read(ck.Grid((NY,), comm=comm), time=slice(0, 1)),
                 "has no time dimension")
        refused(comm, lambda: var.read(ck.Grid((NT, NY, NX), comm=comm), dtype="i4"),
                 "read it as float32 or float64")
    refused(comm, lambda: ck.open_dataset(f"{shared_dir}/missing.nc", comm=comm),
             "does not exist")



def test_a_time_axis_cftime_cannot_decode_still_reads(comm, shared_dir):
    """Reading data does not need decodable time units: the array is labelled with the
    raw time values, and ``coords`` says what is wrong."""
    path = f"{shared_dir}/odd.nc"
    if comm.Get_rank() == 0:
        import netCDF4
        with netCDF4.Dataset(path, "w") as f:
            f.createDimension("time", 3)
            f.createDimension("x", 4)
            t = f.createVariable("time", "f8", ("time",))
            t.units, t[:] = "days since 2000-13-45", [0.0, 1.0, 2.0]
            f.createVariable("v", "f8", ("time", "x"))[:] = np.arange(12.0).reshape(3, 4)
    comm.Barrier()
    with ck.open_dataset(path, comm=comm) as ds:
        u = ds["v"].read(ck.Grid((3, 4), comm=comm, allow_empty=True))
        assert_equal_all(u.interior, np.arange(12.0).reshape(3, 4)[u.grid.local_slices], comm)
        assert_equal_all(u.coords["time"], [0.0, 1.0, 2.0], comm)
        refused(comm, lambda: ds["v"].coords, "2000-13-45")
