"""``clusterkit bench … --slurm`` and ``bench collect``: pure parts, bad input, and sweeps
run end to end on the real local Slurm of the ``slurm`` fixture (tests/slurm_fixture.py)."""

import json
import os
import subprocess
import time

import pytest
from conftest import run_cli

from clusterkit.bench.batch import collect_results, read_manifest, run_log
from clusterkit.cli.bench_slurm import failure_line, node_layout
from clusterkit.slurm.render import render, template_for
from clusterkit.slurm.sites import load_site
from clusterkit.slurm.spec import JobSpec
from test_bench_own_jobs import write_job

cli = run_cli
PNG = b"\x89PNG\r\n\x1a\n"
TINY = ["--", "--shape", "16,32", "--steps", "3"]      # diffusion, about a second a run




def one_line(status, err, expected_status):
    lines = [line for line in err.splitlines() if line.strip()]
    assert status == expected_status and len(lines) == 1, (status, err)
    return lines[0]


def scontrol(job_id):
    out = subprocess.run(["scontrol", "--oneliner", "show", "job", job_id], check=True,
                         capture_output=True, text=True, timeout=30).stdout
    return dict(f.split("=", 1) for f in out.split() if "=" in f)


# --------------------------------------------------------------------------- pure parts
def test_node_layout():
    assert node_layout(3) == (1, 3)
    assert node_layout(4, 8) == (1, 4) and node_layout(16, 8) == (2, 8)
    with pytest.raises(ValueError, match="not a multiple of --ntasks-per-node 8"):
        node_layout(12, 8)


def test_run_log():
    text = ("clusterkit: job 7 on n1: ranks=2\n"
            "clusterkit: run 0 started 100.25 in job 7 on n1\nnoise\n"
            "clusterkit: run 0 ended 101.75\n"
            "clusterkit: run 1 started 102.0 in job 7 on n1\n")
    assert run_log(text) == {0: {"job_id": "7", "node": "n1", "launch_s": 1.5},
                             1: {"job_id": "7", "node": "n1", "launch_s": None}}
    assert run_log("") == {}


def test_failure_line_names_rank_count_state_and_log(tmp_path):
    err = tmp_path / "slurm-5.err"
    err.write_text("clusterkit: job 5 on n: ranks=4\nclusterkit: run 0 started 1 in job 5 on n\n"
                   "demo: error: --shape must be three integers\n"
                   "srun: error: n: task 0: Exited with exit code 2\n")
    line = failure_line({"ranks": 4, "job_id": "5", "stderr": str(err)},
                        {"JobState": "FAILED", "ExitCode": "2:0", "Reason": "NonZeroExitCode"})
    assert line == (f"4 ranks: Slurm job 5 FAILED (exit code 2:0); log {err}: "
                    "demo: error: --shape must be three integers")
    line = failure_line({"ranks": 1, "job_id": "6", "stderr": str(tmp_path / "none")}, None)
    assert line.startswith("1 rank: Slurm job 6 forgotten by Slurm; log ")


def test_runs_spec_renders_a_loop_with_per_run_values():
    spec = JobSpec("clusterkit.jobs.demo", args=("--tag", "r{run_index} x"), python="/py",
                   ntasks_per_node=2, runs=3, output_dir="/o",
                   env=(("A", "1"), ("P", "/o/p {run_index}.json")))
    assert template_for(spec) == "runs.sh.tmpl"
    text = render(spec, load_site("local"))
    subprocess.run(["bash", "-n"], input=text, text=True, check=True, timeout=30)
    assert "for ((CLUSTERKIT_RUN = 0; CLUSTERKIT_RUN < 3; CLUSTERKIT_RUN++)); do" in text
    assert "started by the site's launcher 3 times in a row" in text
    assert "\nexport A=1\n" in text                          # constant: set once, up front
    assert "\n    export P='/o/p '\"${CLUSTERKIT_RUN}\".json\n" in text
    assert "clusterkit.jobs.demo --tag r\"${CLUSTERKIT_RUN}\"' x'" in text
    # the per-run values really expand per run
    loop = 'for CLUSTERKIT_RUN in 0 1; do echo r"${CLUSTERKIT_RUN}"\' x\'; done'
    assert subprocess.run(["bash", "-c", loop], capture_output=True, text=True,
                          timeout=30).stdout == "r0 x\nr1 x\n"
    with pytest.raises(ValueError, match="uses {run_index} but the job has no runs"):
        JobSpec("clusterkit.jobs.demo", args=("{run_index}",), output_dir="/o")
    with pytest.raises(ValueError, match="runs cannot be combined"):
        JobSpec("clusterkit.jobs.demo", runs=2, array="0-1", output_dir="/o")
    with pytest.raises(ValueError, match="runs must be a positive integer"):
        JobSpec("clusterkit.jobs.demo", runs=0, output_dir="/o")
    assert template_for(JobSpec("clusterkit.jobs.demo", output_dir="/o")) == "mpi.sh.tmpl"


