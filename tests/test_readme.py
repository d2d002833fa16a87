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


def _reference(steps):
    """The example's computation on one process, with NumPy only."""
    lat = np.linspace(-90, 90, 181)
    lon = np.arange(360.0)
    y, x = np.deg2rad(lat), np.deg2rad(lon)
    u = 280 + 20 * np.sin(y)[:, None] + 10 * np.cos(x)[None, :]
    for _ in range(steps):
        g = np.pad(u, ((1, 1), (0, 0)))               # zero ghosts beyond the poles
        g = np.concatenate([g[:, -1:], g, g[:, :1]], axis=1)   # periodic longitude
        n, m = u.shape
        u = sum(g[i:i + n, j:j + m] for i in range(3) for j in range(3)) / 9
    w = np.cos(np.deg2rad(lat))
    return float((u * w[:, None]).sum() / (w.sum() * lon.size)), float(u.max())


@pytest.fixture(scope="module")
def example(tmp_path_factory):
    """The README's myjob.py, written where the README's command runs it."""
    folder = tmp_path_factory.mktemp("readme")
    (code,) = _blocks(_section("Your own job"), "python")
    (folder / "myjob.py").write_text(code)
    return folder


def _readme_command(nranks):
    """The README's shell line, with its rank count replaced by ``nranks``."""
    line = _blocks(_section("Your own job"), "sh")[0].split("#")[0].strip()
    argv = shlex.split(line)
    assert argv[:4] == ["clusterkit", "run", "-n", "4"], argv
    exe = pathlib.Path(sys.executable).with_name("clusterkit")
    return [str(exe), "run", "-n", str(nranks)] + argv[4:]


@pytest.mark.parametrize("nranks", [1, 2, 4])
def test_own_job_example_matches_numpy(example, nranks):
    argv = _readme_command(nranks)
    steps = int(argv[argv.index("--steps") + 1])
    proc = subprocess.run(argv, cwd=example, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    (line,) = proc.stdout.strip().splitlines()      # printed once, by rank 0
    mean, top = _reference(steps)
    assert line == f"after {steps} steps: area-weighted mean {mean:.6f}, max {top:.6f}"


def test_own_job_example_bad_input_is_one_line(example):
    argv = _readme_command(2)
    argv[argv.index("--steps") + 1] = "-3"
    proc = subprocess.run(argv, cwd=example, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == ["myjob: error: --steps must be >= 0, got -3"]
