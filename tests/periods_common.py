"""What the tests of climate-stats' period options (issue 18: --time-range, --base-period,
--seasonal, --annual, --monthly) share: the generated series they run on, and the
issue's xarray expressions as references for every output, with the checks comparing a
job's output files with them. A helper module, not a test file."""

import os
import subprocess
import sys

import numpy as np
import pytest

from clusterkit.io.cf import CALENDARS, YEAR_DAYS

from test_climate_stats import trend_reference

__all__ = ["h5py", "cftime", "xr", "CODER", "JOB", "WARNINGS", "SOURCES", "RANGE",
           "full_series", "mid_year_series", "select", "reference", "check", "check_base",
           "check_monthly", "outputs"]

h5py = pytest.importorskip("h5py")
cftime = pytest.importorskip("cftime")
xr = pytest.importorskip("xarray")
CODER = xr.coders.CFDatetimeCoder(use_cftime=True)
JOB = "clusterkit.jobs.climate_stats"
#: what NumPy warns about inside the xarray references (all-NaN land points, empty
#: groups, single-step groups); for ``pytest.mark.filterwarnings(*WARNINGS)``
WARNINGS = ("ignore:All-NaN slice:RuntimeWarning", "ignore:Mean of empty slice:RuntimeWarning",
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


def full_series(folder, calendar):
    """The generated series: 120 steps of 5 days from 2000-01-01 (to August 2001)."""
    path = os.path.join(folder, f"full-{calendar}.nc")
    subprocess.run([sys.executable, "-m", "clusterkit.cli.main", "make-dataset", path,
                    *SOURCES[calendar]], check=True, capture_output=True, timeout=120)
    return path


def mid_year_series(folder, calendar):
    """A generated series cut to run from the first step of July 2000 to the last of
    February 2001 (the cut is outside RANGE on both sides, so RANGE selects)."""
    from test_multifile import copy_nc
    full = full_series(folder, calendar)
    with h5py.File(full, "r") as f:
        t = f["time"]
        dates = cftime.num2date(t[...], t.attrs["units"].decode() if isinstance(
            t.attrs["units"], bytes) else t.attrs["units"], calendar=calendar)
    ym = np.array([d.year * 100 + d.month for d in dates])
    i0 = int(np.flatnonzero(ym >= 200007)[0])
    i1 = int(np.flatnonzero(ym <= 200103)[-1]) + 1   # into March: RANGE cuts it off
    return copy_nc(full, os.path.join(folder, f"{calendar}.nc"), slice(i0, i1))


def select(x, text):
    """``x.sel(time=slice(START, END))`` for the option value ``text`` ("START,END",
    either side may be empty)."""
    start, end = (s.strip() or None for s in text.split(","))
    return x.sel(time=slice(start, end))


def reference(path, time_range=RANGE, base=None):
    """The issue's expressions on ``x = x.sel(time=slice(START, END))`` (the whole series
    when ``time_range`` is None), the climatology and the anomalies from the base period
    ``base`` when given: ``(statistics, anomaly, times of x, seasons present)``."""
    ds = xr.open_dataset(path, engine="h5netcdf", decode_times=CODER)
    whole = ds["tas"].astype(np.float64)
    x = select(whole, time_range) if time_range else whole
    w = np.cos(np.deg2rad(ds["lat"]))
    clim = (select(whole, base) if base else x).groupby("time.month").mean("time")
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
    raw = raw.values[ds.indexes["time"].get_indexer(x["time"].values)]   # (isin: O(n²))
    ref["trend"] = trend_reference((raw - raw[0]) / YEAR_DAYS[cal], x.values)
    anomaly = x.groupby("time.month") - clim
    return ref, anomaly, x["time"].values, seasons


def check(out_path, anom_path, src, time_range=RANGE, base=None):
    """Every statistic of the job's ``out_path`` (run with ``--seasonal --annual
    --percentiles 5,95``) and its anomalies ``anom_path`` vs :func:`reference`."""
    ref, anomaly, times, seasons = reference(src, time_range, base)
    out = xr.open_dataset(out_path, engine="h5netcdf", decode_times=CODER)
    assert list(out["time"].values) == list(times)
    assert list(out["season"].values) == seasons
    assert out["year"].dtype.kind == "i"
    assert list(out["year"].values) == list(ref["annual_mean"]["year"].values)
    assert list(out["month"].values) == list(ref["climatology"]["month"].values)
    for name, want in ref.items():
        got, want = out[name].values, np.asarray(getattr(want, "values", want), np.float64)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6, err_msg=name)
        assert np.array_equal(np.isnan(got), np.isnan(want)), name
    if base:
        assert out["climatology"].attrs["base_period"] == base
    _check_anomaly(anom_path, anomaly)


