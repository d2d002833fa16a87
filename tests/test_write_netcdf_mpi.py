"""MPI tests of ``ck.write_netcdf``: DistArrays (full, and reduced ones that several ranks
hold) and replicated arrays written with the input's coordinates, read back by xarray
equal to the input at 1-4 ranks; bad output paths and bad descriptions are the same
InputError on every rank, before anything is written."""

import os

import numpy as np
import pytest

import clusterkit as ck
from clusterkit.testing import assert_all, assert_equal_all
from clusterkit.testing import assert_input_error_everywhere as refused

pytestmark = pytest.mark.mpi

xr = pytest.importorskip("xarray")


@pytest.mark.parametrize("layout", ["default", "time", "lon"])
def test_written_file_reads_back_with_the_inputs_coordinates(comm, nc_path, shared_dir, layout):
    n = comm.Get_size()
    kw = {"default": {}, "time": {"dims": (n, 1, 1)}, "lon": {"dims": (1, 1, n)}}[layout]
    out = f"{shared_dir}/out.nc"
    with ck.open_dataset(nc_path, comm=comm) as ds:
        ck.write_netcdf.check(out, like=ds)
        grid = ck.Grid(ds["tas"].shape, comm=comm, **kw)
        tas = ds["tas"].read(grid)
        pr = ds["pr"].read(grid)
        zonal = tas.mean(axis=2, skipna=True)        # (time, lat): held by several ranks
        series = np.asarray(tas.mean(axis=(1, 2), skipna=True, replicate=True))
        total = np.float64(pr.sum(skipna=True))
        ck.write_netcdf(out, {"tas": tas, "pr": pr, "tas_zonal": zonal, "tas_series": series,
                              "pr_total": total}, like=ds,
                        dims={"tas_zonal": ("time", "lat"), "tas_series": "time",
                              "pr_total": ()},
                        attrs={"title": "written by a test"},
                        var_attrs={"tas_zonal": {"long_name": "zonal mean"}})
    comm.Barrier()
    with xr.open_dataset(nc_path) as a, xr.open_dataset(out) as b:
        a.load()
        b.load()
    assert_equal_all(b["tas"].values, a["tas"].values, comm)
    assert_equal_all(b["pr"].values, a["pr"].values.astype(b["pr"].dtype), comm)
    with np.errstate(invalid="ignore"):
        assert_equal_all(np.isnan(b["tas_zonal"].values),
                         np.isnan(a["tas"].values).all(axis=2), comm)
    assert_all(np.allclose(b["tas_zonal"].values, np.nanmean(a["tas"].values, axis=2),
                           rtol=1e-6, equal_nan=True), "zonal mean", comm)
    assert_all(np.allclose(b["tas_series"].values, np.nanmean(a["tas"].values, axis=(1, 2)),
                           rtol=1e-6), "series", comm)
    assert_all(np.isclose(b["pr_total"].values, np.nansum(a["pr"].values.astype("f8")),
                          rtol=1e-6), "total", comm)
    for dim in ("time", "lat", "lon"):
        assert_all(list(b[dim].values) == list(a[dim].values), f"coordinate {dim}", comm)
    enc = b["time"].encoding
    assert_all(enc["calendar"] == "noleap" and enc["units"] == "days since 2001-01-01",
               f"time encoding {enc}", comm)
    assert_all(b["lat"].attrs.get("units") == "degrees_north", "lat units", comm)
    assert_all(b.attrs.get("title") == "written by a test", "global attribute", comm)
    assert_all(b["tas_zonal"].attrs.get("long_name") == "zonal mean", "variable attrs", comm)
    assert_all(b["pr"].dims == ("time", "lat", "lon") and "scale_factor" not in b["pr"].attrs,
               "pr written decoded, without its packing attributes", comm)
    assert_all(sorted(os.listdir(shared_dir)) == ["in.nc", "out.nc"], "no temporary", comm)


def test_bad_output_is_refused_before_anything_is_written(comm, nc_path, shared_dir):
    out = f"{shared_dir}/out.nc"
    with ck.open_dataset(nc_path, comm=comm) as ds:
        grid = ck.Grid(ds["tas"].shape, comm=comm)
        tas = ds["tas"].read(grid)
        refused(comm, lambda: ck.write_netcdf.check(nc_path, like=ds), "same file")
        refused(comm, lambda: ck.write_netcdf.check(nc_path, overwrite=True, like=ds),
                 "same file")
        refused(comm, lambda: ck.write_netcdf.check(f"{shared_dir}/no/such/out.nc"),
                 "no/such")
        bare = grid.zeros("f4")                  # no dimension names of its own
        refused(comm, lambda: ck.write_netcdf(out, {"x": bare}, like=ds),
                 "dimensions of 'x' unknown")
        refused(comm, lambda: ck.write_netcdf(out, {"x": tas}, dims={"x": ("a", "b")}),
                 "it has 3 dimensions")
        refused(comm, lambda: ck.write_netcdf(out, {"tas": tas, "y": np.zeros(3)}, like=ds,
                                               dims={"y": "lat"}),
                 "dimension 'lat' has length 7 in one variable and 3 in 'y'")
        refused(comm, lambda: ck.write_netcdf(out, {"tas": tas}, like=ds,
                                               coords={"lon": np.arange(3)}),
                 "coordinate 'lon' has shape (3,)")
        if comm.Get_size() > 1:
            refused(comm, lambda: ck.write_netcdf(out, {"y": np.zeros(comm.Get_rank() + 1)},
                                                   dims={"y": "n"}),
                     "different shapes on different ranks")
        assert_all(sorted(os.listdir(shared_dir)) == ["in.nc"], "nothing written", comm)
        ck.write_netcdf(out, {"tas": tas}, like=ds)
        refused(comm, lambda: ck.write_netcdf(out, {"tas": tas}, like=ds), "exists")
        before = os.stat(out).st_mtime_ns
        ck.write_netcdf(out, {"tas": tas}, like=ds, overwrite=True)
        assert_all(os.stat(out).st_mtime_ns >= before, "overwritten", comm)
