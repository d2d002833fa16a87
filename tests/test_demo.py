"""The demo job end to end on 1, 2 and 3 ranks, through both launch paths."""

import subprocess
import sys

import pytest

from clusterkit.testing import run_mpi


@pytest.mark.parametrize("nranks", [1, 2, 3])
def test_demo_agrees_with_serial_numpy(nranks):
    res = run_mpi(nranks, "clusterkit.jobs.demo", ["--shape", "5,7,11"], timeout=60)
    assert res.returncode == 0, res.stderr
    assert f"{nranks} ranks, field 5x7x11" in res.stdout
    assert "(agrees)" in res.stdout
    assert res.stdout.count("clusterkit demo:") == 1  # printed once, by rank 0


def test_clusterkit_run_demo_default():
    proc = subprocess.run([sys.executable, "-m", "clusterkit.cli.main", "run", "-n", "2", "demo"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "2 ranks, field 24x181x360" in proc.stdout and "(agrees)" in proc.stdout


def test_demo_bad_shape_is_one_line():
    res = run_mpi(2, "clusterkit.jobs.demo", ["--shape", "5,x,11"], timeout=60)
    assert res.returncode == 2
    assert res.stderr.strip().splitlines() == [
        "demo: error: --shape must be three positive integers T,Y,X, got '5,x,11'"]


def test_demo_more_ranks_than_latitudes_is_refused_on_every_rank():
    res = run_mpi(3, "clusterkit.jobs.demo", ["--shape", "4,2,8"], timeout=60)
    assert res.returncode == 2
    assert "fewer than the 3 ranks" in res.stderr
