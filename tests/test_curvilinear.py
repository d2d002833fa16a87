"""climate-stats on curvilinear grids (2-D latitude/longitude named by the variable's
coordinates attribute: an ocean model's (j, i) or NEMO's (y, x), a rotated pole, a
projected (x, y) grid in metres): the global mean weighted by the cell-measure variable,
the cells' polygons from CMIP-style vertex bounds, or cos of the 2-D latitude (with a
warning under --weights area), every per-point
statistic on the native grid against xarray at 1, 2 and 4 ranks, the 2-D coordinates
copied to the outputs, no zonal_mean (an attribute says why), a series of files, and
bad 2-D coordinates refused in one line."""

import os
import shutil
import subprocess

import numpy as np
import pytest

import clusterkit as ck
from clusterkit.comm import MPI
from clusterkit.io.cf import YEAR_DAYS, attr_str
from clusterkit.kernels.cellarea import polygon_cell_areas
from clusterkit.testing import run_mpi
from ncfiles import (CURVILINEAR_KINDS, write_curvilinear, write_curvilinear_vertices,
                     write_ocean_levels, write_transposed)
from test_climate_stats import trend_reference

xr = pytest.importorskip("xarray")
CODER = xr.coders.CFDatetimeCoder(use_cftime=True)
JOB = "clusterkit.jobs.climate_stats"
Q = [5, 50, 95]
WARNING = "is on a curvilinear grid without cell areas"


def run(tmp_path, inputs, *extra, nranks=2, name="out.nc", anomalies=True):
    """Run climate-stats; ``(statistics, anomalies or None, stderr)`` as xarray datasets."""
    out = str(tmp_path / name)
    args = [*inputs, out, "--percentiles", ",".join(map(str, Q)), "--chunk-mb", "0.002",
            *extra]
    if anomalies:
        args += ["--anomalies", str(tmp_path / f"anom-{name}")]
    res = run_mpi(nranks, JOB, args, timeout=180)
    assert res.returncode == 0, res.stderr
    stats = xr.open_dataset(out, engine="h5netcdf", decode_times=CODER).load()
    anom = xr.open_dataset(str(tmp_path / f"anom-{name}"), engine="h5netcdf",
                           decode_times=CODER).load() if anomalies else None
    return stats, anom, res.stderr


def reference(path, weights, var="tos"):
    """The statistics of ``var`` (time, [extra...,] row, column) computed with xarray
    (NumPy for the trend), the global mean ``x.weighted(weights).mean((row, column))``;
    ``weights`` "area" (areacello) or "coslat" (cos of the 2-D latitude)."""
    with xr.open_dataset(path, engine="h5netcdf", decode_times=CODER) as ds:
        ds = ds.load()
    tdim, ydim, xdim = ds[var].dims[0], *ds[var].dims[-2:]
    x = ds[var].astype(np.float64)
    lat = ds["nav_lat" if "nav_lat" in ds else "lat"].astype(np.float64)
    w = ds["areacello"].astype(np.float64) if weights == "area" else \
        np.cos(np.deg2rad(lat))
    clim = x.groupby(f"{tdim}.month").mean(tdim)
    ref = {"global_mean": x.weighted(w).mean((ydim, xdim)), "climatology": clim,
           "time_mean": x.mean(tdim), "time_std": x.std(tdim), "time_min": x.min(tdim),
           "time_max": x.max(tdim), "percentile": x.quantile(np.asarray(Q) / 100, dim=tdim),
           "anomaly": x.groupby(f"{tdim}.month") - clim}
    with xr.open_dataset(path, engine="h5netcdf", decode_times=False) as raw:
        t = raw[tdim].values
    ref["trend"] = trend_reference((t - t[0]) / YEAR_DAYS["noleap"], x.values)
    return ref


def assert_matches(stats, anom, ref):
    got = dict(stats.data_vars)
    got["anomaly"] = anom["anomaly"]
    for var, want in ref.items():
        want = np.asarray(getattr(want, "values", want))
        have = np.asarray(got[var].values)
        # statistics in float64; anomalies of float32 input are float32
        tol = dict(rtol=1e-6, atol=1e-5) if var == "anomaly" else dict(rtol=1e-12, atol=1e-9)
        np.testing.assert_allclose(have, want, err_msg=var, **tol)
        assert np.array_equal(np.isnan(have), np.isnan(want)), var


