"""climate-stats --region LAT0,LAT1,LON0,LON1 (issue 18) at 1, 2 and 4 ranks.

Two checks for each case: the statistics of a region equal, bitwise, climate-stats' own
statistics of a file cut to that region beforehand (raw values and bounds copied with
netCDF4: the code paths the other tests check against xarray), and the region itself is
xarray's selection (coordinates in the file's convention, east from LON0 across the seam;
time means and cos-latitude global means against xarray's). Regions cross the 0 meridian
on a 0..360 file and the dateline on a -180..180 file, with descending latitudes, packed
values, levels, a transposed variable, two input files, area weights from bounds, and a
one-row region on 4 ranks (longitudes split across ranks, some ranks without a column).
Bad regions: one line, exit 2, no output.
"""

import os
import subprocess
import sys

import numpy as np
import pytest

from clusterkit.testing import run_mpi

netCDF4 = pytest.importorskip("netCDF4")
xr = pytest.importorskip("xarray")
from periods_common import assert_refused  # noqa: E402
from test_multifile import assert_same, outputs, split  # noqa: E402

JOB = "clusterkit.jobs.climate_stats"
pytestmark = pytest.mark.filterwarnings("ignore:All-NaN slice:RuntimeWarning",
                                        "ignore:Mean of empty slice:RuntimeWarning")


def make(folder, name, *options, shape="30,19,36"):
    path = os.path.join(folder, name)
    subprocess.run([sys.executable, "-m", "clusterkit.cli.main", "make-dataset", path,
                    "--shape", shape, "--step-days", "15", *options], check=True,
                   capture_output=True, timeout=120)
    return path


def expected_indices(path, lat0, lat1, lon0, lon1):
    """The region by xarray: latitude indices in file order, longitude indices of the
    cells east of LON0 up to LON1 ordered eastward (written independently of the job)."""
    with xr.open_dataset(path, engine="h5netcdf", decode_times=False) as ds:
        lat, lon = ds["lat"].values.astype(float), ds["lon"].values.astype(float)
    rows = np.flatnonzero((lat >= lat0) & (lat <= lat1))
    east = (lon - lon0) % 360
    cols = np.flatnonzero(east <= (lon1 - lon0) % 360)
    return rows, cols[np.argsort(east[cols], kind="stable")]


def cut(src, dst, rows, cols, lat="lat", lon="lon"):
    """``src`` with only latitudes ``rows`` and longitudes ``cols`` (in that order), raw
    values, attributes and bounds copied."""
    with netCDF4.Dataset(src) as a, netCDF4.Dataset(dst, "w") as b:
        a.set_auto_maskandscale(False)
        b.setncatts({k: a.getncattr(k) for k in a.ncattrs()})
        size = {lat: len(rows), lon: len(cols)}
        for name, dim in a.dimensions.items():
            b.createDimension(name, size.get(name, len(dim)))
        for name, var in a.variables.items():
            attrs = {k: var.getncattr(k) for k in var.ncattrs()}
            values = var[...]
            for axis, d in enumerate(var.dimensions):
                if d in size:
                    values = np.take(values, rows if d == lat else cols, axis=axis)
            out = b.createVariable(name, var.dtype, var.dimensions,
                                   fill_value=attrs.pop("_FillValue", None))
            out.set_auto_maskandscale(False)
            out.setncatts(attrs)
            out[...] = values
    return dst


def run(nranks, inputs, out, *args, timeout=180):
    res = run_mpi(nranks, JOB, [*inputs, out, *args], timeout=timeout)
    assert res.returncode == 0, res.stderr
    return res


def all_outputs(folder, stem):
    """Every file the run wrote under ``stem``: statistics, anomalies, monthly."""
    return {f"{k}:{n}": v for k in ("stats", "anom", "monthly")
            if os.path.exists(os.path.join(folder, f"{stem}-{k}.nc"))
            for n, v in outputs(os.path.join(folder, f"{stem}-{k}.nc")).items()}


