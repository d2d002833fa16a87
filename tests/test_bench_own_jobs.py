"""``clusterkit bench weak`` of a user's own job: its ``WEAK_SCALING`` declaration (read
without importing the file) or ``--scale``, and bad declarations as one line, exit 2,
before any run."""

import json
import sys

import pytest
from conftest import run_cli

from clusterkit.jobs import weak_rule

cli = run_cli

#: a tiny job: rank 0 appends "RANKS SHAPE" to sizes.log beside it; every process that
#: loads the file (a run) touches "ran" beside it
JOB = '''"""own.py: a tiny job for weak-scaling sweeps of a user's own job."""
import os
import sys

import clusterkit as ck

HERE = os.path.dirname(os.path.abspath(__file__))
{declaration}
open(os.path.join(HERE, "ran"), "a").close()


def main(argv=None, comm=None):
    p = ck.JobArgumentParser(prog="own", comm=comm)
    p.add_argument("--shape", default="4,6")
    p.add_argument("--steps", type=int, default=1)
    args = p.parse_args(argv)
    shape = tuple(int(s) for s in args.shape.split(","))
    grid = ck.Grid(shape, comm=comm)
    total = grid.zeros("f8").mean()
    if grid.rank == 0:
        with open(os.path.join(HERE, "sizes.log"), "a") as f:
            f.write(f"{{grid.size}} {{args.shape}} {{total}}\\n")


if __name__ == "__main__":
    sys.exit(ck.run_job(main, prog="own"))
'''


def write_job(folder, declaration="", name="own.py"):
    """Write the tiny job with ``declaration`` (module-level lines) into ``folder``."""
    path = folder / name
    path.write_text(JOB.format(declaration=declaration))
    return path


def one_line_exit_2(status, err):
    lines = [line for line in err.splitlines() if line.strip()]
    assert status == 2 and len(lines) == 1, (status, err)
    return lines[0]


@pytest.mark.parametrize("declaration, scale", [
    ('WEAK_SCALING = {"--shape": "1,ranks"}', []),
    ("", ["--scale", "shape=1,ranks"]),
    ('WEAK_SCALING = {"--shape": "ranks,1"}  # --scale replaces it', ["--scale=--shape=1,ranks"]),
])
def test_own_job_grows_as_declared(tmp_path, capsys, declaration, scale):
    job = write_job(tmp_path, declaration)
    out = tmp_path / "res"
    status, stdout, err = cli(capsys, "bench", "weak", str(job), "--ranks", "1,2",
                              "--repeat", "1", "--no-plots", "--out", str(out), *scale,
                              "--", "--shape", "3,5", "--steps", "2")
    assert status == 0, err
    res = json.loads((out / "results.json").read_text())
    assert res["mode"] == "weak" and res["target"] == str(job)
    assert res["weak_rule"].startswith("--shape: 1,ranks (")
    assert res["weak_rule"].endswith("(--scale)" if scale else "(WEAK_SCALING in own.py)")
    assert [p["job_args"] for p in res["points"]] == [["--steps", "2", "--shape", "3,5"],
                                                      ["--steps", "2", "--shape", "3,10"]]
    for p in res["points"]:
        (cmd,) = p["commands"]
        assert f"mpirun -n {p['ranks']} " in cmd and cmd.endswith(
            f"{job} " + " ".join(p["job_args"]))
    # what the job itself saw, run by run
    assert (tmp_path / "sizes.log").read_text().split("\n") == [
        "1 3,5 0.0", "2 3,10 0.0", ""]


def test_declared_default_and_positional(tmp_path):
    job = write_job(tmp_path, 'WEAK_SCALING: dict = {"shape": {"grow": "sqrt,cbrt", '
                    '"default": "10,10"}}')
    rule = weak_rule(str(job), str(job), False)
    assert rule.text == "--shape: sqrt,cbrt (default 10,10) (WEAK_SCALING in own.py)"
    assert rule([], 8, "/w") == (["--shape", "28,20"], [])
    assert rule(["--shape=3,5", "--steps", "2"], 4, "/w") == (
        ["--steps", "2", "--shape", "6,8"], [])
    rule = weak_rule("j.py", None, False, ["2=ranks", "1=1,sqrt"])
    assert rule.text == "positional argument 2: ranks; positional argument 1: 1,sqrt (--scale)"
    assert rule(["7,100", "-v", "10", "x"], 4, "/w") == (["7,200", "-v", "40", "x"], [])
    assert not (tmp_path / "ran").exists()                   # the file was read, not run


