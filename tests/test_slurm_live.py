"""Live tests against a real single-node Slurm (slurmctld + slurmd + munged) on this machine.

The session fixture ``slurm`` (tests/slurm_fixture.py, shared through conftest.py) starts
a private one with tools/slurm-local.sh (which installs slurm-wlm and munge with apt-get
if needed) and stops it at the end. The tests skip only when that script says Slurm
cannot run here (exit status 3: not root, no apt-get, packages not installable); any
other start-up failure fails them. Jobs run the repository's venv Python.
"""

import json
import os
import pathlib
import re
import subprocess
import sys
import time

import pytest

from clusterkit.slurm.query import parse_scontrol
from clusterkit.slurm.render import render
from clusterkit.slurm.sites import load_site
from clusterkit.slurm.spec import JobSpec

from slurm_fixture import SCRIPT

REPO = pathlib.Path(__file__).resolve().parent.parent
HOSTILE_NAME = "we\"ird 'name' #1 $(touch CANARY) `touch CANARY`; x"
HOSTILE_ARGS = ["$(touch CANARY)", "a b", "it's", '"q"', ";touch CANARY", "`touch CANARY`",
                "--x=*", "$HOME", "{{launch}}", "tab\there", "new\nline", ""]


_AFTER_MPI_INIT = ("import sys; from mpi4py import MPI; MPI.COMM_WORLD.Get_rank(); "
                   "from clusterkit.cli.main import main; sys.exit(main(sys.argv[1:]))")


