"""climate-stats --time-range, --seasonal and --annual (issue 18) at 1, 2 and 4 ranks,
against the issue's xarray expressions: a series starting mid-year and ending in February
in the noleap, 360_day and standard calendars, with --percentiles and --anomalies, a
2-file input, and bad ranges refused with one line, exit 2 and no output."""

import os
import subprocess
import sys

import numpy as np
import pytest

from clusterkit.io.cf import CALENDARS, YEAR_DAYS
from clusterkit.testing import run_mpi

from test_climate_stats import trend_reference

h5py = pytest.importorskip("h5py")
cftime = pytest.importorskip("cftime")
xr = pytest.importorskip("xarray")
CODER = xr.coders.CFDatetimeCoder(use_cftime=True)
JOB = "clusterkit.jobs.climate_stats"
pytestmark = pytest.mark.filterwarnings("ignore:All-NaN slice:RuntimeWarning",
                                        "ignore:Mean of empty slice:RuntimeWarning",
                                        "ignore:Degrees of freedom:RuntimeWarning")

SOURCES = {  # calendar: make-dataset options (daily-ish steps over 600 days from 2000-01-01)
    "noleap": ["--shape", "120,5,8", "--step-days", "5", "--calendar", "noleap",
               "--packed", "--land-mask", "--lon180"],
    "360_day": ["--shape", "120,4,6", "--step-days", "5", "--calendar", "360_day",
                "--levels", "2"],
    "standard": ["--shape", "120,6,5", "--step-days", "5", "--land-mask",
                 "--descending-lat"],
}
#: the range asked for: starts mid-year (partial season and year), ends in February
RANGE = "2000-08,2001-02"


def mid_year_series(folder, calendar):
    """A generated series cut to run from the first step of July 2000 to the last of
    February 2001 (the cut is outside RANGE on both sides, so RANGE selects)."""
    from test_multifile import copy_nc
    full = os.path.join(folder, f"full-{calendar}.nc")
    subprocess.run([sys.executable, "-m", "clusterkit.cli.main", "make-dataset", full,
                    *SOURCES[calendar]], check=True, capture_output=True, timeout=120)
    with h5py.File(full, "r") as f:
        t = f["time"]
        dates = cftime.num2date(t[...], t.attrs["units"].decode() if isinstance(
            t.attrs["units"], bytes) else t.attrs["units"], calendar=calendar)
    ym = np.array([d.year * 100 + d.month for d in dates])
    i0 = int(np.flatnonzero(ym >= 200007)[0])
    i1 = int(np.flatnonzero(ym <= 200103)[-1]) + 1   # into March: RANGE cuts it off
    return copy_nc(full, os.path.join(folder, f"{calendar}.nc"), slice(i0, i1))


def reference(path):
    """The issue's expressions on ``x.sel(time=slice(START, END))``."""
    ds = xr.open_dataset(path, engine="h5netcdf", decode_times=CODER)
    start, end = RANGE.split(",")
    x = ds["tas"].astype(np.float64).sel(time=slice(start, end))
    w = np.cos(np.deg2rad(ds["lat"]))
    clim = x.groupby("time.month").mean("time")
    seasons = [s for s in ("DJF", "MAM", "JJA", "SON")
               if s in set(x["time"].dt.season.values)]
    ref = {"global_mean": x.weighted(w).mean(("lat", "lon")), "zonal_mean": x.mean("lon"),
           "climatology": clim, "time_mean": x.mean("time"), "time_std": x.std("time"),
           "time_min": x.min("time"), "time_max": x.max("time"),
           "percentile": x.quantile([0.05, 0.95], dim="time"),
           "seasonal_climatology": x.groupby("time.season").mean("time").sel(season=seasons),
           "annual_mean": x.groupby("time.year").mean("time"),
           "annual_min": x.groupby("time.year").min("time"),
           "annual_max": x.groupby("time.year").max("time"),
           "annual_count": x["time"].groupby("time.year").count()}
    cal = CALENDARS[ds["time"].encoding.get("calendar", "standard")]
    raw = xr.open_dataset(path, engine="h5netcdf", decode_times=False)["time"]
    raw = raw.values[np.isin(ds["time"].values, x["time"].values)]
    ref["trend"] = trend_reference((raw - raw[0]) / YEAR_DAYS[cal], x.values)
    anomaly = x.groupby("time.month") - clim
    return ref, anomaly, x["time"].values, seasons