def assert_native_grid(out, src, with_anomalies=None):
    """The output has the input's 2-D coordinates (values, attributes, bounds), the
    per-point statistics name them in ``coordinates``, and no zonal_mean but the
    attribute saying why."""
    with xr.open_dataset(src, engine="h5netcdf", decode_times=False) as ds:
        names = ("nav_lat", "nav_lon") if "nav_lat" in ds else ("lat", "lon")
        for o in [out] + ([with_anomalies] if with_anomalies is not None else []):
            for n in names:
                np.testing.assert_array_equal(o[n].values, ds[n].values.astype(np.float64))
                assert o[n].dims == ds[n].dims
                for k, v in ds[n].attrs.items():
                    assert str(o[n].attrs[k]) == str(v), (n, k)
                bounds = ds[n].attrs.get("bounds")
                if bounds:
                    np.testing.assert_array_equal(o[bounds].values, ds[bounds].values)
    assert "zonal_mean" not in out
    assert "curvilinear grid" in out.attrs["zonal_mean_omitted"]
    for var in ("time_mean", "trend", "climatology", "percentile"):
        assert set(out[var].encoding["coordinates"].split()) == set(names), var
    if with_anomalies is not None:
        assert set(with_anomalies["anomaly"].encoding["coordinates"].split()) == set(names)


@pytest.mark.parametrize("nranks", [1, 2, 4])
def test_tripolar_with_areas_matches_xarray(tmp_path, nranks):
    """CMIP-ocean style (time, j, i) with lat(j, i), lon(j, i), vertex bounds, areacello
    and land: global mean weighted by areacello, every statistic per point."""
    src = write_curvilinear(str(tmp_path / "tos.nc"), "tripolar")
    stats, anom, err = run(tmp_path, [src], "--weights", "area", nranks=nranks)
    assert_matches(stats, anom, reference(src, "area"))
    assert_native_grid(stats, src, anom)
    assert stats["global_mean"].attrs["weights"] == "cell area from areacello"
    assert WARNING not in err


@pytest.mark.parametrize("nranks", [1, 2, 4])
def test_nemo_without_areas_falls_back_to_cos_latitude_with_one_warning(tmp_path, nranks):
    """NEMO's (time_counter, y, x) without coordinate variables for y, x, float32
    nav_lat/nav_lon named in reverse order: cos(nav_lat) weights, one warning line."""
    src = write_curvilinear(str(tmp_path / "tos.nc"), "nemo", area=False)
    stats, anom, err = run(tmp_path, [src], "--weights", "area", nranks=nranks)
    assert_matches(stats, anom, reference(src, "coslat"))
    assert_native_grid(stats, src, anom)
    warnings = [line for line in err.splitlines() if WARNING in line]
    assert len(warnings) == 1 and "--area FILE" in warnings[0], err
    assert "cos(latitude)" in stats["global_mean"].attrs["cell_methods"]


@pytest.mark.parametrize("nranks", [1, 2, 4])
def test_vertices_without_areas_weight_by_the_cells_polygons(tmp_path, nranks):
    """CMIP-ocean (time, j, i) with vertices_latitude/vertices_longitude (the cells'
    corners) and no areacello: the global mean is weighted by the areas of the cells'
    great-circle polygons, as xarray's ``x.weighted(areas).mean(("j", "i"))`` and, where
    CDO is installed, as ``cdo fldmean`` (which takes the same cells); no warning."""
    src = write_curvilinear_vertices(str(tmp_path / "tos.nc"), "tripolar")
    stats, _, err = run(tmp_path, [src], "--weights", "area", nranks=nranks,
                        anomalies=False)
    with xr.open_dataset(src, engine="h5netcdf", decode_times=CODER) as ds:
        x = ds["tos"].astype(np.float64).load()
        areas = polygon_cell_areas(ds["vertices_latitude"].values,
                                   ds["vertices_longitude"].values)
    want = x.weighted(xr.DataArray(areas, dims=("j", "i"))).mean(("j", "i"))
    got = stats["global_mean"]
    np.testing.assert_allclose(got.values, want.values, rtol=1e-12)
    source = "cell area from vertices_latitude and vertices_longitude"
    assert got.attrs["weights"] == source
    assert got.attrs["cell_methods"] == f"area: mean (weights: {source})"
    assert WARNING not in err and "warning" not in err, err
    if shutil.which("cdo"):
        dst = str(tmp_path / "fldmean.nc")
        subprocess.run(["cdo", "-s", "-O", "fldmean", src, dst], check=True, timeout=120)
        with xr.open_dataset(dst, engine="h5netcdf", decode_times=False) as d:
            cdo = np.squeeze(d["tos"].values).astype(np.float64)
        np.testing.assert_allclose(got.values, cdo, rtol=1e-6)


