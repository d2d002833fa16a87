"""climate-stats end to end: generated datasets with every quirk, 1-4 ranks, against xarray."""

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from clusterkit.io.cf import CALENDARS, YEAR_DAYS
from clusterkit.testing import run_mpi

xr = pytest.importorskip("xarray")
CODER = xr.coders.CFDatetimeCoder(use_cftime=True)

DATASETS = {  # name: make-dataset options
    "standard-land-desc": ["--shape", "40,7,12", "--step-days", "10", "--land-mask",
                           "--descending-lat"],
    "noleap-packed-levels": ["--shape", "30,5,8", "--step-days", "15", "--calendar", "noleap",
                             "--packed", "--compress", "--levels", "2", "--lon180"],
    "360day-tiny": ["--shape", "25,3,2", "--step-days", "30", "--calendar", "360_day"],
    "julian-sliver": ["--shape", "14,2,1", "--step-days", "40", "--calendar", "julian",
                      "--land-mask"],
    "all_leap": ["--shape", "20,4,6", "--step-days", "20", "--calendar", "all_leap"],
}


def make(tmp_path, name, opts):
    path = str(tmp_path / f"{name}.nc")
    subprocess.run([sys.executable, "-m", "clusterkit.cli.main", "make-dataset", path, *opts],
                   check=True, capture_output=True, timeout=120)
    return path


def reference(path, q=None):
    """The statistics computed with xarray (plus NumPy for the trend)."""
    ds = xr.open_dataset(path, engine="h5netcdf", decode_times=CODER)
    x = ds["tas"].astype(np.float64)
    w = np.cos(np.deg2rad(ds["lat"]))
    ref = {"global_mean": x.weighted(w).mean(("lat", "lon")), "zonal_mean": x.mean("lon"),
           "climatology": x.groupby("time.month").mean("time"),
           "time_mean": x.mean("time"), "time_std": x.std("time"),
           "time_min": x.min("time"), "time_max": x.max("time")}
    if q is not None:
        ref["percentile"] = x.quantile(np.asarray(q) / 100, dim="time")
    cal = CALENDARS[ds["time"].encoding.get("calendar", "standard")]
    raw = xr.open_dataset(path, engine="h5netcdf", decode_times=False)["time"].values
    ref["trend"] = trend_reference((raw - raw[0]) / YEAR_DAYS[cal], x.values)
    return ref


def trend_reference(t, values):
    """Least-squares slope per point of ``values`` (time first) against ``t`` (years),
    NaNs left out; NaN where fewer than 2 values."""
    v = np.moveaxis(values, 0, -1)
    valid = ~np.isnan(v)
    n = valid.sum(-1)
    with np.errstate(all="ignore"):
        tm = np.where(valid, t, 0).sum(-1) / n
        vm = np.where(valid, v, 0).sum(-1) / n
        cov = np.where(valid, (t - tm[..., None]) * (v - vm[..., None]), 0).sum(-1)
        var = np.where(valid, (t - tm[..., None]) ** 2, 0).sum(-1)
        return np.where(n >= 2, cov / var, np.nan)


def compare(out_path, ref):
    out = xr.open_dataset(out_path, engine="h5netcdf", decode_times=CODER)
    for name, want in ref.items():
        got = out[name].values
        want = np.asarray(getattr(want, "values", want))
        if name == "climatology":
            assert list(out["month"].values) == list(ref[name]["month"].values)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6, err_msg=name)
        assert np.array_equal(np.isnan(got), np.isnan(want)), name
    return out


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """``dataset(name)``: the path of the file made with ``DATASETS[name]``, made once
    for the module (the jobs only read it)."""
    folder, made = tmp_path_factory.mktemp("datasets"), {}

    def get(name):
        if name not in made:
            made[name] = make(folder, name, DATASETS[name])
        return made[name]
    return get


@pytest.fixture(scope="module")
def expected(dataset):
    """``expected(name)``: xarray's statistics of ``dataset(name)`` with percentiles 5, 50
    and 95, computed once for every rank count."""
    done = {}

    def get(name):
        if name not in done:
            done[name] = reference(dataset(name), [5, 50, 95])
        return done[name]
    return get


#: The rank counts of each dataset: every one at 1-4 ranks but all_leap, whose one quirk
#: (the calendar of the time axis, which no rank count splits) is checked at 1 and 4.
STATISTICS_RANKS = {name: (1, 4) if name == "all_leap" else (1, 2, 3, 4) for name in DATASETS}


@pytest.mark.parametrize("nranks, name", [
    pytest.param(n, name, id=f"{n}-{name}") for n in (1, 2, 3, 4) for name in DATASETS
    if n in STATISTICS_RANKS[name]])
