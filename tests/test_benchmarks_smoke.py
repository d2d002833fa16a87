"""Smoke tests of benchmark drivers: tiny sizes, 2 ranks, a timeout; no timing asserted."""

import json
import os

import pytest

from clusterkit.testing import run_mpi

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