def ck(*args, cwd=None, check=True, mpi_initialised=False):
    """Run ``clusterkit`` (this Python's); return the completed process.

    ``mpi_initialised``: from a process that initialised MPI first (a singleton), so the
    environment sbatch passes on carries that runtime's PMIx/ORTE variables.
    """
    head = ["-c", _AFTER_MPI_INIT] if mpi_initialised else ["-m", "clusterkit.cli.main"]
    proc = subprocess.run([sys.executable, *head, *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120)
    if check:
        assert proc.returncode == 0, f"clusterkit {args[0]} failed: {proc.stderr}"
    return proc


def submit(*args, cwd=None, mpi_initialised=False):
    """``clusterkit submit``; return the job ID it printed."""
    job_id = ck("submit", *args, cwd=cwd, mpi_initialised=mpi_initialised).stdout.strip()
    assert job_id.isdigit(), job_id
    return job_id


def records(job_id):
    """scontrol's records for a job (one per array task)."""
    out = subprocess.run(["scontrol", "--oneliner", "show", "job", job_id],
                         capture_output=True, text=True, timeout=30, check=True).stdout
    return parse_scontrol(out)


def wait_for(job_id, states, *, timeout=60, count=1, check=None):
    """Poll until ``count`` records of ``job_id`` are in ``states`` (and pass ``check``)."""
    deadline = time.monotonic() + timeout
    while True:
        recs = records(job_id)
        done = [r for r in recs if r["JobState"] in states and (check is None or check(r))]
        if len(done) >= count:
            return done
        if time.monotonic() > deadline:
            log = pathlib.Path(os.environ["SLURM_CONF"]).parent.parent / "log" / "slurmctld.log"
            tail = "".join(log.read_text(errors="replace").splitlines(True)[-15:]) \
                if log.exists() else ""
            pytest.fail(f"job {job_id} not {states} within {timeout} s: "
                        f"{[(r['JobId'], r['JobState'], r.get('Reason')) for r in recs]}\n{tail}")
        time.sleep(0.2)


def wait_file(path, needle="", timeout=60):
    """Poll until ``path`` exists and contains ``needle``; return its text."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and needle in path.read_text(errors="replace"):
            return path.read_text(errors="replace")
        time.sleep(0.1)
    pytest.fail(f"{path} did not show {needle!r} within {timeout} s")


def payload(tmp_path, name, code):
    """Write a small job script; return its path."""
    path = tmp_path / name
    path.write_text(code)
    return str(path)


# --------------------------------------------------------------------------- MPI job
@pytest.mark.parametrize("launcher", ["srun", "mpirun"])
@pytest.mark.parametrize("mpi_initialised", [False, True], ids=["shell", "after-MPI_Init"])
def test_two_rank_mpi_job_from_the_template(slurm, tmp_path, launcher, mpi_initialised):
    site = ["--site", "local"]
    if launcher == "mpirun":     # the same cluster, ranks started by Open MPI's mpirun as root
        path = tmp_path / "local-mpirun.toml"
        path.write_text('[launcher]\ncommand = "mpirun"\n[defaults]\npartition = "local"\n')
        site = ["--site", str(path)]
    out = tmp_path / "jobs"
    args = ["demo", "--ntasks-per-node", "2", "--time", "5", "--output-dir", str(out), *site,
            "--", "--shape", "4,16,32"]
    job_id = submit(*args, mpi_initialised=mpi_initialised)
    (rec,) = wait_for(job_id, {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT"})
    text = (out / f"slurm-{job_id}.out").read_text()
    err = (out / f"slurm-{job_id}.err").read_text()
    assert rec["JobState"] == "COMPLETED" and rec["ExitCode"] == "0:0", (text, err)
    assert rec["NumTasks"] == "2" and rec["Partition"] == "local"
    assert "clusterkit demo: 2 ranks, field 4x16x32" in text and "(agrees)" in text
    assert f"clusterkit: job {job_id} on " in err and "ranks=2 threads_per_rank=1" in err
    script = (out / f"slurm-{job_id}.sh").read_text()
    assert script == ck("submit", *args[:1], "--dry-run", *args[1:]).stdout
    assert f"\n{launcher} " in script and sys.executable in script
    assert ck("logs", job_id).stdout == text
    assert ck("logs", "--err", job_id).stdout == err
    assert ck("logs", "--path", job_id).stdout.strip() == str(out / f"slurm-{job_id}.out")
    status = ck("status", job_id).stdout.splitlines()
    assert status[1].split()[:2] == [job_id, "COMPLETED"]


# --------------------------------------------------------------------------- array
def test_three_element_array_each_task_gets_its_index(slurm, tmp_path):
    job = payload(tmp_path, "member.py",
                  "import os, sys\nprint('task', os.environ['SLURM_ARRAY_TASK_ID'], "
                  "'argv', sys.argv[1:])\n")
    out = tmp_path / "jobs"
    job_id = submit(job, "--array", "0-2%2", "--time", "5", "--output-dir", str(out),
                    "--", "--member={array_index}", "m{array_index}.nc")
    done = wait_for(job_id, {"COMPLETED"}, count=3)
    assert sorted(r["ArrayTaskId"] for r in done) == ["0", "1", "2"]
    for i in range(3):
        text = (out / f"slurm-{job_id}_{i}.out").read_text()
        assert text == f"task {i} argv ['--member={i}', 'm{i}.nc']\n"
    logs = ck("logs", job_id).stdout
    assert logs.count("==> ") == 3 and "task 2 argv" in logs
    assert ck("logs", f"{job_id}_1").stdout == "task 1 argv ['--member=1', 'm1.nc']\n"
    rows = ck("status", job_id).stdout.splitlines()[1:]
    assert [r.split()[:2] for r in rows] == [[f"{job_id}_{i}", "COMPLETED"] for i in range(3)]


# --------------------------------------------------------------------------- dependencies
def test_afterok_chain_runs_the_second_job_after_the_first(slurm, tmp_path):
    marker = tmp_path / "first-done"
    first = payload(tmp_path, "first.py",
                    f"import time\ntime.sleep(6)\nopen({str(marker)!r}, 'w').write('ok')\n")
    second = payload(tmp_path, "second.py",
                     f"import os\nprint('marker', os.path.exists({str(marker)!r}))\n")
    out = tmp_path / "jobs"
    id1 = submit(first, "--time", "5", "--output-dir", str(out))
    id2 = submit(second, "--time", "5", "--output-dir", str(out),
                 "--dependency", f"afterok:{id1}")
    # submitted held and released once its files are safe: the reason is None until the
    # scheduler's next pass (seconds)
    (pending,) = wait_for(id2, {"PENDING"}, check=lambda r: r["Reason"] != "None")
    assert pending["Reason"] == "Dependency"
    assert pending["Dependency"].startswith(f"afterok:{id1}")
    (r1,) = wait_for(id1, {"COMPLETED"})
    (r2,) = wait_for(id2, {"COMPLETED"})
    assert r2["StartTime"] >= r1["EndTime"]          # ISO times compare as strings
    assert (out / f"slurm-{id2}.out").read_text() == "marker True\n"


def test_afterok_on_a_failing_job_is_never_run(slurm, tmp_path):
    failing = payload(tmp_path, "fail.py", "import sys\nsys.exit(4)\n")
    never = payload(tmp_path, "never.py", "print('should not run')\n")
    out = tmp_path / "jobs"
    id1 = submit(failing, "--time", "5", "--output-dir", str(out))
    id2 = submit(never, "--time", "5", "--output-dir", str(out), "--dependency",
                 f"afterok:{id1}")
    (r1,) = wait_for(id1, {"FAILED"})
    assert r1["ExitCode"] == "4:0"
    (r2,) = wait_for(id2, {"CANCELLED"})             # DependencyParameters=kill_invalid_depend
    assert r2["Reason"] == "DependencyNeverSatisfied"
    assert not (out / f"slurm-{id2}.out").exists()


# --------------------------------------------------------------------------- cancel, status
def test_cancel_a_long_sleeping_job(slurm, tmp_path):
    pidfile = tmp_path / "pid"
    job = payload(tmp_path, "sleeper.py",
                  f"import os, time\nopen({str(pidfile)!r} + '.tmp', 'w').write(str(os.getpid()))"
                  f"\nos.replace({str(pidfile)!r} + '.tmp', {str(pidfile)!r})\ntime.sleep(600)\n")
    job_id = submit(job, "--time", "15", "--output-dir", str(tmp_path / "jobs"))
    wait_for(job_id, {"RUNNING"})
    pid = int(wait_file(pidfile, timeout=60))
    assert os.path.exists(f"/proc/{pid}")
    mine = ck("status").stdout.splitlines()
    assert any(line.split()[:2] == [job_id, "RUNNING"] for line in mine), mine
    said = ck("cancel", job_id).stdout
    assert said.strip() == f"cancelled job {job_id} (was RUNNING)"
    wait_for(job_id, {"CANCELLED"}, timeout=30)
    deadline = time.monotonic() + 30
    while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not os.path.exists(f"/proc/{pid}"), "the job's process survived scancel"
    again = ck("cancel", job_id).stdout
    assert "already ended (CANCELLED)" in again
    assert ck("status", job_id).stdout.splitlines()[1].split()[1] == "CANCELLED"


def test_unknown_jobs_are_one_error_for_status_logs_and_cancel(slurm):
    """The same line and exit status 2 from all three (status once exited 1)."""
    said = set()
    for command in ("status", "logs", "cancel"):
        proc = ck(command, "987654", check=False)
        assert proc.returncode == 2 and proc.stdout == "", (command, proc.stderr)
        (line,) = proc.stderr.splitlines()
        prefix = f"clusterkit {command}: error: unknown job 987654: Slurm does not know it "
        assert line.startswith(prefix), line
        said.add(line.split(": error: ", 1)[1])
    assert len(said) == 1 and "MinJobAge after it ends (600 sec here)" in said.pop()


@pytest.mark.parametrize("args, asks", [
    (["-N", "2"], "2 nodes (-N 2)"),
    (["--ntasks-per-node", "64"], "64 CPUs per node (--ntasks-per-node 64 x --cpus-per-task 1)"),
])
def test_a_job_the_partition_can_never_run_is_refused_not_queued(slurm, tmp_path, args, asks):
    """sbatch accepts these and they would pend forever (PartitionNodeLimit/Config)."""
    out = tmp_path / "jobs"
    before = subprocess.run(["squeue", "-h", "-o", "%i"], capture_output=True, text=True,
                            timeout=30, check=True).stdout.split()
    proc = ck("submit", "demo", *args, "--time", "5", "--output-dir", str(out), check=False)
    assert proc.returncode == 2 and proc.stdout == "", proc.stderr
    (line,) = proc.stderr.splitlines()
    cpus = subprocess.run(["sinfo", "-h", "-o", "%c"], capture_output=True, text=True,
                          timeout=30, check=True).stdout.split()[0]
    assert line == (f"clusterkit submit: error: the job asks for {asks}, but partition local "
                    f"has 1 node (1 with {cpus} CPUs), MaxTime UNLIMITED: Slurm would accept "
                    "the job and it would wait forever; ask for less or choose another "
                    "--partition")
    after = subprocess.run(["squeue", "-h", "-o", "%i"], capture_output=True, text=True,
                           timeout=30, check=True).stdout.split()
    assert set(after) <= set(before), "a job was queued"
    assert not out.exists()


def test_a_job_cancelled_while_pending(slurm, tmp_path):
    """status says why it waits (not "None"); logs says it never ran (status 1), not "no
    output file yet"."""
    gate = payload(tmp_path, "gate.py", "import time\ntime.sleep(600)\n")
    never = payload(tmp_path, "never.py", "print('ran')\n")
    out = tmp_path / "jobs"
    first = submit(gate, "--time", "5", "--output-dir", str(out))
    waiting = submit(never, "--time", "5", "--output-dir", str(out), "--dependency",
                     f"afterok:{first}")
    wait_for(waiting, {"PENDING"}, check=lambda r: r["Reason"] == "Dependency")
    row = _status_row(waiting)
    assert (row["STATE"], row["RUNS"], row["REASON"]) == \
        ("PENDING", "0", "Dependency: waiting for its dependency"), row
    proc = ck("logs", waiting, check=False)
    assert (proc.returncode, proc.stdout) == (1, "")
    assert proc.stderr == (f"clusterkit logs: job {waiting} has not started yet (Dependency: "
                           "waiting for its dependency); no output file yet\n")
    assert ck("cancel", waiting).stdout == f"cancelled job {waiting} (was PENDING)\n"
    wait_for(waiting, {"CANCELLED"})
    for flag in ([], ["--err"]):
        proc = ck("logs", *flag, waiting, check=False)
        what = "error file" if flag else "output file"
        assert (proc.returncode, proc.stdout, proc.stderr) == (
            1, "", f"clusterkit logs: job {waiting} was CANCELLED before it started: it never "
            f"ran, so it has no {what}\n")
    row = _status_row(waiting)
    assert (row["STATE"], row["RUNS"], row["ELAPSED"]) == ("CANCELLED", "0", "00:00:00"), row
    ck("cancel", first)
    wait_for(first, {"CANCELLED"}, timeout=30)
    assert _status_row(first)["RUNS"] == "1"


def test_sbatch_rejection_reaches_the_user_in_one_line(slurm, tmp_path):
    out = tmp_path / "jobs"
    proc = ck("submit", "demo", "--partition", "nosuchpartition", "--output-dir", str(out),
              check=False)
    assert proc.returncode == 2 and proc.stdout == ""
    (line,) = proc.stderr.splitlines()
    assert line.startswith("clusterkit submit: error: sbatch failed: ")
    assert "Invalid partition name specified" in line
    assert not out.exists()


# --------------------------------------------------------------------------- hostile strings
def test_hostile_name_arguments_and_environment_pass_through_a_real_sbatch(slurm, tmp_path):
    job = payload(tmp_path, "echo_args.py",
                  "import json, os, sys\nprint(json.dumps({'argv': sys.argv[1:], 'env': "
                  "os.environ.get('HOSTILE'), 'threads': os.environ['NUMBA_NUM_THREADS']}))\n")
    out = tmp_path / "jobs"
    job_id = submit(job, "--job-name", HOSTILE_NAME, "--cpus-per-task", "2", "--time", "5",
                    "--output-dir", str(out), "--env", "HOSTILE=" + HOSTILE_ARGS[0] + "'\"",
                    "--", *HOSTILE_ARGS, cwd=tmp_path)
    (rec,) = wait_for(job_id, {"COMPLETED", "FAILED"})
    seen = json.loads((out / f"slurm-{job_id}.out").read_text())
    assert rec["JobState"] == "COMPLETED"
    assert rec["JobName"] == HOSTILE_NAME
    assert seen == {"argv": HOSTILE_ARGS, "env": HOSTILE_ARGS[0] + "'\"", "threads": "2"}
    assert not list(tmp_path.rglob("CANARY*")), "a hostile string was executed"


@pytest.mark.parametrize("time_limit", ["5", "1:30", "0:45:10", "100:00:00", "1-0", "2-12:30",
                                        "1-2:03:04", "UNLIMITED"])
def test_sbatch_accepts_the_times_we_accept(slurm, tmp_path, time_limit):
    spec = JobSpec("clusterkit.jobs.demo", time=time_limit, output_dir=str(tmp_path),
                   job_name=HOSTILE_NAME)
    _test_only(tmp_path, render(spec, load_site("local")))


@pytest.mark.parametrize("array", ["0-9%2", "1,3,5", "0-15:4", "7", "1,3-5,7-15:2%4"])
def test_sbatch_accepts_the_arrays_we_accept(slurm, tmp_path, array):
    spec = JobSpec("clusterkit.jobs.demo", array=array, output_dir=str(tmp_path))
    _test_only(tmp_path, render(spec, load_site("local")))


def _test_only(tmp_path, text):
    script = tmp_path / "test-only.sh"
    script.write_text(text)
    proc = subprocess.run(["sbatch", "--test-only", str(script)], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0 and "to start at" in proc.stderr, proc.stderr


# --------------------------------------------------------------------------- requeue
_CHECKPOINTING = """
import os, signal, sys, time
ck = sys.argv[sys.argv.index("--checkpoint-dir") + 1] + ".txt"
run = int(os.environ.get("SLURM_RESTART_COUNT") or 0) + 1
if os.path.exists(ck):
    print(f"run {run}: resumed from {open(ck).read()}", flush=True)
    sys.exit(0)
def checkpoint(sig, frame):
    with open(ck + ".tmp", "w") as f:
        f.write("step 42")
    os.replace(ck + ".tmp", ck)
    print(f"run {run}: checkpointed", flush=True)
    sys.exit(99)
signal.signal(signal.SIGUSR1, checkpoint)
print(f"run {run}: working", flush=True)
time.sleep(600)
sys.exit(3)
"""


def _status_row(job_id):
    """``clusterkit status ID``'s row as {column: value}."""
    header, row = ck("status", job_id).stdout.splitlines()
    names = header.split()
    starts = [header.index(n) for n in names] + [None]
    return {n: row[starts[i]:starts[i + 1]].strip() for i, n in enumerate(names)}


def _requeued_and_resumed(job_id, out):
    """Wait for the requeue, let it start at once, and check the rerun resumed."""
    wait_for(job_id, {"PENDING"}, timeout=90, check=lambda r: r["Restarts"] == "1")
    # A requeued job is eligible again after cred_expire + 1 s (10 s on the local cluster).
    # Not `scontrol update StartTime=now`: a restart within the second of the requeue is
    # refused by slurmd ("Job credential revoked") and the job ends FAILED.
    (rec,) = wait_for(job_id, {"COMPLETED", "FAILED"}, timeout=90)
    text = (out / f"slurm-{job_id}.out").read_text()
    err = (out / f"slurm-{job_id}.err").read_text()
    assert rec["JobState"] == "COMPLETED", (text, err)
    assert text == "run 1: working\nrun 1: checkpointed\nrun 2: resumed from step 42\n", err
    _requeue_explained(job_id, err)
    assert "run=2" in err


def _requeue_explained(job_id, err):
    """The requeue's noise in the error file is explained by the line before it, and
    ``clusterkit status`` counts both runs and adds up their time."""
    lines = err.splitlines()
    (mine,) = [i for i, line in enumerate(lines) if "checkpointed and stopped" in line]
    m = re.fullmatch(rf"clusterkit: run 1 checkpointed and stopped after (\d+) s; requeueing "
                     rf"job {job_id} \(expected: the launcher's exit code 99 above and Slurm's "
                     r"CANCELLED \.\.\. DUE TO JOB REQUEUE below say the same\)", lines[mine])
    assert m, lines[mine]
    assert "exit code 99" in lines[mine - 1]
    # Slurm's line comes only if the requeue catches the batch script still running
    assert all(i > mine for i, line in enumerate(lines) if "DUE TO JOB REQUEUE ***" in line), err
    row = _status_row(job_id)
    assert row["STATE"] == "COMPLETED" and row["RUNS"] == "2", row
    (rec,) = records(job_id)
    h, mi, sec = (int(x) for x in row["ELAPSED"].split(":"))
    run2 = sum(int(x) * f for x, f in zip(rec["RunTime"].split(":"), (3600, 60, 1)))
    assert h * 3600 + mi * 60 + sec == int(m.group(1)) + run2 >= int(m.group(1))


def test_usr1_checkpoints_and_requeues(slurm, tmp_path):
    job = payload(tmp_path, "ckpt.py", _CHECKPOINTING)
    out = tmp_path / "jobs"
    job_id = submit(job, "--signal-requeue", "60", "--time", "10", "--output-dir", str(out),
                    "--", "--checkpoint-dir", str(tmp_path / "checkpoint"))
    wait_for(job_id, {"RUNNING"})
    wait_file(out / f"slurm-{job_id}.out", "run 1: working")
    # What Slurm does near the time limit, now: USR1 to the batch shell only.
    subprocess.run(["scancel", "--signal=USR1", "--batch", job_id], check=True, timeout=30)
    _requeued_and_resumed(job_id, out)


@pytest.mark.slow
def test_time_limit_signal_checkpoints_and_requeues(slurm, tmp_path):
    """The real thing: Slurm itself sends USR1 before the 1-minute limit (within ~30 s)."""
    job = payload(tmp_path, "ckpt.py", _CHECKPOINTING)
    out = tmp_path / "jobs"
    job_id = submit(job, "--signal-requeue", "55", "--time", "1", "--output-dir", str(out),
                    "--", "--checkpoint-dir", str(tmp_path / "checkpoint"))
    _requeued_and_resumed(job_id, out)


def test_slurm_local_script_is_idempotent(slurm):
    again = subprocess.run(["bash", str(SCRIPT), "start", slurm], capture_output=True,
                           text=True, timeout=60)
    assert again.returncode == 0 and "already running" in again.stderr
    assert again.stdout.strip() == f"SLURM_CONF={os.environ['SLURM_CONF']}"
    status = subprocess.run(["bash", str(SCRIPT), "status", slurm], capture_output=True,
                            text=True, timeout=60)
    assert status.returncode == 0 and "node: idle" in status.stdout
    for daemon in ("munged", "slurmctld", "slurmd"):
        pid = int((pathlib.Path(slurm) / "run" / f"{daemon}.pid").read_text())
        assert pathlib.Path(f"/proc/{pid}/comm").read_text().strip() == daemon


def test_real_job_checkpoints_requeues_and_resumes_bitwise(slurm, tmp_path):
    """The diffusion job itself through the requeue template: USR1 -> checkpoint -> exit 99
    -> scontrol requeue -> rerun with CLUSTERKIT_RESTART=1 -> the same bits as a run
    that was never interrupted."""
    import numpy as np
    from clusterkit.testing import run_mpi
    steps = ["--shape", "19,24", "--steps", "60"]
    ref = tmp_path / "ref.npy"
    assert run_mpi(2, "clusterkit.jobs.diffusion", steps + ["--dump-npy", str(ref)],
                   timeout=120).returncode == 0
    out, ck, dump = tmp_path / "jobs", tmp_path / "ck", tmp_path / "final.npy"
    job_id = submit("diffusion", "--ntasks-per-node", "2", "--signal-requeue", "60",
                    "--time", "10", "--output-dir", str(out),
                    "--env", "CLUSTERKIT_TEST_STEP_SLEEP=0.1", "--", *steps,
                    "--checkpoint-dir", str(ck), "--checkpoint-every", "5",
                    "--dump-npy", str(dump))
    wait_for(job_id, {"RUNNING"})
    wait_file(out / f"slurm-{job_id}.out", "checkpointing to", timeout=90)
    time.sleep(1.0)
    subprocess.run(["scancel", "--signal=USR1", "--batch", job_id], check=True, timeout=30)
    wait_for(job_id, {"PENDING", "RUNNING", "COMPLETED"}, timeout=120,
             check=lambda r: r["Restarts"] == "1")
    (rec,) = wait_for(job_id, {"COMPLETED", "FAILED"}, timeout=180)
    text = (out / f"slurm-{job_id}.out").read_text()
    err = (out / f"slurm-{job_id}.err").read_text()
    assert rec["JobState"] == "COMPLETED", (text, err)
    _requeue_explained(job_id, err)
    assert "wrote a checkpoint at step" in text and "(step " in text, text
    assert np.load(dump).tobytes() == np.load(ref).tobytes()


# --------------------------------------------------------------------------- Numba cache
def test_a_second_submission_loads_what_the_first_compiled(slurm, tmp_path):
    """Two submissions of one small stencil job: the first compiles its kernels into the
    user's shared Numba cache, the second loads them from there. Told apart by what the
    profile records (clusterkit.jit: Numba's compiler lock held with or without a
    compilation), not by time."""
    xdg, out = tmp_path / "xdg", tmp_path / "jobs"
    env = {k: v for k, v in os.environ.items()
           if k not in ("NUMBA_CACHE_DIR", "CLUSTERKIT_NUMBA_CACHE", "XDG_CACHE_HOME")}
    profiles = []
    for run in (1, 2):
        profiles.append(tmp_path / f"profile-{run}.json")
        proc = subprocess.run(
            [sys.executable, "-m", "clusterkit.cli.main", "submit", "stencil",
             "--ntasks-per-node", "2", "--time", "5", "--output-dir", str(out),
             "--env", f"XDG_CACHE_HOME={xdg}", "--env",
             f"CLUSTERKIT_PROFILE_JSON={profiles[-1]}", "--", "2", "64"],
            env=env, capture_output=True, text=True, timeout=120)
        job_id = proc.stdout.strip()
        assert proc.returncode == 0 and job_id.isdigit(), proc.stderr
        (rec,) = wait_for(job_id, {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT"},
                          timeout=240)
        err = (out / f"slurm-{job_id}.err").read_text()
        assert rec["JobState"] == "COMPLETED", ((out / f"slurm-{job_id}.out").read_text(), err)
        assert "cannot write the Numba cache" not in err
    first, second = (json.loads(p.read_text()) for p in profiles)
    assert max(first["jit_compiles"]) >= 1, first        # a fresh cache: compiled
    assert second["jit_compiles"] == [0, 0], second       # every rank loaded, none compiled
    assert min(second["regions"]["jit"]["calls"]) >= 1, second["regions"]["jit"]
    (key,) = (xdg / "clusterkit" / "numba").iterdir()     # one CPU type, one Numba version
    assert re.fullmatch(r"[\w.+-]+-numba[\w.]+-[0-9a-f]{12}", key.name), key.name
    assert any(key.rglob("*stencil*.nbi")) and any(key.rglob("*.nbc"))