def test_statistics_match_xarray(tmp_path, dataset, expected, name, nranks):
    src = dataset(name)
    out = str(tmp_path / "stats.nc")
    res = run_mpi(nranks, "clusterkit.jobs.climate_stats",
                  [src, out, "--percentiles", "5,50,95", "--chunk-mb", "0.001"], timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.count("climate-stats:") == 1
    ds = compare(out, expected(name))
    assert ds["time"].attrs.get("units") is None  # decoded by xarray: units moved to encoding
    assert ds["time"].encoding["units"] == "days since 2000-01-01 00:00:00"
    assert [f for f in os.listdir(tmp_path) if f.startswith(".")] == []


@pytest.mark.parametrize("name", ["standard-land-desc", "noleap-packed-levels"])
def test_whole_time_chunks_match_xarray(tmp_path, name):
    """The default chunk size holds every step at once, so the kernel folds runs of four
    same-month steps together (the test above, with one step a chunk, never does)."""
    src = make(tmp_path, name, DATASETS[name] + ["--step-days", "3"])
    out = str(tmp_path / "stats.nc")
    res = run_mpi(2, "clusterkit.jobs.climate_stats", [src, out, "--percentiles", "5,95"],
                  timeout=120)
    assert res.returncode == 0, res.stderr
    compare(out, reference(src, [5, 95]))


def test_anomalies_are_value_minus_monthly_climatology(tmp_path, dataset):
    src = dataset("standard-land-desc")
    out, anom = str(tmp_path / "s.nc"), str(tmp_path / "anom.nc")
    res = run_mpi(3, "clusterkit.jobs.climate_stats", [src, out, "--anomalies", anom],
                  timeout=120)
    assert res.returncode == 0, res.stderr
    x = xr.open_dataset(src, engine="h5netcdf", decode_times=CODER)["tas"].astype(np.float64)
    want = x.groupby("time.month") - x.groupby("time.month").mean("time")
    got = xr.open_dataset(anom, engine="h5netcdf", decode_times=CODER)["anomaly"]
    np.testing.assert_allclose(got.values, want.values, rtol=1e-5, atol=1e-4)


def test_output_opens_with_netcdf_c_and_ncdump(tmp_path, dataset):
    src = dataset("noleap-packed-levels")
    out = str(tmp_path / "s.nc")
    assert run_mpi(2, "clusterkit.jobs.climate_stats", [src, out, "--percentiles", "50"],
                   timeout=120).returncode == 0
    code = ("import sys, netCDF4; d = netCDF4.Dataset(sys.argv[1]); "
            "print(sorted(d.variables), d['percentile'].dimensions, d['time'].calendar)")
    proc = subprocess.run([sys.executable, "-c", code, out], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "'global_mean'" in proc.stdout and "('pct', 'plev', 'lat', 'lon')" in proc.stdout
    assert "noleap" in proc.stdout
    if shutil.which("ncdump"):
        head = subprocess.run(["ncdump", "-h", out], capture_output=True, text=True).stdout
        assert "double zonal_mean(time, plev, lat)" in head
        assert 'trend:units = "K year-1"' in head


@pytest.mark.parametrize("args, needle", [
    (["{missing}", "{out}"], "does not exist"),
    (["{notnc}", "{out}"], "is not a NetCDF file"),
    (["{src}", "{out}", "--var", "pr"], "variable 'pr' not found in"),
    (["{src}", "{existing}"], "exists; pass --overwrite"),
    (["{src}", "/nonexistent-dir/out.nc"], "output directory '/nonexistent-dir' does not exist"),
    (["{src}", "{out}", "--percentiles", "5,abc"], "--percentiles: must be comma-separated"),
    (["{src}", "{out}", "--percentiles", "101"], "--percentiles: must be comma-separated"),
    (["{badcal}", "{out}"], "unsupported calendar 'martian'"),
    (["{nocoords}", "{out}"], "no variable in"),
])
def test_bad_input_is_one_line_exit_2_and_no_output(tmp_path, dataset, args, needle):
    import h5py
    src = dataset("360day-tiny")
    notnc = tmp_path / "notnc.nc"
    notnc.write_text("hello")
    existing = tmp_path / "existing.nc"
    existing.write_text("keep me")
    badcal = str(tmp_path / "badcal.nc")
    shutil.copy(src, badcal)
    with h5py.File(badcal, "a") as f:
        f["time"].attrs["calendar"] = np.bytes_(b"martian")
    nocoords = str(tmp_path / "nocoords.nc")
    with h5py.File(nocoords, "w") as f:
        f["x"] = np.zeros((3, 4, 5))
    out = tmp_path / "out.nc"
    subs = dict(missing=str(tmp_path / "missing.nc"), notnc=str(notnc), src=src, out=str(out),
                existing=str(existing), badcal=badcal, nocoords=nocoords)
    res = run_mpi(2, "clusterkit.jobs.climate_stats", [a.format(**subs) for a in args],
                  timeout=60)
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("climate-stats: error:"), res.stderr
    assert needle in lines[0]
    assert not out.exists()
    assert existing.read_text() == "keep me"
    assert [f for f in os.listdir(tmp_path) if f.startswith(".")] == []


def test_latitude_and_longitude_only_in_degrees():
    """axis Y/X alone (projected metres, index dimensions) is not latitude/longitude:
    treating it as degrees gave cos(metres) weights and a plausible wrong global mean.
    CF's spellings of degrees, and (grid_)latitude/longitude standard names in degrees
    or without units, still are."""
    from clusterkit.io.cf import axis_kind
    refused = [{"axis": "Y", "units": "m", "standard_name": "projection_y_coordinate"},
               {"axis": "X", "units": "m"}, {"axis": "Y"}, {"axis": "X", "units": "1"},
               {"standard_name": "latitude", "units": "radians"},
               {"standard_name": "grid_longitude", "units": "km"}]
    for attrs in refused:
        assert axis_kind(attrs) is None, attrs
    accepted = {"lat": [{"units": u} for u in ("degrees_north", "degree_north", "degree_N",
                                                "degrees_N", "degreeN", "degreesN")]
                + [{"standard_name": "latitude"}, {"standard_name": "grid_latitude",
                                                   "units": "degrees"},
                   {"axis": "Y", "units": "degrees_north"}],
                "lon": [{"units": u} for u in ("degrees_east", "degree_east", "degree_E",
                                                "degrees_E", "degreeE", "degreesE")]
                + [{"standard_name": "longitude"}, {"standard_name": "grid_longitude",
                                                    "units": "degree"}]}
    for kind, cases in accepted.items():
        for attrs in cases:
            assert axis_kind(attrs) == kind, attrs


LIBRARY_API = r"""
import sys
from clusterkit.comm import world
from clusterkit.errors import InputError
from clusterkit.io.dataset import Dataset
comm = world()
with Dataset(sys.argv[1], comm) as ds:
    calls = {"read": lambda: ds.read("tsa", (slice(0, 1),) * 3),
             "attrs": lambda: ds.attrs("tsa"), "dims": lambda: ds.dims("tsa"),
             "shape": lambda: ds.shape("tsa"), "dtype": lambda: ds.dtype("tsa"),
             "chunk_reader": lambda: ds.chunk_reader("tsa", 10)}
    for name, call in calls.items():
        try:
            call()
            result = "no error"
        except Exception as exc:  # noqa: BLE001 - the type is what is tested
            result = f"{type(exc).__name__}: {exc}"
        comm.Barrier()
        if comm.Get_rank() == 0:
            print(f"{name} -> {result}", flush=True)
"""


def test_misspelled_variable_in_the_library_api_is_an_input_error(tmp_path, dataset):
    """``Dataset`` methods given a variable the file does not have raise InputError (on
    every rank) listing the variables, as the CLI does, instead of h5py's KeyError."""
    src = dataset("360day-tiny")
    script = tmp_path / "api.py"
    script.write_text(LIBRARY_API)
    res = run_mpi(2, str(script), [src], module=False, timeout=120)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.strip().splitlines()
    assert len(lines) == 6, res.stdout
    for line in lines:
        assert "-> InputError: variable 'tsa' not found in" in line, line
        assert "variables: " in line and "tas" in line, line


@pytest.mark.skipif(not shutil.which("cdo"), reason="CDO not installed "
                    "(bash benchmarks/setup-baselines.sh installs it)")
def test_agrees_with_cdo_fldmean_zonmean_ymonmean(tmp_path):
    """zonmean and ymonmean agree to float32 precision (CDO writes float32). CDO's
    fldmean weights by cell areas with great-circle edges, not cos(latitude): on a 2°
    grid that differs by ~1e-6 relative, which bounds the fldmean tolerance."""
    src = make(tmp_path, "cdo", ["--shape", "40,90,180", "--step-days", "9", "--land-mask"])
    out = str(tmp_path / "s.nc")
    assert run_mpi(2, "clusterkit.jobs.climate_stats", [src, out], timeout=120).returncode == 0
    ours = xr.open_dataset(out, engine="h5netcdf", decode_times=CODER)
    for op, var in (("fldmean", "global_mean"), ("zonmean", "zonal_mean"),
                    ("ymonmean", "climatology")):
        dst = str(tmp_path / f"{op}.nc")
        subprocess.run(["cdo", "-s", "-O", op, src, dst], check=True, timeout=120)
        theirs = xr.open_dataset(dst, engine="h5netcdf", decode_times=CODER)["tas"]
        want = np.squeeze(theirs.values).astype(np.float64)
        got = np.squeeze(ours[var].values)
        rtol = 1e-5 if op == "fldmean" else 1e-6
        np.testing.assert_allclose(got, want, rtol=rtol, atol=0, err_msg=op)
        assert np.array_equal(np.isnan(got), np.isnan(want)), op


FOREIGN = r"""
import sys, numpy as np, xarray as xr
rng = np.random.default_rng(3)
t = np.arange(50) * 8.0
lat = np.linspace(60, -60, 9)                      # descending
lon = np.linspace(-170, 170, 18)                   # -180..180
x = 285 + 10 * np.cos(np.deg2rad(lat))[None, :, None] + rng.normal(0, 2, (50, 9, 18))
x[:, 2:4, 5:9] = np.nan
ds = xr.Dataset(
    {"t2m": (("valid_time", "latitude", "longitude"), x, {"units": "K"}),
     "station_count": (("valid_time",), np.arange(50))},
    coords={"valid_time": ("valid_time", t, {"units": "hours since 1990-06-01 00:00",
                                             "calendar": "proleptic_gregorian"}),
            "latitude": ("latitude", lat, {"units": "degrees_north"}),
            "longitude": ("longitude", lon, {"standard_name": "longitude"})})
enc = {"t2m": {"dtype": "int16", "scale_factor": 0.002, "add_offset": 285.0,
               "_FillValue": -32767, "zlib": True, "chunksizes": (10, 9, 18)}}
ds.to_netcdf(sys.argv[1], engine="netcdf4", encoding=enc)
"""


def test_file_written_by_netcdf_c_with_other_names_and_packing(tmp_path):
    """Coordinates named valid_time/latitude/longitude, found by their CF attributes;
    int16 packing with _FillValue and compression, written by netCDF-C (netCDF4)."""
    src = str(tmp_path / "foreign.nc")
    subprocess.run([sys.executable, "-c", FOREIGN, src], check=True, timeout=120)
    out = str(tmp_path / "s.nc")
    res = run_mpi(3, "clusterkit.jobs.climate_stats", [src, out], timeout=120)
    assert res.returncode == 0, res.stderr
    ds = xr.open_dataset(src, engine="h5netcdf", decode_times=CODER)
    x = ds["t2m"].astype(np.float64)
    w = np.cos(np.deg2rad(ds["latitude"]))
    got = xr.open_dataset(out, engine="h5netcdf", decode_times=CODER)
    np.testing.assert_allclose(got["global_mean"].values,
                               x.weighted(w).mean(("latitude", "longitude")).values, rtol=1e-6)
    np.testing.assert_allclose(got["zonal_mean"].values, x.mean("longitude").values,
                               rtol=1e-6)
    np.testing.assert_allclose(got["time_std"].values, x.std("valid_time").values,
                               rtol=1e-5, atol=1e-9)
    assert list(got["zonal_mean"].dims) == ["valid_time", "latitude"]
    assert got["valid_time"].encoding["calendar"] == "proleptic_gregorian"
    assert got["latitude"].values[0] == 60.0


@pytest.mark.parametrize("nranks", [2, 3])
def test_serial_hdf5_fallback_gives_the_same_file(tmp_path, dataset, nranks):
    """CLUSTERKIT_SERIAL_IO=1: the path taken with a serial h5py (independent reads,
    writes through rank 0) must produce the same statistics as parallel HDF5."""
    src = dataset("noleap-packed-levels")
    outs = {}
    for mode in ("0", "1"):
        outs[mode] = str(tmp_path / f"out-{mode}.nc")
        env = dict(os.environ, CLUSTERKIT_SERIAL_IO=mode)
        res = run_mpi(nranks, "clusterkit.jobs.climate_stats",
                      [src, outs[mode], "--percentiles", "50", "--anomalies",
                       str(tmp_path / f"anom-{mode}.nc"), "--chunk-mb", "0.001"],
                      timeout=120, env=env)
        assert res.returncode == 0, res.stderr
    a = xr.open_dataset(outs["0"], engine="h5netcdf", decode_times=CODER)
    b = xr.open_dataset(outs["1"], engine="h5netcdf", decode_times=CODER)
    for name in a.data_vars:
        np.testing.assert_array_equal(a[name].values, b[name].values, err_msg=name)
    anom = [xr.open_dataset(tmp_path / f"anom-{m}.nc", engine="h5netcdf")["anomaly"].values
            for m in ("0", "1")]
    np.testing.assert_array_equal(anom[0], anom[1])
