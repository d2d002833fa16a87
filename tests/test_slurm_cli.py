"""Serial tests of ``clusterkit submit/status/cancel/logs``: bad input, stub sbatch, dry runs."""

import os
import stat
import subprocess
import sys

import pytest

# A stand-in for sbatch/squeue/scontrol/scancel: records its argv (and, for sbatch, the
# script it was given), then answers as told by STUB_<NAME>_OUT / _ERR / _RC.
_STUB = """#!{python}
import os, sys
name = os.path.basename(sys.argv[0]).upper()
with open(os.environ["STUB_LOG"], "a") as f:
    f.write(repr(sys.argv) + "\\n")
    if name == "SBATCH":
        f.write(repr(open(sys.argv[-1]).read()) + "\\n")
sys.stdout.write(os.environ.get(f"STUB_{{name}}_OUT", ""))
sys.stderr.write(os.environ.get(f"STUB_{{name}}_ERR", ""))
sys.exit(int(os.environ.get(f"STUB_{{name}}_RC", "0")))
"""


@pytest.fixture
def stubs(tmp_path):
    """A PATH with stub Slurm commands; returns (env, log path, output dir)."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for name in ("sbatch", "squeue", "scontrol", "scancel", "sacct"):
        stub = bindir / name
        stub.write_text(_STUB.format(python=sys.executable))
        stub.chmod(stub.stat().st_mode | stat.S_IEXEC)
    log = tmp_path / "calls.log"
    env = {**os.environ, "PATH": f"{bindir}:{os.environ['PATH']}", "STUB_LOG": str(log)}
    env.pop("CLUSTERKIT_SITE", None)
    return env, log, tmp_path / "out"


def cli(*args, env=None, cwd=None):
    """Run the console script; return (status, stdout, stderr)."""
    proc = subprocess.run([sys.executable, "-m", "clusterkit.cli.main", *args], env=env,
                          cwd=cwd, capture_output=True, text=True, timeout=120)
    return proc.returncode, proc.stdout, proc.stderr


def _one_line_error(status, out, err, needle):
    assert status == 2, (out, err)
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("clusterkit") and "error:" in lines[0]
    assert needle in lines[0], lines[0]


@pytest.mark.parametrize("args, needle", [
    (["--time", "0"], "--time must be positive, got '0' (use UNLIMITED for no limit)"),
    (["--time", "1:75"], "--time '1:75': a field after the first must be below 60"),
    (["--time", "soon"], "--time must be one of MM, MM:SS, HH:MM:SS"),
    (["--nodes", "0"], "--nodes must be a positive integer, got 0"),
    (["--nodes", "-2"], "--nodes must be a positive integer, got -2"),
    (["--ntasks-per-node", "0"], "--ntasks-per-node must be a positive integer, got 0"),
    (["--cpus-per-task", "two"], "--cpus-per-task must be a positive integer, got 'two'"),
    (["--array", "0-9%0"], "the %LIMIT after the indices must be a positive integer"),
    (["--array", "9-0"], "range '9-0' ends before it starts"),
    (["--array", "1;2"], "--array must be indices like 0-9"),
    (["--dependency", "afterok:abc"], "'abc' in 'afterok:abc' is not a job ID"),
    (["--signal-requeue", "0"], "--signal-requeue must be a positive integer, got 0"),
    (["--mem", "lots"], "--mem must be a positive size"),
    (["--job-name", "a\nb"], "--job-name must not contain control characters"),
    (["--env", "NOEQUALS"], "--env must be NAME=VALUE"),
    (["--sbatch=--array=1-3"], "sbatch option --array is set by clusterkit"),
    (["--site", "atlantis"], "unknown site 'atlantis'; known sites: generic-cluster, local"),
    (["--mem", "1G", "--mem-per-cpu", "1G"], "not allowed with argument"),
    (["--", "{array_index}"], "uses {array_index} but no --array is given"),
    (["stray"], "unexpected argument 'stray' after demo: the job's own arguments go after --"),
])
def test_submit_bad_input_is_one_line_status_2_and_submits_nothing(stubs, args, needle):
    env, log, outdir = stubs
    opts = [a for a in args if a != "--" and "{array" not in a]
    rest = ["--", "{array_index}"] if "--" in args else []
    status, out, err = cli("submit", "demo", "--output-dir", str(outdir), *opts, *rest, env=env)
    _one_line_error(status, out, err, needle)
    assert not log.exists(), "a Slurm command was run"
    assert not outdir.exists(), "output was left behind"


@pytest.mark.parametrize("job, needle", [
    ("no-such-job", "unknown job 'no-such-job'; valid jobs: "),
    ("missing.py", "job script 'missing.py' not found"),
])
def test_submit_unknown_job(stubs, job, needle):
    env, log, outdir = stubs
    _one_line_error(*cli("submit", job, "--output-dir", str(outdir), env=env), needle)
    assert not log.exists()


def test_unknown_site_from_the_environment(stubs):
    env, log, outdir = stubs
    env["CLUSTERKIT_SITE"] = "nowhere"
    _one_line_error(*cli("submit", "demo", "--dry-run", env=env), "unknown site 'nowhere'")


def test_sbatch_not_found(tmp_path):
    env = {**os.environ, "PATH": str(tmp_path)}       # no Slurm, no anything
    outdir = tmp_path / "out"
    _one_line_error(*cli("submit", "demo", "--output-dir", str(outdir), env=env),
                    "sbatch not found on PATH")
    assert not outdir.exists()


def test_sbatch_rejecting_the_job_passes_its_message_through(stubs):
    env, log, outdir = stubs
    env["STUB_SBATCH_ERR"] = ("sbatch: error: Batch job submission failed: "
                              "Invalid partition name specified\n")
    env["STUB_SBATCH_RC"] = "1"
    _one_line_error(*cli("submit", "demo", "--output-dir", str(outdir), env=env),
                    "sbatch: error: Batch job submission failed: Invalid partition name "
                    "specified")
    assert "'--parsable'" in log.read_text()           # it did ask sbatch
    assert not outdir.exists(), "the rejected script (or its directory) was left behind"


def test_sbatch_rejection_keeps_an_existing_output_dir(stubs):
    env, log, outdir = stubs
    outdir.mkdir()
    (outdir / "keep.txt").write_text("x")
    env.update(STUB_SBATCH_ERR="sbatch: error: nope\n", STUB_SBATCH_RC="1")
    assert cli("submit", "demo", "--output-dir", str(outdir), env=env)[0] == 2
    assert sorted(p.name for p in outdir.iterdir()) == ["keep.txt"]


def test_submit_prints_the_id_and_keeps_the_script(stubs):
    env, log, outdir = stubs
    env["STUB_SBATCH_OUT"] = "4711;cluster-a\n"
    args = ("submit", "demo", "--ntasks-per-node", "2", "--time", "10", "--output-dir",
            str(outdir), "--", "--shape", "4,8,8", "it's $(here)")
    status, out, err = cli(*args, env=env)
    assert status == 0, err
    assert out == "4711\n"
    assert "job 4711 submitted" in err and str(outdir / "slurm-4711.out") in err
    calls = log.read_text().splitlines()
    argv = eval(calls[0])                                 # noqa: S307 - our own repr
    assert argv[1:-1] == ["--parsable"] and argv[-1].startswith(str(outdir))
    assert [p.name for p in outdir.iterdir()] == ["slurm-4711.sh"]
    saved = (outdir / "slurm-4711.sh").read_text()
    assert eval(calls[1]) == saved                        # noqa: S307 - what sbatch read
    dry = cli(*args[:1], "--dry-run", *args[1:], env=env)
    assert dry[0] == 0 and dry[1] == saved
    assert "\"it's \\$(here)\"" not in saved and "'it'\"'\"'s $(here)'" in saved


def test_dry_run_prints_the_script_and_touches_nothing(stubs):
    env, log, outdir = stubs
    status, out, err = cli("submit", "demo", "-N", "2", "--array", "0-2", "--output-dir",
                           str(outdir), "--dry-run", "--", "--shape", "{array_index},8,8",
                           env=env)
    assert status == 0, err
    assert out.startswith("#!/bin/bash\n") and "#SBATCH --array=0-2" in out
    assert "#SBATCH --nodes=2" in out and "#SBATCH --partition=local" in out
    assert f"{sys.executable} -m clusterkit.jobs.demo --shape " \
           '"${SLURM_ARRAY_TASK_ID}",8,8' in out.replace(" \\\n    ", " ")
    assert not log.exists() and not outdir.exists()


def test_options_after_the_job_and_site_files(stubs, tmp_path):
    env, log, outdir = stubs
    site = tmp_path / "cluster.toml"
    site.write_text('[launcher]\ncommand = "mpirun"\n[defaults]\npartition = "big"\n')
    status, out, err = cli("submit", "--time", "5", "demo", "-c", "2", "--site", str(site),
                           "--dry-run", "--", "--help", env=env)
    assert status == 0, err
    assert "#SBATCH --time=5" in out and "#SBATCH --cpus-per-task=2" in out
    assert "#SBATCH --partition=big" in out
    assert f"\nmpirun {sys.executable} -m clusterkit.jobs.demo --help\n" in out
    env["CLUSTERKIT_SITE_PATH"] = str(tmp_path)
    env["CLUSTERKIT_SITE"] = "cluster"
    assert "#SBATCH --partition=big" in cli("submit", "demo", "--dry-run", env=env)[1]


@pytest.mark.parametrize("args, needle", [
    (["status", "12x"], "job ID must be a job ID such as 123"),
    (["cancel", "-5"], "job ID must be a job ID such as 123"),
    (["cancel", "abc"], "job ID must be a job ID such as 123"),
    (["logs", "1_2_3"], "job ID must be a job ID such as 123"),
    (["cancel"], "the following arguments are required: ID"),
    (["logs"], "the following arguments are required: ID"),
    (["cancel", "12", "abc"], "got 'abc'"),                  # nothing cancelled, not even 12
    (["status", "12", "x"], "got 'x'"),
    (["cancel", "4294967294"], "'4294967294' is out of range"),
    (["logs", "12_4000001"], "'12_4000001' is out of range"),
])
def test_follow_commands_bad_ids(stubs, args, needle):
    env, log, _ = stubs
    _one_line_error(*cli(*args, env=env), needle)
    assert not log.exists()


@pytest.mark.parametrize("key, value, needle", [
    ("partition", "p\\ntouch pwned\\n#", "defaults.partition must not contain control"),
    ("account", "$(touch${IFS}pwned)", "defaults.account must be a Slurm name"),
    ("qos", "q #x", "defaults.qos must not contain whitespace"),
])
def test_bad_site_defaults_submit_nothing(stubs, tmp_path, key, value, needle):
    """A site default that could break out of its #SBATCH line never reaches sbatch."""
    env, log, outdir = stubs
    (tmp_path / "evil.toml").write_text(f'[defaults]\n{key} = "{value}"\n')
    env["CLUSTERKIT_SITE_PATH"] = str(tmp_path)
    _one_line_error(*cli("submit", "demo", "--site", "evil", "--output-dir", str(outdir),
                         env=env, cwd=tmp_path), f"evil.toml': {needle}")
    assert not log.exists(), "a Slurm command was run"
    assert not outdir.exists() and not (tmp_path / "pwned").exists()


