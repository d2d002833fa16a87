"""Serial tests of ``clusterkit bench``: tiny strong/weak sweeps, plots, and bad input."""

import json
import os

import pytest
from conftest import run_cli

from clusterkit.bench.results import RESULTS_FORMAT
from clusterkit.bench.sweep import parse_ranks
from clusterkit.jobs import weak_arguments
from clusterkit.cli.main import main
from clusterkit.threads import available_cores

cli = run_cli
PNG = b"\x89PNG\r\n\x1a\n"




def one_line_exit_2(status, err):
    lines = [l for l in err.splitlines() if l.strip()]
    assert status == 2 and len(lines) == 1, (status, err)
    return lines[0]


@pytest.fixture(scope="module")
def strong(tmp_path_factory):
    """A strong sweep of the demo job on 1 and 2 ranks, made once for several tests."""
    out = tmp_path_factory.mktemp("strong") / "res"
    status = main(["bench", "strong", "demo", "--ranks", "2,1", "--repeat", "2", "--out",
                   str(out), "--", "--shape", "4,8,16"])
    return status, out


def test_strong_sweep_writes_results_and_plots(strong):
    status, out = strong
    assert status == 0
    assert sorted(os.listdir(out)) == ["breakdown.png", "results.json", "speedup.png",
                                       "time.png"]          # no temporaries left
    for png in ("time.png", "speedup.png", "breakdown.png"):
        assert (out / png).read_bytes()[:8] == PNG
    res = json.loads((out / "results.json").read_text())
    assert res["format"] == RESULTS_FORMAT and res["mode"] == "strong"
    assert res["job"] == "demo" and res["job_args"] == ["--shape", "4,8,16"]
    assert [p["ranks"] for p in res["points"]] == [1, 2]
    cores = available_cores()
    for p in res["points"]:
        assert p["oversubscribed"] == (p["ranks"] > cores)
        assert p["job_s"]["n"] == 2 and len(p["job_s"]["samples"]) == 2
        assert p["job_s"]["min"] <= p["job_s"]["median"] <= p["job_s"]["max"]
        assert 0 < p["job_s"]["median"] < p["launch_s"]["median"]
        assert len(p["commands"]) == 2
        assert all(f"mpirun -n {p['ranks']} " in c and "CLUSTERKIT_PROFILE=1" in c
                   and c.endswith("-m clusterkit.jobs.demo --shape 4,8,16")
                   for c in p["commands"])
        b = p["breakdown_s"]
        assert set(b) == {"compute", "jit", "halo", "io", "other"} and b["compute"] > 0
    assert res["versions"]["mpi4py"] and res["machine"]["cores_available"] == cores
    assert res["plots"] == ["time.png", "speedup.png", "breakdown.png"]


def test_weak_sweep_scales_the_problem(tmp_path, capsys):
    status, out, err = cli(capsys, "bench", "weak", "demo", "--ranks", "1,2", "--repeat", "1",
                           "--out", str(tmp_path), "--no-plots", "--", "--shape", "3,5,8")
    assert status == 0, err
    res = json.loads((tmp_path / "results.json").read_text())
    assert res["mode"] == "weak" and res["weak_rule"].startswith("--shape T,Y,X")
    assert [p["job_args"] for p in res["points"]] == [["--shape", "3,5,8"],
                                                      ["--shape", "3,10,8"]]
    assert "2 ranks run 1/1" in out
    assert os.listdir(tmp_path) == ["results.json"]


def test_weak_scaling_rules(tmp_path):
    w = str(tmp_path)
    assert weak_arguments("stencil", ["10", "1000", "star"], 4, w) == (
        ["10", "2000", "star"], [])
    assert weak_arguments("diffusion", ["--steps", "5"], 4, w)[0] == [
        "--steps", "5", "--shape", "1442,2880"]
    assert weak_arguments("diffusion", ["--shape=100,200"], 2, w)[0] == [
        "--shape", "141,283"]
    args, setup = weak_arguments("climate-stats", ["--shape", "12,8,16", "--chunk-mb", "1"],
                                 3, w)
    assert args[0].endswith("climate-12x24x16.nc") and args[2:] == ["--overwrite",
                                                                     "--chunk-mb", "1"]
    assert setup[0][3:] == ["make-dataset", args[0], "--shape", "12,24,16", "--overwrite"]
    assert args[1] == os.path.join(w, "climate-stats-r3.nc")
    with pytest.raises(ValueError, match="no weak-scaling rule for job 'mypkg.job'"):
        weak_arguments("mypkg.job", [], 2, w)
    with pytest.raises(ValueError, match="ITERATIONS GRID_SIZE"):
        weak_arguments("stencil", ["10"], 2, w)


def test_parse_ranks():
    assert parse_ranks("4, 1,2,2") == [1, 2, 4]
    for bad, msg in (("", "empty"), (" , ", "empty"), ("1,x", "positive integers"),
                     ("1.5", "positive integers"), ("0,2", "at least 1"),
                     ("-1", "at least 1"), ("2,99999999999999999999", "a C int")):
        with pytest.raises(ValueError, match=msg):
            parse_ranks(bad)