def both(tmp_path, nranks, inputs, region, *args, cut_inputs=None):
    """Run with ``--region`` on ``inputs`` and without it on ``cut_inputs``; compare."""
    folder = str(tmp_path)
    for stem, ins, extra in (("region", inputs, ["--region", region]),
                             ("cut", cut_inputs, [])):
        out = os.path.join(folder, f"{stem}-stats.nc")
        more = [a.replace("STEM", os.path.join(folder, stem)) for a in args]
        run(nranks, ins, out, *extra, *more)
    got, want = all_outputs(folder, "region"), all_outputs(folder, "cut")
    assert_same(got, want)
    return os.path.join(folder, "region-stats.nc")


def check_against_xarray(src, out, rows, cols, lat0, lat1, lon0, lon1):
    """The output's coordinates and two statistics are xarray's of the region."""
    ds = xr.open_dataset(src, engine="h5netcdf", decode_times=False)
    lat, lon = ds["lat"], ds["lon"]
    inside = (lat >= lat0) & (lat <= lat1)
    # the seam: cells from LON0 eastward to the end, then from the start of the circle
    if lon0 % 360 <= lon1 % 360 or (lon1 - lon0) % 360 == 0:
        x = ds["tas"].sel(lat=inside).isel(lon=cols)
    else:
        east = ((lon - lon0) % 360)
        after, before = lon >= lon0 % 360 - 360 * (lon.max() < lon0 % 360), lon <= lon1
        parts = [ds["tas"].sel(lat=inside).where(m, drop=True) for m in (after, before)]
        x = xr.concat(parts, "lon").sortby(east.sel(lon=xr.concat(
            [p["lon"] for p in parts], "lon")))
    got = xr.open_dataset(out, engine="h5netcdf", decode_times=False)
    np.testing.assert_array_equal(got["lat"].values, lat.values[rows])
    np.testing.assert_array_equal(got["lon"].values, lon.values[cols])
    np.testing.assert_array_equal(got["lon"].values, x["lon"].values)
    x = x.astype(np.float64)
    np.testing.assert_allclose(got["time_mean"].values, x.mean("time").values,
                               rtol=1e-12)
    w = np.cos(np.deg2rad(x["lat"]))
    np.testing.assert_allclose(got["global_mean"].values,
                               x.weighted(w).mean(("lat", "lon")).values, rtol=1e-12)


@pytest.mark.parametrize("nranks", [1, 2, 4])
def test_region_across_the_0_meridian_descending_lat(tmp_path, nranks):
    src = make(str(tmp_path), "in.nc", "--descending-lat", "--land-mask")
    box = (-40.0, 40.0, 350.0, 10.0)
    rows, cols = expected_indices(src, *box)
    assert len(cols) == 3 and cols[0] > cols[-1]            # two runs: across the seam
    ref = cut(src, str(tmp_path / "cut.nc"), rows, cols)
    out = both(tmp_path, nranks, [src], "-40,40,350,10", "--percentiles", "10,90",
               "--anomalies", "STEM-anom.nc", "--annual", "--seasonal",
               "--chunk-mb", "0.002", cut_inputs=[ref])
    check_against_xarray(src, out, rows, cols, *box)


@pytest.mark.parametrize("nranks", [2, 4])
def test_region_across_the_dateline_packed_with_area_weights(tmp_path, nranks):
    src = make(str(tmp_path), "in.nc", "--lon180", "--packed")
    box = (-20.0, 50.0, 170.0, -170.0)
    rows, cols = expected_indices(src, *box)
    assert cols[0] > cols[-1]
    ref = cut(src, str(tmp_path / "cut.nc"), rows, cols)
    # bounds derived from the centres would differ at the region's edges: give bounds
    for path in (src, ref):
        with netCDF4.Dataset(path, "a") as f:
            f.createDimension("nv", 2)
            for name, step in (("lat", 10.0), ("lon", 10.0)):
                c = f[name][...].astype(float)
                b = f.createVariable(f"{name}_bnds", "f8", (name, "nv"))
                b[...] = np.stack([c - step / 2, c + step / 2], axis=1).clip(
                    -90 if name == "lat" else None, 90 if name == "lat" else None)
                f[name].bounds = f"{name}_bnds"
    out = both(tmp_path, nranks, [src], "-20,50,170,-170", "--weights", "area",
               "--monthly", "STEM-monthly.nc", cut_inputs=[ref])
    with netCDF4.Dataset(out) as f:
        assert f["global_mean"].weights == "cell area from lat_bnds and lon_bnds"
    check_against_xarray(src, out, rows, cols, *box)