def test_follow_commands_without_slurm(tmp_path):
    env = {**os.environ, "PATH": str(tmp_path)}
    _one_line_error(*cli("status", env=env), "squeue not found on PATH")
    _one_line_error(*cli("cancel", "12", env=env), "scontrol not found on PATH")


def test_cancel_unknown_job_does_not_call_scancel(stubs):
    env, log, _ = stubs
    env.update(STUB_SCONTROL_ERR="slurm_load_jobs error: Invalid job id specified\n",
               STUB_SCONTROL_RC="1")
    _one_line_error(*cli("cancel", "999", env=env), "unknown job 999")
    assert "scancel" not in log.read_text()


def test_status_parses_scontrol_records(stubs):
    env, log, _ = stubs
    env["STUB_SCONTROL_OUT"] = (
        "JobId=8 ArrayJobId=7 ArrayTaskId=1 JobName=my job x UserId=root(0) "
        "JobState=RUNNING Reason=None ExitCode=0:0 RunTime=00:00:05 "
        "StdOut=/tmp/a b/slurm-7_1.out StdErr=/tmp/a b/slurm-7_1.err\n"
        "JobId=7 ArrayJobId=7 ArrayTaskId=0 JobName=my job x UserId=root(0) "
        "JobState=COMPLETED Reason=None ExitCode=0:0 RunTime=00:00:09 "
        "StdOut=/tmp/a b/slurm-7_0.out StdErr=/tmp/a b/slurm-7_0.err\n")
    status, out, err = cli("status", "7", env=env)
    assert status == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["JOBID", "STATE", "ELAPSED", "EXIT", "NAME", "REASON"]
    assert lines[1].split()[:4] == ["7_0", "COMPLETED", "00:00:09", "0:0"]
    assert lines[2].split()[:2] == ["7_1", "RUNNING"] and "my job x" in lines[2]
    status, out, err = cli("logs", "--path", "7", env=env)
    assert out == "/tmp/a b/slurm-7_0.out\n/tmp/a b/slurm-7_1.out\n"


def test_status_of_a_forgotten_job_without_accounting(stubs):
    env, log, _ = stubs
    env.update(STUB_SCONTROL_ERR="slurm_load_jobs error: Invalid job id specified\n",
               STUB_SCONTROL_RC="1")
    status, out, err = cli("status", "31", env=env)
    assert status == 1 and out == ""
    assert "job 31 is not known to Slurm" in err


def test_profile_and_trace_become_job_environment(stubs, tmp_path):
    env, log, outdir = stubs
    trace = tmp_path / "t.json"
    status, out, err = cli("submit", "demo", "--profile", "--trace", str(trace), "--dry-run",
                           env=env)
    assert status == 0, err
    assert "export CLUSTERKIT_PROFILE=1" in out
    assert f"export CLUSTERKIT_TRACE={trace}" in out
    _one_line_error(*cli("submit", "demo", "--trace", str(tmp_path / "no" / "t.json"),
                         "--dry-run", env=env), "--trace: directory")