def check_base(out_path, anom_path, src, time_range, base):
    """climatology (its months those of the base period) and the anomalies vs xarray."""
    ds = xr.open_dataset(src, engine="h5netcdf", decode_times=CODER)
    whole = ds["tas"].astype(np.float64)
    x = select(whole, time_range) if time_range else whole
    clim = select(whole, base).groupby("time.month").mean("time")
    anomaly = x.groupby("time.month") - clim
    out = xr.open_dataset(out_path, engine="h5netcdf", decode_times=CODER)
    assert list(out["month"].values) == list(clim["month"].values)
    assert out["climatology"].attrs["base_period"] == base
    got = out["climatology"].values
    np.testing.assert_allclose(got, clim.values, rtol=1e-5, atol=1e-6)
    assert np.array_equal(np.isnan(got), np.isnan(clim.values))
    assert list(out["time"].values) == list(x["time"].values)
    _check_anomaly(anom_path, anomaly)


def _check_anomaly(anom_path, anomaly):
    """The job's anomalies (file ``anom_path``) vs the reference ``anomaly``."""
    got = xr.open_dataset(anom_path, engine="h5netcdf", decode_times=CODER)["anomaly"]
    assert list(got["time"].values) == list(anomaly["time"].values)
    np.testing.assert_allclose(got.values, anomaly.values, rtol=1e-5, atol=1e-4)
    assert np.array_equal(np.isnan(got.values), np.isnan(anomaly.values))


def _attr(attrs, name):
    v = attrs[name]
    return v.decode() if isinstance(v, bytes) else str(v)


def check_monthly(path, src, time_range=None):
    """monthly_mean vs ``x.resample(time="1MS").mean()``; time encoded as the input's.
    Returns the reference."""
    x = xr.open_dataset(src, engine="h5netcdf", decode_times=CODER)["tas"].astype(np.float64)
    if time_range:
        x = select(x, time_range)
    want = x.resample(time="1MS").mean()
    got = xr.open_dataset(path, engine="h5netcdf", decode_times=CODER)
    assert list(got["time"].values) == list(want["time"].values)
    assert set(got.data_vars) == {"monthly_mean"}
    np.testing.assert_allclose(got["monthly_mean"].values, want.values, rtol=1e-5,
                               atol=1e-6)
    assert np.array_equal(np.isnan(got["monthly_mean"].values), np.isnan(want.values))
    with h5py.File(src, "r") as a, h5py.File(path, "r") as b:
        units, cal = _attr(a["time"].attrs, "units"), _attr(a["time"].attrs, "calendar")
        assert _attr(b["time"].attrs, "units") == units
        assert _attr(b["time"].attrs, "calendar") == cal
        assert b["time"].dtype.kind == a["time"].dtype.kind
        starts = [cftime.datetime(t.year, t.month, 1, calendar=t.calendar)
                  for t in want["time"].values]
        np.testing.assert_array_equal(b["time"][...], cftime.date2num(starts, units, cal))
    return want


def outputs(path, skip=("climatology", "month")):
    """The datasets of the HDF5 file ``path`` but ``skip``, read: ``{name: array}``."""
    with h5py.File(path, "r") as f:
        return {k: f[k][...] for k in f if isinstance(f[k], h5py.Dataset) and k not in skip}


def assert_refused(res, *needles):
    """climate-stats refused the input: exit status 2 and one line on stderr,
    ``climate-stats: error: ...``, holding every one of ``needles``; returns the line."""
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("climate-stats: error:"), res.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]
