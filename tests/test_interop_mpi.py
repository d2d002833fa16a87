"""MPI tests of xarray interoperability: ``DistArray.to_xarray`` equals xarray's own reading
of the file (values, dimensions, coordinates, name, attributes), also for reductions and
arithmetic results; ``ck.from_xarray`` lays a DataArray out on a grid, from every rank or
scattered from rank 0; round trips are exact; labels carry into ``write_netcdf``."""

import numpy as np
import pytest

import clusterkit as ck
from clusterkit.testing import assert_all, assert_equal_all
from clusterkit.testing import assert_input_error_everywhere as refused

from ncfiles import NT, NX, NY

pytestmark = pytest.mark.mpi

xr = pytest.importorskip("xarray")


def _equal(got, want):
    """Whether DataArray ``got`` equals ``want`` in values, dimensions, coordinates, name
    and attributes; and why not."""
    if got is None or got.dims != want.dims or got.name != want.name:
        return False, f"{got!r} vs {want!r}"
    if got.attrs != want.attrs:
        return False, f"attrs {got.attrs} vs {want.attrs}"
    try:
        xr.testing.assert_equal(got, want)     # values and coordinates
    except AssertionError as exc:
        return False, str(exc)
    return True, ""


def _same(got, want, comm, what):
    ok, why = _equal(got, want)
    assert_all(ok, f"{what}: {why}", comm)


@pytest.mark.parametrize("name", ["tas", "pr"])
def test_to_xarray_equals_xarrays_reading(comm, nc_path, name):
    n = comm.Get_size()
    with xr.open_dataset(nc_path) as x:
        ref = x[name].load()
    with ck.open_dataset(nc_path, comm=comm) as ds:
        for kw in ({}, {"dims": (1, 1, n)}, {"dims": (n, 1, 1)}):
            grid = ck.Grid(ds[name].shape, comm=comm, **kw)
            u = ds[name].read(grid)
            got = u.to_xarray(root=0)
            ok, why = _equal(got, ref) if comm.Get_rank() == 0 else (got is None, "not None")
            assert_all(ok, f"{name} {kw} on rank 0 only: {why}", comm)
            got = u.to_xarray(root=None)
            _same(got, ref, comm, f"{name} {kw} on every rank")
            zonal = u.mean(axis=2, skipna=True).to_xarray(root=None)
            assert_all(zonal.dims == ("time", "lat") and
                       np.allclose(zonal.values, ref.mean("lon").values, rtol=1e-6,
                                   equal_nan=True), "zonal mean", comm)
            anom = (u - u.mean(axis=0)).to_xarray(root=None)
            assert_all(anom.dims == ref.dims and
                       np.allclose(anom.values, (ref - ref.mean("time")).values, rtol=0,
                                   atol=1e-4, equal_nan=True), "anomalies", comm)
            assert_all(list(anom["time"].values) == list(ref["time"].values), "time", comm)


def test_from_xarray_every_rank_or_root_and_round_trip(comm, nc_path):
    with xr.open_dataset(nc_path) as x:
        ref = x["tas"].load()
    for kw in ({}, {"dims": (1, 1, comm.Get_size())}):
        grid = ck.Grid(ref.shape, comm=comm, **kw)
        everywhere = ck.from_xarray(ref, grid)
        scattered = ck.from_xarray(ref if comm.Get_rank() == 0 else None, grid)
        for u in (everywhere, scattered):
            assert_equal_all(u.interior, ref.values[grid.local_slices], comm)
            assert_all(u.dims == ref.dims and u.name == "tas", "labels", comm)
            _same(u.to_xarray(root=None), ref, comm, "round trip")
    with ck.open_dataset(nc_path, comm=comm) as ds:      # lazily opened: each rank its block
        with xr.open_dataset(nc_path) as x:
            u = ck.from_xarray(x["pr"], ck.Grid((NT, NY, NX), comm=comm))
        assert_equal_all(u.interior, ds["pr"].read(u.grid).interior, comm)


def test_labels_carry_into_write_netcdf(comm, nc_path, shared_dir):
    out = f"{shared_dir}/out.nc"
    with ck.open_dataset(nc_path, comm=comm) as ds:
        u = ds["tas"].read(ck.Grid(ds["tas"].shape, comm=comm))
        ck.write_netcdf(out, {"zonal": u.mean(axis=2, skipna=True),
                              "anom": u - u.mean(axis=0)}, like=ds)
    comm.Barrier()
    with xr.open_dataset(out) as b:
        dims = (b["zonal"].dims, b["anom"].dims, b["anom"].attrs.get("units"))
    assert_all(dims == (("time", "lat"), ("time", "lat", "lon"), None), str(dims), comm)


def test_bad_input_is_the_same_error_on_every_rank(comm, nc_path):
    with xr.open_dataset(nc_path) as x:
        ref = x["tas"].load()
    grid = ck.Grid((NT, NY, NX + 1), comm=comm)
    refused(comm, lambda: ck.from_xarray(ref, grid), "cannot lay out data of shape "
             "(5, 7, 11) on a grid of shape (5, 7, 12)")
    refused(comm, lambda: ck.from_xarray(ref if comm.Get_rank() == 0 else None, grid),
             "cannot lay out data of shape")
    if comm.Get_size() > 1:
        refused(comm, lambda: ck.from_xarray(ref if comm.Get_rank() == 1 else None, grid),
                 "rank 0 has no data")
    u = ck.from_xarray(ref, ck.Grid(ref.shape, comm=comm))
    refused(comm, lambda: u.to_xarray(dims=("a", "b")), "the array has 3")
    refused(comm, lambda: u.to_xarray(coords={"lat": np.arange(3)}), "coordinate 'lat'")
