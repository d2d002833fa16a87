"""Bad input to climate-stats, make-dataset, run, demo, diffusion and stencil: one line.

One parametrized test over the table in :mod:`.cases_table`: every case is a real
process (``python -m clusterkit.cli.main run -n N JOB ...`` or ``... make-dataset ...``,
some under ``mpirun``) with a timeout, and must end with exit status 2, exactly one
line on stderr naming the problem, no traceback, nothing written to the output
directory (no output, no ``.tmp-`` file, not even for a moment: its mtime is compared
too), and every input file's bytes, mode and mtime as they were.
"""

import os
import shutil

import pytest

from .cases_inputs import BUILDERS
from .cases_table import CASES
from .helpers import run_cli, run_mpi_job, snapshot

#: seconds a case may take before it counts as a hang
TIMEOUT = 120


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
        res = run_cli(["make-dataset", *args], timeout=TIMEOUT)
        assert res.returncode == 0, res.stderr
    data = open(good, "rb").read()
    with open(folder / "truncated.nc", "wb") as f:
        f.write(data[:len(data) // 2])
    ck, ckbad = folder / "ck", folder / "ckbad"
    res = run_cli(["run", "-n", "1", "diffusion", "--shape", "10,10", "--steps", "4",
                   "--checkpoint-dir", str(ck), "--checkpoint-every", "2"], timeout=TIMEOUT)
    assert res.returncode == 0, res.stderr
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
    before_in, before_out = snapshot(inputs["in"], directory_mtimes=False), snapshot(out)
    if case.kind == "make-dataset-mpi":
        res = run_mpi_job(case.n, "clusterkit.cli.main", argv, timeout=TIMEOUT, cwd=str(out))
    elif case.kind == "make-dataset":
        res = run_cli(argv, timeout=TIMEOUT, cwd=str(out))
    else:
        ranks = [] if case.n is None else ["-n", str(case.n)]
        res = run_cli(["run", *ranks, *argv], timeout=TIMEOUT, cwd=str(out))
    status, stdout, stderr = res.returncode, res.stdout, res.stderr

    assert "Traceback" not in stdout + stderr, stderr
    assert status == 2, f"exit status {status}; stderr:\n{stderr}"
    lines = stderr.splitlines()
    assert len(lines) == 1, f"{len(lines)} lines on stderr:\n{stderr}"
    fragments = (case.fragment,) if isinstance(case.fragment, str) else case.fragment
    for fragment in fragments:
        assert fragment in lines[0], f"{fragment!r} not in {lines[0]!r}"
    assert "error:" in lines[0]
    after_out = snapshot(out)
    assert not [p for p in after_out if ".tmp-" in p], after_out
    assert after_out == before_out, "the output directory changed"
    assert snapshot(inputs["in"], directory_mtimes=False) == before_in, "an input file changed"

