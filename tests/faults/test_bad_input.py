"""Bad input to climate-stats, make-dataset, run, demo, diffusion and stencil: one line.

One parametrized test over the table in :mod:`.cases_table`: every case is a real
process (``python -m clusterkit.cli.main run -n N JOB ...`` or ``... make-dataset ...``,
some under ``mpirun``) with a timeout, and must end with exit status 2, exactly one
line on stderr naming the problem, no traceback, nothing written to the output
directory (no output, no ``.tmp-`` file), and every input file's bytes and mtime as
they were.
"""

import hashlib
import os
import shutil
import signal
import subprocess
import sys

import pytest

from clusterkit.testing import run_mpi

from .cases_inputs import BUILDERS
from .cases_table import CASES

#: seconds a case may take before it counts as a hang
TIMEOUT = 120


def _cli(*args, cwd=None):
    """Run the ``clusterkit`` command; ``(status, stdout, stderr)``; a hang fails the test
    after killing the process group (``clusterkit run``'s mpirun and ranks included)."""
    proc = subprocess.Popen([sys.executable, "-m", "clusterkit.cli.main", *args], cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"hang: {' '.join(args)} did not end within {TIMEOUT} s\n{err}")
    return proc.returncode, out, err


def _snapshot(folder):
    """``{relative path: (sha256, mtime_ns)}`` of every file under ``folder`` (and every
    directory, with ``None`` for the hash)."""
    found = {}
    for root, dirs, files in os.walk(folder):
        for d in dirs:
            found[os.path.relpath(os.path.join(root, d), folder)] = None
        for name in files:
            path = os.path.join(root, name)
            with open(path, "rb") as f:
                digest = hashlib.sha256(f.read()).hexdigest()
            found[os.path.relpath(path, folder)] = (digest, os.stat(path).st_mtime_ns)
    return found


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """The input files of the table, made once: the odd ones by hand, the good ones with
    ``clusterkit make-dataset``, a truncated copy, and diffusion checkpoints."""
    root = tmp_path_factory.mktemp("bad-input")
    folder = root / "in"
    folder.mkdir()
    for name, build in BUILDERS.items():
        build(str(folder / name))
    good = str(folder / "good.nc")
    for args in ([good, "--shape", "12,9,16"],
                 [str(folder / "levels.nc"), "--shape", "12,9,16", "--levels", "2"]):
        status, _, err = _cli("make-dataset", *args)
        assert status == 0, err
    data = open(good, "rb").read()
    with open(folder / "truncated.nc", "wb") as f:
        f.write(data[:len(data) // 2])
    ck, ckbad = folder / "ck", folder / "ckbad"
    status, _, err = _cli("run", "-n", "1", "diffusion", "--shape", "10,10", "--steps", "4",
                          "--checkpoint-dir", str(ck), "--checkpoint-every", "2")
    assert status == 0, err
    shutil.copytree(ck, ckbad)
    for name in os.listdir(ckbad):
        with open(ckbad / name, "r+b") as f:
            f.truncate(1000)
    assert len(os.listdir(ck)) == 2
    return {"in": str(folder), "ck": str(ck), "ckbad": str(ckbad)}


def _param(case):
    marks = [pytest.mark.xfail(strict=True, reason=case.xfail)] if case.xfail else []
    return pytest.param(case, id=case.id, marks=marks)


@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_bad_input_is_one_line_exit_2_and_nothing_written(case, inputs, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    for name in case.pre:
        (out / name).write_text("keep me")
    argv = [a.format(out=str(out), **inputs) for a in case.argv]
    before_in, before_out = _snapshot(inputs["in"]), _snapshot(out)
    if case.kind == "make-dataset-mpi":
        try:
            res = run_mpi(case.n, "clusterkit.cli.main", argv, timeout=TIMEOUT, cwd=str(out))
        except subprocess.TimeoutExpired as exc:
            pytest.fail(f"hang: did not end within {TIMEOUT} s\n{exc.stderr}")
        status, stdout, stderr = res.returncode, res.stdout, res.stderr
    elif case.kind == "make-dataset":
        status, stdout, stderr = _cli(*argv, cwd=str(out))
    else:
        ranks = [] if case.n is None else ["-n", str(case.n)]
        status, stdout, stderr = _cli("run", *ranks, *argv, cwd=str(out))

    assert "Traceback" not in stdout + stderr, stderr
    assert status == 2, f"exit status {status}; stderr:\n{stderr}"
    lines = stderr.splitlines()
    assert len(lines) == 1, f"{len(lines)} lines on stderr:\n{stderr}"
    fragments = (case.fragment,) if isinstance(case.fragment, str) else case.fragment
    for fragment in fragments:
        assert fragment in lines[0], f"{fragment!r} not in {lines[0]!r}"
    assert "error:" in lines[0]
    after_out = _snapshot(out)
    assert not [p for p in after_out if ".tmp-" in p], after_out
    assert after_out == before_out, "the output directory changed"
    assert _snapshot(inputs["in"]) == before_in, "an input file changed"