def test_coslat_on_a_curvilinear_grid_is_cos_of_the_2d_latitude_without_warning(tmp_path):
    src = write_curvilinear(str(tmp_path / "tos.nc"), "tripolar")
    stats, _, err = run(tmp_path, [src], anomalies=False)
    ref = reference(src, "coslat")["global_mean"].values
    np.testing.assert_allclose(stats["global_mean"].values, ref, rtol=1e-12)
    assert "warning" not in err, err


@pytest.mark.parametrize("kind", ["rotated", "projected"])
def test_rotated_pole_and_projected_grids_use_the_2d_coordinates(tmp_path, kind):
    """A rotated pole's rlat/rlon are in degrees but not geographic: the weights are
    those of the 2-D latitude and no zonal_mean is written; projected x/y in metres are
    no longer refused when 2-D latitude/longitude are given."""
    src = write_curvilinear(str(tmp_path / "tas.nc"), kind, area=kind == "projected")
    weights = "area" if kind == "projected" else "coslat"
    stats, anom, _ = run(tmp_path, [src], "--weights", weights, nranks=3)
    assert_matches(stats, anom, reference(src, weights))
    assert_native_grid(stats, src, anom)
    _, ydim, xdim = CURVILINEAR_KINDS[kind]
    with xr.open_dataset(src, engine="h5netcdf") as ds:
        np.testing.assert_array_equal(stats[ydim].values, ds[ydim].values)
        np.testing.assert_array_equal(stats[xdim].values, ds[xdim].values)


def test_any_dimension_order_is_bitwise_the_canonical_result(tmp_path):
    """tos stored (i, time, j) beside lat(j, i): rows and columns come from the 2-D
    coordinates' order, not the variable's."""
    src = write_curvilinear(str(tmp_path / "tos.nc"), "tripolar")
    moved = write_transposed(src, str(tmp_path / "moved.nc"), ("i", "time", "j"))
    want, want_anom, _ = run(tmp_path, [src], "--weights", "area", nranks=3, name="a.nc")
    got, got_anom, _ = run(tmp_path, [moved], "--weights", "area", nranks=3, name="b.nc")
    for var in want.variables:
        np.testing.assert_array_equal(got[var].values, want[var].values, err_msg=var)
        assert got[var].dims == want[var].dims, var
    np.testing.assert_array_equal(got_anom["anomaly"].values, want_anom["anomaly"].values)


@pytest.mark.parametrize("nranks", [1, 2, 4])
def test_levels_on_a_curvilinear_grid_match_xarray(tmp_path, nranks):
    """A (time, lev, j, i) ocean variable with more land at depth: every per-point
    statistic per level, and the area-weighted global mean per level, against xarray."""
    src = write_ocean_levels(str(tmp_path / "thetao.nc"), levels=3, area_fill=False)
    stats, anom, _ = run(tmp_path, [src], "--weights", "area", nranks=nranks)
    assert stats["time_mean"].dims == ("lev", "j", "i")
    assert stats["global_mean"].dims == ("time", "lev")
    assert_matches(stats, anom, reference(src, "area", var="thetao"))
    assert_native_grid(stats, src, anom)


def _netcdf_attrs(var):
    """A netCDF4 variable's attributes, values as plain Python lists/scalars."""
    return {k: np.asarray(var.getncattr(k)).tolist() for k in var.ncattrs()}


def test_the_grid_mapping_variable_is_copied_and_named_by_every_field(tmp_path):
    """A rotated pole's grid-mapping variable (CORDEX's scalar ``rotated_pole``) is
    copied to every output with its attributes, and every per-point variable names it in
    ``grid_mapping``, as the input's variable does: the outputs are as georeferenced as
    the input (xarray's decode_coords="all" finds it)."""
    import netCDF4
    src = write_curvilinear(str(tmp_path / "tas.nc"), "rotated", area=False)
    with netCDF4.Dataset(src, "a") as f:
        f.renameVariable("crs", "rotated_pole")
        f["tos"].grid_mapping = "rotated_pole"
        want = _netcdf_attrs(f["rotated_pole"])
    monthly = str(tmp_path / "monthly.nc")
    run(tmp_path, [src], "--seasonal", "--monthly", monthly)
    for path in (str(tmp_path / "out.nc"), str(tmp_path / "anom-out.nc"), monthly):
        with netCDF4.Dataset(path) as f:
            assert "rotated_pole" in f.variables, path
            assert f["rotated_pole"].dimensions == ()
            assert _netcdf_attrs(f["rotated_pole"]) == want, path
            fields = [v for v in f.variables.values() if v.dimensions[-2:] ==
                      ("rlat", "rlon") and v.name not in ("lat", "lon")]
            assert fields, path
            for v in fields:
                assert v.getncattr("grid_mapping") == "rotated_pole", (path, v.name)
        with xr.open_dataset(path, engine="h5netcdf", decode_coords="all",
                             decode_times=False) as ds:
            assert "rotated_pole" in ds.coords, path


