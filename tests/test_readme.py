"""The README's own-job example, run literally as printed, against a serial NumPy reference."""

import os
import pathlib
import re
import shlex
import subprocess
import sys

import numpy as np
import pytest

README = pathlib.Path(__file__).resolve().parent.parent / "README.md"


def _section(title):
    text = README.read_text()
    start = text.index(f"## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end > 0 else None]


def _blocks(section, lang):
    return re.findall(rf"```{lang}\n(.*?)```", section, re.S)


def _reference(folder, passes=3):
    """The example's computation on one process, with NumPy (and xarray to read)."""
    xr = pytest.importorskip("xarray")
    with xr.open_dataset(folder / "climate.nc") as ds:
        t = ds["tas"].values
        lat = ds["lat"].values
    n, m = t.shape[1:]
    for _ in range(passes):
        g = np.pad(t, ((0, 0), (1, 1), (0, 0)))               # zero ghosts beyond the poles
        g = np.concatenate([g[:, :, -1:], g, g[:, :, :1]], axis=2)   # periodic longitude
        t = sum(g[:, i:i + n, j:j + m] for i in range(3) for j in range(3)) / 9
    w = np.cos(np.deg2rad(lat))
    area = (t * w[None, :, None]).sum(axis=(1, 2), dtype="f8") / (w.sum() * m)
    return {"smoothed": t, "time_mean": t.mean(axis=0, dtype="f8"),
            "zonal_mean": t.mean(axis=2, dtype="f8"), "area_mean": area}


def _commands():
    """The README's two shell lines (make the dataset, run the job), as argv lists."""
    lines = [ln.split("#")[0].strip() for ln in
             _blocks(_section("Your own job"), "sh")[0].strip().splitlines()]
    make, run = (shlex.split(ln) for ln in lines)
    assert make[:2] == ["clusterkit", "make-dataset"] and run[:4] == ["clusterkit", "run",
                                                                        "-n", "4"], lines
    exe = str(pathlib.Path(sys.executable).with_name("clusterkit"))
    return [exe] + make[1:], [exe] + run[1:]


@pytest.fixture(scope="module")
def example(tmp_path_factory):
    """The README's myjob.py and its dataset, made by the README's command."""
    folder = tmp_path_factory.mktemp("readme")
    (code,) = _blocks(_section("Your own job"), "python")
    (folder / "myjob.py").write_text(code)
    make, _ = _commands()
    subprocess.run(make, cwd=folder, check=True, capture_output=True, timeout=300)
    return folder


def _run(folder, nranks, *extra, replace=None):
    """The README's job line with ``nranks`` ranks (and ``replace``d or ``extra`` words)."""
    _, run = _commands()
    run[3] = str(nranks)
    for old, new in (replace or {}).items():
        run[run.index(old)] = new
    return subprocess.run(run + list(extra), cwd=folder, capture_output=True, text=True,
                          timeout=300)


@pytest.mark.parametrize("nranks", [1, 2, 3])
def test_own_job_example_matches_numpy(example, nranks):
    xr = pytest.importorskip("xarray")
    out = example / "smooth.nc"
    out.unlink(missing_ok=True)
    proc = _run(example, nranks)
    assert proc.returncode == 0, proc.stderr
    ref = _reference(example)
    (line,) = proc.stdout.strip().splitlines()      # printed once, by rank 0
    assert line == f"tas: area-weighted mean {ref['area_mean'].mean():.4f}; wrote smooth.nc"
    with xr.open_dataset(out) as got, xr.open_dataset(example / "climate.nc") as src:
        np.testing.assert_array_equal(got["smoothed"].values, ref["smoothed"])
        for name in ("time_mean", "zonal_mean", "area_mean"):
            np.testing.assert_allclose(got[name].values, ref[name], rtol=1e-6, err_msg=name)
        assert got["zonal_mean"].dims == ("time", "lat")
        assert got["area_mean"].dims == ("time",)
        for dim in ("time", "lat", "lon"):
            np.testing.assert_array_equal(got[dim].values, src[dim].values)
        assert got["time"].encoding["calendar"] == src["time"].encoding["calendar"]
        assert got["smoothed"].attrs.get("units") == src["tas"].attrs.get("units")


def test_own_job_example_bad_input_is_one_line(example):
    def one_line(proc, text):
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.strip().splitlines() == [f"myjob: error: {text}"]

    fresh = {"smooth.nc": "fresh.nc"}
    one_line(_run(example, 2, "--passes", "-3", replace=fresh), "--passes must be >= 0, got -3")
    one_line(_run(example, 2, "--var", "pr", replace=fresh),
             "variable 'pr' not found in 'climate.nc'; variables: time, lat, lon, tas")
    # the output is checked before any work: a bad output and a bad variable name the output
    proc = _run(example, 2, "--var", "pr", replace={"smooth.nc": "no/such/dir.nc"})
    assert proc.returncode == 2 and "no/such" in proc.stderr and "'pr'" not in proc.stderr
    (example / "taken.nc").write_text("keep me")
    proc = _run(example, 2, replace={"smooth.nc": "taken.nc"})
    one_line(proc, "output 'taken.nc' exists; write it with overwrite=True to replace it")
    assert (example / "taken.nc").read_text() == "keep me"
    assert not [p for p in os.listdir(example) if ".tmp-" in p or p == "fresh.nc"]