def test_own_module_is_read_not_imported(tmp_path, monkeypatch):
    (tmp_path / "ownpkg").mkdir()
    (tmp_path / "ownpkg" / "__init__.py").write_text("")
    (tmp_path / "ownpkg" / "scaled.py").write_text(
        'WEAK_SCALING = {1: "cbrt"}\nraise RuntimeError("imported")\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    rule = weak_rule("ownpkg.scaled", "ownpkg.scaled", True)
    assert rule(["100"], 27, "/w") == (["300"], [])
    assert "ownpkg.scaled" not in sys.modules


def test_own_job_without_a_rule_names_both_ways(tmp_path, capsys):
    job = write_job(tmp_path)
    status, stdout, err = cli(capsys, "bench", "weak", str(job), "--ranks", "1,2",
                              "--out", str(tmp_path / "res"))
    line = one_line_exit_2(status, err)
    assert line.startswith(f"clusterkit bench: error: no weak-scaling rule for job '{job}': ")
    assert "WEAK_SCALING = {" in line and "--scale shape=1,ranks,1" in line
    assert not (tmp_path / "res").exists() and not (tmp_path / "ran").exists()


@pytest.mark.parametrize("declaration, scale, message", [
    ("WEAK_SCALING = {'--shape': GROWTH}", [], "(line 8) must be a literal"),
    ("WEAK_SCALING = dict(shape='1,ranks')", [], "(line 8) must be a literal"),
    ("WEAK_SCALING = {}\nWEAK_SCALING |= {'--shape': '1,ranks'}", [],
     "(line 9) must be assigned once"),
    ("WEAK_SCALING = ['--shape', '1,ranks']", [], "must be a non-empty dict"),
    ("WEAK_SCALING = {'--shpe': '1,ranks'}", [],
     "grows --shpe, which {job} does not define; its options: --shape, --steps"),
    ("WEAK_SCALING = {3: 'sqrt'}", [], "grows positional argument 3, but {job} has 0"),
    ("WEAK_SCALING = {0: 'sqrt'}", [], "positional argument numbers start at 1"),
    ("WEAK_SCALING = {'--shape': '1,double'}", [], "unknown growth factor 'double'"),
    ("WEAK_SCALING = {'--shape': 2}", [], "must be a string such as '1,ranks,1'"),
    ("WEAK_SCALING = {'--shape': {'grow': '1,ranks', 'deflt': '4,6'}}", [],
     "unknown key 'deflt'"),
    ("WEAK_SCALING = {'--shape': {'grow': '1,ranks', 'default': '4'}}", [],
     "the default of --shape must be 2 positive integers"),
    ("WEAK_SCALING = {'--shape': '1,ranks'", [], "invalid Python line 8"),
    ("WEAK_SCALING = {'--shape': '1,ranks'}", ["--", "--shape", "4"],
     "{job}'s --shape must be 2 positive integers, got '4'"),
    ("WEAK_SCALING = {'--shape': '1,ranks'}", ["--", "--steps", "2"],
     "grows --shape (1,ranks): give --shape with 2 comma-separated positive integers"),
    ("", ["--scale", "shape"], "--scale 'shape': give ARGUMENT=GROWTH"),
    ("", ["--scale", "shape=1,rank"], "--scale: unknown growth factor 'rank'"),
    ("", ["--scale", "shpe=1,ranks"], "--scale grows --shpe, which {job} does not define"),
    ("", ["--scale", "shape=1,ranks", "--scale=--shape=1,1"], "gives --shape twice"),
])
def test_bad_declaration_is_one_line_exit_2_before_any_run(tmp_path, capsys, declaration,
                                                          scale, message):
    job = write_job(tmp_path, declaration)
    rest = scale if "--" in scale else scale + ["--", "--shape", "4,6"]
    status, stdout, err = cli(capsys, "bench", "weak", str(job), "--ranks", "1,2",
                              "--out", str(tmp_path / "res"), *rest)
    line = one_line_exit_2(status, err)
    assert line.startswith("clusterkit bench: error: ") and message.format(job=job) in line
    assert not (tmp_path / "res").exists() and not (tmp_path / "ran").exists()


def test_scale_replaces_a_built_in_rule(tmp_path):
    rule = weak_rule("demo", "clusterkit.jobs.demo", True, ["shape=1,1,ranks"])
    assert rule(["--shape", "2,3,4"], 2, str(tmp_path)) == (["--shape", "2,3,8"], [])
    with pytest.raises(ValueError, match="grows --shap, which demo does not define"):
        weak_rule("demo", "clusterkit.jobs.demo", True, ["shap=1,1,ranks"])