def test_grid_mapping_forms(tmp_path):
    """The library API: ``grid_mapping`` in its plain and extended (``"crs: lat lon"``)
    forms; None without one, or when it names a variable the file lacks."""
    import netCDF4
    from clusterkit.io.horizontal import grid_mapping
    src = write_curvilinear(str(tmp_path / "tas.nc"), "rotated", area=False)
    for text, found in (("crs", True), ("crs: rlat rlon", True), ("nothere", False),
                        ("crs: rlat rlon other: lat lon", False), (None, False)):
        with netCDF4.Dataset(src, "a") as f:
            if text is None:
                f["tos"].delncattr("grid_mapping")
            else:
                f["tos"].grid_mapping = text
        with ck.open_dataset(src, comm=MPI.COMM_SELF) as ds:
            got = grid_mapping(ds, "tos")
        if not found:
            assert got is None, text
            continue
        assert got[0] == text and list(got[1]) == ["crs"]
        attrs = got[1]["crs"]
        assert attr_str(attrs, "grid_mapping_name") == "rotated_latitude_longitude"
        assert float(np.ravel(attrs["grid_north_pole_latitude"])[0]) == 39.25


@pytest.mark.skipif(not shutil.which("ncdump"), reason="ncdump (netcdf-bin) not installed")
def test_dimensions_without_coordinates_stay_without(tmp_path):
    """NEMO's y, x have no coordinate variables (nor a bounds' vertex dimension): the
    outputs keep them as netCDF dimensions without variables, as netCDF-C writes them,
    so xarray lists them under "Dimensions without coordinates" as for the input (they
    used to be written as coordinates 0..n-1)."""
    import netCDF4
    src = write_curvilinear(str(tmp_path / "tos.nc"), "nemo", area=False)
    stats, anom, _ = run(tmp_path, [src])
    for ds in (stats, anom):
        assert "y" not in ds.variables and "x" not in ds.variables
        assert (ds.sizes["y"], ds.sizes["x"]) == (13, 17)
    for name in ("out.nc", "anom-out.nc"):
        path = str(tmp_path / name)
        with netCDF4.Dataset(path) as f:
            assert "y" in f.dimensions and "y" not in f.variables
        header = subprocess.run(["ncdump", "-h", path], capture_output=True, text=True,
                                check=True, timeout=60).stdout
        assert "\ty = 13 ;" in header and " y(y)" not in header and " x(x)" not in header
    src = write_curvilinear(str(tmp_path / "tripolar.nc"), "tripolar")
    stats, _, _ = run(tmp_path, [src], anomalies=False, name="tripolar-out.nc")
    assert "vertices" not in stats.variables and stats.sizes["vertices"] == 4
    assert stats["j"].attrs["long_name"] == "cell index along j"   # these have variables


def test_coordinates_have_no_fill_value(tmp_path):
    """CF: coordinates hold no missing values, so the written ones (time, the index
    coordinates, the 2-D latitude/longitude and their vertex bounds, month, pct) carry no
    _FillValue; the statistics keep their NaN _FillValue."""
    import netCDF4
    src = write_curvilinear(str(tmp_path / "tos.nc"), "tripolar")
    monthly = str(tmp_path / "monthly.nc")
    run(tmp_path, [src], "--weights", "area", "--monthly", monthly)
    coords = {"time", "j", "i", "lat", "lon", "vertices_latitude", "vertices_longitude",
              "vertices", "month", "pct"}
    for path in (str(tmp_path / "out.nc"), str(tmp_path / "anom-out.nc"), monthly):
        with netCDF4.Dataset(path) as f:
            for name, v in f.variables.items():
                if name in coords:
                    assert "_FillValue" not in v.ncattrs(), (path, name)
                else:
                    assert np.isnan(v.getncattr("_FillValue")), (path, name)