def test_read_manifest_rejects_other_directories(tmp_path):
    with pytest.raises(ValueError, match="holds no batch sweep"):
        read_manifest(tmp_path)
    (tmp_path / "slurm").mkdir()
    (tmp_path / "slurm" / "sweep.json").write_text('{"format": "other"}')
    with pytest.raises(ValueError, match="not a clusterkit batch-sweep manifest"):
        read_manifest(tmp_path)


# --------------------------------------------------------------------------- bad input
@pytest.fixture
def fake_sbatch(tmp_path, monkeypatch):
    """An ``sbatch`` on PATH that records being called (bad input must never reach it)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    called = tmp_path / "sbatch-called"
    (bin_dir / "sbatch").write_text(f"#!/bin/sh\ntouch {called}\nexit 1\n")
    (bin_dir / "sbatch").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    return called


@pytest.mark.parametrize("argv, message", [
    (["--time", "1:99"], "--time"),
    (["--time", "soon"], "--time"),
    (["--partition", "bad name"], "--partition"),
    (["--ranks", "4,12", "--ntasks-per-node", "8"], "not a multiple of --ntasks-per-node 8"),
    (["--sbatch=--ntasks=3"], "--nodes/--ntasks-per-node"),
    (["--site", "nosuchsite"], "unknown site 'nosuchsite'"),
    (["--cpus-per-task", "0"], "argument -c/--cpus-per-task"),
])
def test_bad_slurm_input_is_one_line_exit_2_and_submits_nothing(tmp_path, capsys, fake_sbatch,
                                                                argv, message):
    out = tmp_path / "res"
    ranks = [] if "--ranks" in argv else ["--ranks", "1,2"]
    status, stdout, err = cli(capsys, "bench", "strong", "diffusion", *ranks, "--slurm",
                              "--out", str(out), *argv)
    assert message in one_line(status, err, 2)
    assert not out.exists() and not fake_sbatch.exists()


@pytest.mark.parametrize("declaration, scale, message", [
    ("", [], "or give it with --scale"),
    ("WEAK_SCALING = {'--shape': '1,2'}", [], "unknown growth factor '2'"),
    ("WEAK_SCALING = {'--shape': '1,ranks'}", ["--scale", "size=ranks"],
     "--scale grows --size, which"),
])
def test_bad_weak_rule_of_an_own_job_on_slurm_submits_nothing(tmp_path, capsys, fake_sbatch,
                                                              declaration, scale, message):
    job = write_job(tmp_path, declaration)
    out = tmp_path / "res"
    status, stdout, err = cli(capsys, "bench", "weak", str(job), "--ranks", "1,2", "--slurm",
                              "--out", str(out), *scale, "--", "--shape", "4,6")
    assert message in one_line(status, err, 2)
    assert not out.exists() and not fake_sbatch.exists() and not (tmp_path / "ran").exists()


def test_slurm_without_sbatch_on_path(tmp_path, capsys, monkeypatch):
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    status, stdout, err = cli(capsys, "bench", "strong", "demo", "--ranks", "1", "--slurm",
                              "--out", str(tmp_path / "res"))
    assert "sbatch not found on PATH" in one_line(status, err, 2)
    assert not (tmp_path / "res").exists()


def test_slurm_options_need_slurm(tmp_path, capsys):
    status, stdout, err = cli(capsys, "bench", "strong", "demo", "--ranks", "1", "--no-wait",
                              "--partition", "p", "--out", str(tmp_path / "res"))
    assert "--no-wait, --partition only make sense with --slurm" in one_line(status, err, 2)
    status, stdout, err = cli(capsys, "bench", "collect", str(tmp_path))
    assert "holds no batch sweep" in one_line(status, err, 2)


# --------------------------------------------------------------------------- live Slurm
def test_strong_sweep_on_slurm_matches_a_local_sweep(slurm, tmp_path, capsys):
    out = tmp_path / "slurm-res"
    status, stdout, err = cli(capsys, "bench", "strong", "diffusion", "--ranks", "2,1",
                              "--repeat", "2", "--warmup", "0", "--slurm", "--time", "5",
                              "--out", str(out), *TINY)
    assert status == 0, err
    assert "2 ranks: job " in stdout and "COMPLETED" in stdout and "wrote " in stdout
    assert sorted(os.listdir(out)) == ["breakdown.png", "results.json", "slurm", "speedup.png",
                                       "time.png"]
    assert (out / "time.png").read_bytes()[:8] == PNG
    res = json.loads((out / "results.json").read_text())

    local_out = tmp_path / "local-res"
    status, _, err = cli(capsys, "bench", "strong", "diffusion", "--ranks", "1,2", "--repeat",
                         "1", "--no-plots", "--out", str(local_out), *TINY)
    assert status == 0, err
    local = json.loads((local_out / "results.json").read_text())

    assert set(res) == set(local) | {"launcher", "slurm"}
    for key in ("format", "version", "mode", "job", "target", "job_args", "ranks", "weak_rule"):
        assert res[key] == local[key], key
    assert res["repeat"] == 2 and res["warmup"] == 0 and res["launcher"] == "slurm"
    assert res["slurm"]["site"] == "local"
    # the machine is the compute node's (here the local slurmd's host), the submit host aside
    assert res["machine"]["described_on"].startswith("compute node")
    assert res["machine"]["hostname"] == res["points"][0]["slurm"]["hosts"][0]
    assert res["slurm"]["submit_host_machine"]["hostname"] == local["machine"]["hostname"]
    assert set(res["slurm"]["submit_host_machine"]) == {"hostname", "platform", "cpu_count",
                                                        "cpu_model"}
    job_ids = res["slurm"]["job_ids"]
    assert len(job_ids) == 2 and len(set(job_ids)) == 2
    for p, lp in zip(res["points"], local["points"]):
        assert set(p) == set(lp) | {"slurm"}
        assert set(p["regions"]) == set(lp["regions"]) and set(p["breakdown_s"]) == \
            set(lp["breakdown_s"])
        assert p["ranks"] == lp["ranks"] and p["job_args"] == lp["job_args"]
        assert p["job_s"]["n"] == 2 and 0 < p["job_s"]["median"] < p["launch_s"]["median"]
        assert p["oversubscribed"] is False and p["numba_threads"] == 1
        s = p["slurm"]
        assert s["job_id"] == job_ids[p["ranks"] - 1] and s["state"] == "COMPLETED"
        assert s["hosts"] == sorted({run["node"] for run in s["runs"]})  # ranks' hosts
        # each timed run logged, from inside the allocation, the job it ran in
        assert [run["job_id"] for run in s["runs"]] == [s["job_id"]] * 2
        rec = scontrol(s["job_id"])
        assert rec["JobState"] == "COMPLETED" and rec["NumTasks"] == str(p["ranks"])
        assert f"job {s['job_id']} on " in open(s["stderr"]).read()
        assert len(p["commands"]) == 2 and "srun --mpi=pmix " in p["commands"][0]


def test_no_wait_then_collect(slurm, tmp_path, capsys):
    out = tmp_path / "res"
    # held, so that it is certainly still queued while we look
    status, stdout, err = cli(capsys, "bench", "weak", "diffusion", "--ranks", "1",
                              "--repeat", "1", "--slurm", "--no-wait", "--time", "5",
                              "--sbatch=--hold", "--out", str(out), *TINY)
    assert status == 0, err
    (job_id,) = stdout.split()
    assert f"clusterkit bench collect {out}" in err
    status, stdout, err = cli(capsys, "bench", "collect", str(out))
    line = one_line(status, err, 3)
    assert f"not finished yet: 1 rank job {job_id} PENDING (JobHeldUser)" in line
    assert line.endswith(f"clusterkit bench collect {out} --wait")
    status, stdout, err = cli(capsys, "bench", "collect", str(out), "--wait", "--timeout", "1")
    assert "not finished after waiting 1 s" in one_line(status, err, 3)
    status, stdout, err = cli(capsys, "bench", "strong", "diffusion", "--ranks", "1", "--slurm",
                              "--out", str(out), *TINY)
    assert f"jobs {job_id} are queued or running" in one_line(status, err, 2)
    assert not (out / "results.json").exists()
    subprocess.run(["scontrol", "release", job_id], check=True, timeout=30)
    status, stdout, err = cli(capsys, "bench", "collect", str(out), "--wait", "--timeout", "120")
    assert status == 0, err
    res = json.loads((out / "results.json").read_text())
    assert res["mode"] == "weak" and res["warmup"] == 1 and res["repeat"] == 1
    (p,) = res["points"]
    assert p["slurm"]["job_id"] == job_id and p["slurm"]["runs"][0]["run"] == 1
    assert sorted(os.listdir(out / "slurm" / "profiles")) == ["r1-run0.json", "r1-run1.json"]


def test_failing_job_is_one_line_with_its_log_and_leaves_no_results(slurm, tmp_path, capsys):
    out = tmp_path / "res"
    status, stdout, err = cli(capsys, "bench", "strong", "diffusion", "--ranks", "1,2",
                              "--repeat", "1", "--warmup", "0", "--slurm", "--time", "5",
                              "--out", str(out), "--", "--shape", "16,x")
    line = one_line(status, err, 1)
    manifest = read_manifest(out)
    first, second = manifest["points"]
    assert line.startswith(f"clusterkit bench: error: 1 rank: Slurm job {first['job_id']} "
                           f"FAILED (exit code 2:0); log {first['stderr']}: ")
    assert "--shape must be" in line
    # the 2-rank job waits for the cores of the 1-rank one here, so it is cancelled
    # (on a bigger node it may have failed on its own already)
    deadline = time.monotonic() + 30
    state = scontrol(second["job_id"])["JobState"]
    while state == "COMPLETING" and time.monotonic() < deadline:  # still being torn down
        time.sleep(0.2)
        state = scontrol(second["job_id"])["JobState"]
    assert state in ("CANCELLED", "FAILED")
    if state == "CANCELLED":
        assert line.endswith(f"cancelled the sweep's unfinished job {second['job_id']}")
    assert not (out / "results.json").exists() and not list(out.glob("*.png"))
    with pytest.raises(Exception, match="left no profile"):
        collect_results(manifest)


def test_a_job_that_can_never_start_is_a_failure_not_a_wait(slurm, tmp_path, capsys):
    out = tmp_path / "res"
    status, stdout, err = cli(capsys, "bench", "strong", "diffusion", "--ranks", "1,4096",
                              "--repeat", "1", "--warmup", "0", "--slurm", "--time", "5",
                              "--out", str(out), *TINY)
    line = one_line(status, err, 1)           # Slurm accepts it, to pend forever
    first, big = read_manifest(out)["points"]
    assert line.startswith(f"clusterkit bench: error: 4096 ranks: Slurm job {big['job_id']} "
                           "cannot start: pending with reason PartitionConfig (Slurm accepted "
                           "a request the partition cannot meet); log ")
    assert big["job_id"] in line.split("cancelled the sweep's unfinished job")[1]
    assert scontrol(big["job_id"])["JobState"] == "CANCELLED"
    assert not (out / "results.json").exists()


def test_rejected_submission_cancels_what_was_submitted(slurm, tmp_path, capsys, monkeypatch):
    # sbatch refuses the second job: the first, already queued, must not stay behind
    bin_dir, count = tmp_path / "bin", tmp_path / "count"
    bin_dir.mkdir()
    real = subprocess.run(["sh", "-c", "command -v sbatch"], capture_output=True, text=True,
                          check=True).stdout.strip()
    (bin_dir / "sbatch").write_text(
        f"#!/bin/sh\necho x >> {count}\n"
        f"if [ $(wc -l < {count}) -ge 2 ]; then\n"
        "  echo 'sbatch: error: Batch job submission failed: QOSMaxSubmitJobPerUserLimit' >&2\n"
        f"  exit 1\nfi\nexec {real} \"$@\"\n")
    (bin_dir / "sbatch").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    out = tmp_path / "res"
    status, stdout, err = cli(capsys, "bench", "strong", "diffusion", "--ranks", "1,2",
                              "--slurm", "--sbatch=--hold", "--out", str(out), *TINY)
    line = one_line(status, err, 2)
    assert line == ("clusterkit bench: error: sbatch failed: sbatch: error: Batch job "
                    "submission failed: QOSMaxSubmitJobPerUserLimit")
    assert not out.exists()
    queue = subprocess.run(["squeue", "-h", "-o", "%j %T"], capture_output=True, text=True,
                           check=True, timeout=30).stdout
    assert "bench-diffusion-strong-1 PENDING" not in queue, queue


def test_weak_sweep_of_an_own_job_on_slurm(slurm, tmp_path, capsys):
    job = write_job(tmp_path, 'WEAK_SCALING = {"--shape": {"grow": "ranks,1", '
                    '"default": "3,5"}}')
    out = tmp_path / "res"
    status, stdout, err = cli(capsys, "bench", "weak", str(job), "--ranks", "1,2",
                              "--repeat", "1", "--warmup", "0", "--slurm", "--time", "5",
                              "--no-plots", "--out", str(out))
    assert status == 0, err
    res = json.loads((out / "results.json").read_text())
    assert res["weak_rule"] == "--shape: ranks,1 (default 3,5) (WEAK_SCALING in own.py)"
    assert [p["job_args"] for p in res["points"]] == [["--shape", "3,5"], ["--shape", "6,5"]]
    assert sorted((tmp_path / "sizes.log").read_text().split("\n")) == [
        "", "1 3,5 0.0", "2 6,5 0.0"]