def test_plot_redraws_and_overlays(strong, tmp_path, capsys):
    status, out = strong
    assert status == 0
    other = tmp_path / "other"
    other.mkdir()
    res = json.loads((out / "results.json").read_text())
    res["mode"] = "weak"
    (other / "results.json").write_text(json.dumps(res))
    dest = tmp_path / "cmp"
    status, stdout, err = cli(capsys, "bench", "plot", str(out / "results.json"),
                              str(other / "results.json"), "--out", str(dest),
                              "--labels", "a,b")
    assert status == 0, err
    assert sorted(os.listdir(dest)) == ["compare-breakdown.png", "compare-speedup.png",
                                        "compare-time.png"]
    status, stdout, err = cli(capsys, "bench", "plot", str(other / "results.json"))
    assert status == 0, err
    assert (other / "time.png").read_bytes()[:8] == PNG


@pytest.mark.parametrize("argv, message", [
    (["strong", "nojob", "--ranks", "1"], "unknown job 'nojob'; valid jobs: "),
    (["strong", "demo", "--ranks", ""], "--ranks is empty"),
    (["strong", "demo", "--ranks", "1,two"], "comma-separated positive integers"),
    (["strong", "demo", "--ranks", "0,1"], "--ranks must be at least 1"),
    (["strong", "demo", "--ranks", "1", "--repeat", "0"], "argument --repeat"),
    (["strong", "demo", "--ranks", "1", "--out", "/proc/clusterkit-bench"], "not writable"),
    (["weak", "clusterkit.jobs.demo", "--ranks", "1,2"], "no weak-scaling rule"),
    (["weak", "stencil", "--ranks", "1,2", "--", "10"], "ITERATIONS GRID_SIZE"),
    (["strong", "demo", "--ranks", "1", "extra"], "unrecognized arguments: extra"),
    (["fast", "demo"], "invalid choice: 'fast'"),
])
def test_bad_input_is_one_line_exit_2(capsys, argv, message):
    status, out, err = cli(capsys, "bench", *argv)
    assert message in one_line_exit_2(status, err)


def test_unwritable_output_is_a_file(tmp_path, capsys):
    f = tmp_path / "file"
    f.write_text("x")
    status, out, err = cli(capsys, "bench", "strong", "demo", "--ranks", "1", "--out",
                           str(f / "sub"))
    assert "not writable" in one_line_exit_2(status, err)


def test_failing_job_is_one_line_and_leaves_nothing(tmp_path, capsys):
    dest = tmp_path / "new" / "out"            # both made by the sweep, both removed
    status, out, err = cli(capsys, "bench", "strong", "demo", "--ranks", "1", "--repeat", "1",
                           "--out", str(dest), "--", "--shape", "4,x,16")
    line = one_line_exit_2(status, err)
    assert "demo on 1 rank exited with status 2" in line and "--shape must be" in line
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("value", ["inf", "1e300"])
def test_timeout_must_be_finite_and_fit_a_wait(capsys, value):
    """A timeout no child-process wait can take is refused before anything runs."""
    status, out, err = cli(capsys, "bench", "strong", "demo", "--ranks", "1", "--timeout",
                           value)
    assert "argument --timeout: must be a positive, finite number of seconds up to 1000000" in \
        one_line_exit_2(status, err)


def test_rank_counts_this_node_cannot_hold_are_refused_before_any_run(capsys, tmp_path,
                                                                      monkeypatch):
    """The launcher's rank limit applies to a sweep too: one line, nothing run or created."""
    monkeypatch.setenv("CLUSTERKIT_MAX_LOCAL_RANKS", "3")
    out = tmp_path / "sweep"
    status, _, err = cli(capsys, "bench", "strong", "demo", "--ranks", "1,2,4", "--out",
                         str(out))
    assert "CLUSTERKIT_MAX_LOCAL_RANKS" in one_line_exit_2(status, err)
    assert not out.exists()


@pytest.mark.parametrize("content, message", [
    ('{"format": "clusterkit-profile", "version": 1}', "not a clusterkit bench results file"),
    ('{"traceEvents": []}', "not a clusterkit bench results file"),
    ("[1, 2]", "not a clusterkit bench results file"),
    ("not json", "not JSON"),
    ('{"format": "clusterkit-bench", "version": 7, "mode": "strong", "points": [1]}',
     "unsupported version"),
])
def test_plot_rejects_other_files(tmp_path, capsys, content, message):
    path = tmp_path / "r.json"
    path.write_text(content)
    status, out, err = cli(capsys, "bench", "plot", str(path))
    assert message in one_line_exit_2(status, err)
    assert os.listdir(tmp_path) == ["r.json"]


def test_plot_missing_file(tmp_path, capsys):
    status, out, err = cli(capsys, "bench", "plot", str(tmp_path / "none.json"))
    assert "does not exist" in one_line_exit_2(status, err)
