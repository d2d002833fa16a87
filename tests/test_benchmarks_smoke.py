"""Smoke tests of benchmark drivers: tiny sizes, 2 ranks, a timeout; no timing asserted."""

import json
import os
import sys

import pytest

from clusterkit.testing import run_command, run_mpi

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
h5py = pytest.importorskip("h5py")


@pytest.mark.skipif(not h5py.get_config().mpi, reason="h5py without parallel HDF5")
def test_hdf5_bandwidth_tiny_two_ranks(tmp_path):
    out, work = tmp_path / "h5bw.json", tmp_path / "work"
    res = run_mpi(2, os.path.join(ROOT, "benchmarks", "hdf5_bandwidth.py"),
                  ["--sizes", "1", "--repeat", "1", "--stream-n", "4096", "--dir", str(work),
                   "--out", str(out)], module=False, timeout=120, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    doc = json.loads(out.read_text())
    assert doc["benchmark"] == "hdf5_bandwidth" and doc["machine"]["ranks"] == 2
    rows = doc["results"]
    assert {r["ranks"] for r in rows} == {1, 2}
    assert {r["api"] for r in rows} == {"h5py", "clusterkit"}
    assert {(r["layout"], r["transfer"]) for r in rows if r["api"] == "h5py"} >= {
        ("contiguous", "collective"), ("contiguous", "independent"),
        ("chunked", "collective"), ("chunked", "independent")}
    assert all(r["write_GBs"] > 0 and r["read_GBs"] > 0 for r in rows)
    assert set(doc["stream"]) == {"1", "2"} and "1" in doc["posix_one_process"]
    assert os.listdir(work) == []                   # temporary files removed


def test_reductions_tiny_two_ranks_with_a_baseline(tmp_path):
    """benchmarks/reductions.py on a tiny field, with the current collectives/darray as
    the baseline folder (the loader and the agreement check run; no timing asserted)."""
    base = tmp_path / "base"
    base.mkdir()
    for name in ("collectives", "darray"):
        (base / f"{name}.py").write_text(
            open(os.path.join(ROOT, "clusterkit", f"{name}.py")).read())
    out = tmp_path / "red.json"
    res = run_mpi(2, os.path.join(ROOT, "benchmarks", "reductions.py"),
                  ["--shape", "6,19,36", "--axes", "0,2", "--repeat", "1", "--rounds", "1",
                   "--triad-n", "4096", "--baseline", str(base), "--out", str(out)],
                  module=False, timeout=180, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    doc = json.loads(out.read_text())
    assert doc["benchmark"] == "reductions" and doc["machine"]["ranks"] == 2
    rows = doc["results"]
    assert {(r["call"], r["over"]) for r in rows} == {
        (c, o) for c in ("mean", "var", "min") for o in ("all", "axis 0", "axis 2")}
    assert {r["impl"] for r in rows} == {"clusterkit", "baseline", "numpy"}
    assert all(r["time_s"]["median"] > 0 and r["percent_of_triad"] > 0 for r in rows)
    assert doc["triad"]["aggregate_GBs"] > 0 and len(doc["load_average_before"]) == 3


def test_read_api_tiny_two_ranks(tmp_path):
    """benchmarks/read_api.py on tiny files: every case runs, the decoded blocks agree
    (the benchmark checks), the JSON has every case, and its files are removed."""
    out = tmp_path / "read.json"
    res = run_mpi(2, os.path.join(ROOT, "benchmarks", "read_api.py"),
                  ["--shape", "4,19,36", "--repeat", "1", "--rounds", "1",
                   "--dir", str(tmp_path / "work"), "--out", str(out)],
                  module=False, timeout=180, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    doc = json.loads(out.read_text())
    assert doc["benchmark"] == "read_api" and doc["machine"]["ranks"] == 2
    for cases in doc["results"].values():
        assert set(cases) == {"floor", "clusterkit", "by hand", "xarray"}
        assert all(c["median_s"] > 0 for c in cases.values())
    assert os.listdir(tmp_path / "work") == []


def test_climate_stats_two_files_tiny(tmp_path):
    """benchmarks/climate_stats.py on a 2-file series of tiny years, warm cache only, CDO
    where installed (no xarray: dask may be missing): the series is generated, every
    contender runs, the outputs agree (the benchmark compares them) and the JSON has the
    ratios to the I/O floor."""
    out = tmp_path / "cs.json"
    res = run_command([sys.executable, os.path.join(ROOT, "benchmarks", "climate_stats.py"),
                       "--files", "2", "--shape", "20,91,180", "--repeat", "1",
                       "--cache", "warm", "--skip", "xarray", "--no-profile",
                       "--data-dir", str(tmp_path / "data"), "--out", str(out)],
                      timeout=300, cwd=tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    doc = json.loads(out.read_text())
    assert doc["files"] == 2 and doc["outputs_agree"] is True
    assert doc["median_s"]["warm"]["clusterkit"] > 0 and doc["median_s"]["warm"]["io_floor"] > 0
    assert doc["ratios"]["warm"]["clusterkit_over_io_floor"] > 0
    series = tmp_path / "data" / "climate-series-2x20x91x180"
    assert sorted(p.name for p in series.glob("*.nc")) == ["tas-2001.nc", "tas-2002.nc"]


def test_climate_periods_tiny(tmp_path):
    """benchmarks/climate_periods.py on a tiny year, one warm round, no warm-up runs, with
    the box crossing the 0 meridian: the year and the start-up file are generated, every
    case runs, the base period is the whole (two-month) series, the region's output has
    the cells the benchmark counted, and the JSON has the samples and the ratios."""
    out = tmp_path / "cp.json"
    res = run_command([sys.executable, os.path.join(ROOT, "benchmarks", "climate_periods.py"),
                       "--shape", "40,19,36", "--repeat", "1", "--no-warmup",
                       "--cases", "startup,plain,periods,region_seam",
                       "--data-dir", str(tmp_path / "data"), "--out", str(out)],
                      timeout=300, cwd=tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    doc = json.loads(out.read_text())
    assert doc["benchmark"] == "climate_periods" and doc["cache_modes"] == ["warm"]
    assert doc["base_period"] == "2001-01,2001-02" and doc["base_period_is_whole_series"]
    assert len(doc["load_average_before"]) == 3 and len(doc["load_average_after"]) == 3
    assert doc["regions"]["region_seam"]["crosses_0_meridian"] is True
    assert (tmp_path / "data" / "climate-series-1x40x19x36" / "tas-2001.nc").exists()
    warm = doc["samples_s"]["warm"]
    assert doc["skipped"] == {} and set(warm) == {"startup", "plain", "periods", "region_seam"}
    assert all(len(v) == 1 and v[0] > 0 for v in warm.values())
    assert all(len(v) == 1 and v[0] > 0 for v in doc["job_s"]["warm"].values())
    assert all(v[0] > 0 for v in doc["peak_mib_per_rank"]["warm"].values())
    ratios = doc["ratios"]["warm"]
    assert ratios["periods_over_plain"]["median"] > 0 and "periods_net_over_plain" in ratios
    assert doc["outputs"]["periods_variables"] == ["annual_count", "annual_mean",
                                                   "seasonal_climatology"]
    assert doc["outputs"]["monthly_file"] is True
    assert doc["outputs"]["region_seam_cells_match"] is True
    assert "region_seam_net_over_plain" in ratios