def check(out_path, anom_path, src):
    ref, anomaly, times, seasons = reference(src)
    out = xr.open_dataset(out_path, engine="h5netcdf", decode_times=CODER)
    assert list(out["time"].values) == list(times)
    assert list(out["season"].values) == seasons
    assert out["year"].dtype.kind == "i"
    assert list(out["year"].values) == list(ref["annual_mean"]["year"].values)
    for name, want in ref.items():
        got, want = out[name].values, np.asarray(getattr(want, "values", want), np.float64)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6, err_msg=name)
        assert np.array_equal(np.isnan(got), np.isnan(want)), name
    got = xr.open_dataset(anom_path, engine="h5netcdf", decode_times=CODER)["anomaly"]
    assert list(got["time"].values) == list(times)
    np.testing.assert_allclose(got.values, anomaly.values, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("nranks", [1, 2, 4])
@pytest.mark.parametrize("calendar", list(SOURCES))
def test_time_range_seasons_and_years_match_xarray(tmp_path, calendar, nranks):
    src = mid_year_series(str(tmp_path), calendar)
    out, anom = str(tmp_path / "stats.nc"), str(tmp_path / "anom.nc")
    res = run_mpi(nranks, JOB, [src, out, "--time-range", RANGE, "--seasonal", "--annual",
                                "--percentiles", "5,95", "--anomalies", anom,
                                "--chunk-mb", "0.001"], timeout=180)
    assert res.returncode == 0, res.stderr
    check(out, anom, src)


def test_two_file_input_is_the_one_file_bitwise(tmp_path):
    from test_multifile import UNITS, assert_same, outputs, split
    src = mid_year_series(str(tmp_path), "noleap")
    parts = split(src, str(tmp_path / "parts"), [0, 13], units=UNITS)
    args = ["--time-range", RANGE, "--seasonal", "--annual", "--percentiles", "50"]
    one, two = str(tmp_path / "one.nc"), str(tmp_path / "two.nc")
    for inputs, out in (([src], one), (parts[::-1], two)):
        res = run_mpi(2, JOB, [*inputs, out, *args], timeout=180)
        assert res.returncode == 0, res.stderr
    assert_same(outputs(two), outputs(one))


def test_without_the_options_no_new_outputs(tmp_path):
    src = mid_year_series(str(tmp_path), "360_day")
    out = str(tmp_path / "s.nc")
    res = run_mpi(2, JOB, [src, out], timeout=120)
    assert res.returncode == 0, res.stderr
    with h5py.File(out, "r") as f:
        assert not {"season", "year", "seasonal_climatology", "annual_mean"} & set(f)
        assert f["time"].shape[0] == f["global_mean"].shape[0] > 40


@pytest.mark.parametrize("value, needle", [
    ("1990,1991", "selects no time step"),
    ("2001-02,2000-09", "is after END"),
    ("2000-13,2001", "month 13"),
    ("2001-02-29,", "is not a date of the 'noleap' calendar"),
    ("2000/01,2001", "is not a date"),
    (",", "give at least one of START and END"),
])
def test_bad_time_range_is_one_line_exit_2_and_no_output(tmp_path, value, needle):
    src = mid_year_series(str(tmp_path), "noleap")
    out, anom = tmp_path / "out.nc", tmp_path / "anom.nc"
    res = run_mpi(2, JOB, [src, str(out), "--time-range", value, "--seasonal",
                           "--anomalies", str(anom)], timeout=120)
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("climate-stats: error:"), res.stderr
    assert needle in lines[0] and "--time-range" in lines[0], lines[0]
    assert not out.exists() and not anom.exists()
    assert [f for f in os.listdir(tmp_path) if f.startswith(".")] == []