def test_one_row_across_the_seam_on_4_ranks_splits_longitudes(tmp_path):
    # one latitude: the ranks split longitudes, so some ranks read one run, some two
    src = make(str(tmp_path), "in.nc", "--levels", "2", "--land-mask")
    box = (-5.0, 5.0, 300.0, 40.0)
    rows, cols = expected_indices(src, *box)
    assert len(rows) == 1 and len(cols) == 11
    ref = cut(src, str(tmp_path / "cut.nc"), rows, cols)
    out = both(tmp_path, 4, [src], "-5,5,300,40", "--percentiles", "50", "--anomalies",
               "STEM-anom.nc", cut_inputs=[ref])
    with netCDF4.Dataset(out) as f:
        assert f["time_mean"].shape == (2, 1, 11)


def test_region_inside_one_run_of_a_transposed_two_file_series(tmp_path):
    from ncfiles import write_transposed
    src = make(str(tmp_path), "in.nc", "--land-mask")
    box = (10.0, 60.0, 20.0, 100.0)
    rows, cols = expected_indices(src, *box)
    assert np.all(np.diff(cols) == 1)
    parts = [write_transposed(p, p.replace(".nc", "-t.nc"), ("lat", "lon", "time"))
             for p in split(src, str(tmp_path / "parts"), [0, 11],
                            units=[None, "days since 1990-01-01"])]
    ref = cut(src, str(tmp_path / "cut.nc"), rows, cols)
    both(tmp_path, 2, parts[::-1], "10,60,20,100", "--annual", cut_inputs=[ref])


@pytest.mark.parametrize("value, needle", [
    ("10,11,0,1", "contains no cell centre"),
    ("95,96,0,10", "latitude 95 is outside [-90, 90]"),
    ("40,10,0,10", "north of LAT1"),
    ("10,40,0", "LAT0,LAT1,LON0,LON1"),
    ("-10,10,-400,10", "longitude -400 is outside [-360, 360]"),
])
def test_bad_region_is_one_line_exit_2_and_no_output(tmp_path, value, needle):
    src = make(str(tmp_path), "in.nc")
    out, anom = tmp_path / "out.nc", tmp_path / "anom.nc"
    res = run_mpi(2, JOB, [src, str(out), "--region", value, "--anomalies", str(anom)],
                  timeout=120)
    assert_refused(res, needle, "--region")
    assert not out.exists() and not anom.exists()


def test_region_on_a_curvilinear_grid_is_refused(tmp_path):
    from ncfiles import write_curvilinear
    src = write_curvilinear(str(tmp_path / "curv.nc"))
    out = tmp_path / "out.nc"
    res = run_mpi(2, JOB, [src, str(out), "--region", "-10,10,0,40"], timeout=120)
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "curvilinear" in lines[0], res.stderr
    assert not out.exists()


def test_views_count_their_buffers_in_the_memory_estimate(tmp_path):
    # the transposed copy (reordered) and the block a seam-crossing region is assembled in
    from clusterkit.io.dataset import open_dataset
    from clusterkit.io.reorder import reordered
    from clusterkit.io.subgrid import subgrid
    from clusterkit.io.view import copy_bytes
    from ncfiles import write_transposed
    src = make(str(tmp_path), "in.nc")
    t = write_transposed(src, str(tmp_path / "t.nc"), ("lat", "lon", "time"))
    with open_dataset([t]) as ds:
        assert copy_bytes(ds, "tas", 1000) == 0
        view = reordered(ds, "tas", (2, 0, 1))
        assert copy_bytes(view, "tas", 1000) == 4000
        one = subgrid(view, "tas", slice(2, 5), (slice(3, 9),))
        two = subgrid(view, "tas", slice(2, 5), (slice(30, 36), slice(0, 2)))
        assert copy_bytes(one, "tas", 1000) == 4000
        assert copy_bytes(two, "tas", 1000) == 8000
        assert copy_bytes(two, "lat", 1000) == 0