def _split(tmp_path, parts, order, **kw):
    """The 29-step tripolar series as files of the steps in ``parts``, each in its own
    time units, listed in ``order``."""
    paths = []
    for k, steps in enumerate(parts):
        paths.append(write_curvilinear(str(tmp_path / f"part{k}.nc"), "tripolar",
                                       steps=steps, units=f"days since {1850 + k}-01-01",
                                       **kw))
    return [paths[k] for k in order]


@pytest.mark.parametrize("nranks", [2, 4])
def test_a_series_of_curvilinear_files_is_the_one_files_result(tmp_path, nranks):
    whole = write_curvilinear(str(tmp_path / "whole.nc"), "tripolar")
    parts = _split(tmp_path, [slice(0, 12), slice(12, 13), slice(13, 29)], [2, 0, 1])
    one, one_anom, _ = run(tmp_path, [whole], "--weights", "area", nranks=nranks,
                           name="one.nc")
    got, got_anom, _ = run(tmp_path, parts, "--weights", "area", nranks=nranks,
                           name="series.nc")
    for var in one.data_vars:
        np.testing.assert_array_equal(got[var].values, one[var].values, err_msg=var)
    np.testing.assert_array_equal(got_anom["anomaly"].values, one_anom["anomaly"].values)
    assert_native_grid(got, whole, got_anom)


def test_a_series_file_on_another_curvilinear_grid_is_refused(tmp_path):
    import netCDF4
    parts = _split(tmp_path, [slice(0, 12), slice(12, 29)], [0, 1])
    with netCDF4.Dataset(parts[1], "a") as f:
        f["lat"][0, 0] = f["lat"][0, 0] + 0.5
    refused(tmp_path, parts, "the 2-D coordinate 'lat' of input", "differs from")


def refused(tmp_path, inputs, *needles, extra=()):
    out = tmp_path / "out.nc"
    res = run_mpi(2, JOB, [*inputs, str(out), *extra], timeout=120)
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("climate-stats: error:"), res.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert not out.exists()
    assert [f for f in os.listdir(tmp_path) if f.startswith(".")] == []


BAD = {
    "lat-beyond-90": ["latitude 'lat' has 1 value(s) that are NaN or outside [-90, 90]",
                      "first: 95.0 at index (12, 8)"],
    "shapes": ["its latitude 'lat' has dimensions ('j', 'i')",
               "but its longitude 'lon' ('i',)", "must be on the same two dimensions"],
    "missing": ["is on a curvilinear grid", "names 'lon2', which is not in the file"],
    "radians": ["its coordinate 'lat' (standard_name 'latitude', units 'radians') is not "
                "latitude in degrees"],
}


@pytest.mark.parametrize("bad", sorted(BAD))
@pytest.mark.parametrize("var", [False, True])
def test_bad_2d_coordinates_are_one_line_exit_2(tmp_path, bad, var):
    src = write_curvilinear(str(tmp_path / "tos.nc"), "tripolar", bad=bad)
    refused(tmp_path, [src], *BAD[bad], extra=["--var", "tos"] if var else [])


def test_rotated_pole_without_2d_coordinates_is_refused(tmp_path):
    """rlat/rlon in degrees are not latitudes: without 2-D latitude/longitude the cells'
    positions on the globe are unknown (it used to be weighted by cos(rlat))."""
    import netCDF4
    src = write_curvilinear(str(tmp_path / "tas.nc"), "rotated", area=False)
    with netCDF4.Dataset(src, "a") as f:
        f["tos"].delncattr("coordinates")
    refused(tmp_path, [src], "is on a rotated_latitude_longitude grid (not geographic)",
            "names no 2-D latitude or longitude")


def test_axis_kinds_and_find_variable_on_curvilinear_files(tmp_path):
    """The library API: the 2-D coordinates' dimensions are latitude (rows) and longitude
    (columns); the variable is found without --var; the coordinates are named."""
    from clusterkit.io.horizontal import horizontal_coordinates
    for kind, (tdim, ydim, xdim) in CURVILINEAR_KINDS.items():
        src = write_curvilinear(str(tmp_path / f"{kind}.nc"), kind)
        with ck.open_dataset(src, comm=MPI.COMM_SELF) as ds:
            assert ds.find_variable() == "tos"
            assert ds.axis_kinds("tos") == {tdim: "time", ydim: "lat", xdim: "lon"}
            names = ("nav_lat", "nav_lon") if kind == "nemo" else ("lat", "lon")
            assert horizontal_coordinates(ds, "tos") == names + ((ydim, xdim),)
            assert horizontal_coordinates(ds, "areacello") is None
