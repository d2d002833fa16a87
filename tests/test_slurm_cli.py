"""Serial tests of ``clusterkit submit/status/cancel/logs``: bad input, stub sbatch, dry runs."""

import os
import shlex
import stat
import subprocess
import sys

import pytest

# A stand-in for sbatch/squeue/scontrol/scancel/sacct/sinfo: records its argv (and, for
# sbatch, the script it was given), then answers as told by STUB_<NAME>_OUT / _ERR / _RC;
# STUB_<NAME>_SEQ names a file whose first line is the next answer (then removed).
_STUB = """#!{python}
import os, sys
name = os.path.basename(sys.argv[0]).upper()
with open(os.environ["STUB_LOG"], "a") as f:
    f.write(repr(sys.argv) + "\\n")
    if name == "SBATCH":
        f.write(repr(open(sys.argv[-1]).read()) + "\\n")
out = os.environ.get(f"STUB_{{name}}_OUT", "")
seq = os.environ.get(f"STUB_{{name}}_SEQ")
if seq:
    lines = open(seq).read().splitlines(True)
    out = lines[0] if lines else ""
    open(seq, "w").writelines(lines[1:])
sys.stdout.write(out)
sys.stderr.write(os.environ.get(f"STUB_{{name}}_ERR", ""))
sys.exit(int(os.environ.get(f"STUB_{{name}}_RC", "0")))
"""


@pytest.fixture
def stubs(tmp_path):
    """A PATH with stub Slurm commands; returns (env, log path, output dir)."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for name in ("sbatch", "squeue", "scontrol", "scancel", "sacct", "sinfo"):
        stub = bindir / name
        stub.write_text(_STUB.format(python=sys.executable))
        stub.chmod(stub.stat().st_mode | stat.S_IEXEC)
    log = tmp_path / "calls.log"
    env = {**os.environ, "PATH": f"{bindir}:{os.environ['PATH']}", "STUB_LOG": str(log)}
    env.pop("CLUSTERKIT_SITE", None)
    return env, log, tmp_path / "out"


def calls(log):
    """The stub commands run, in order: ``[(argv, script sbatch read or None), …]``."""
    out = []
    for line in log.read_text().splitlines() if log.exists() else []:
        value = eval(line)                                  # noqa: S307 - our own repr
        if isinstance(value, list):
            out.append([[os.path.basename(value[0])] + value[1:], None])
        else:
            out[-1][1] = value
    return [tuple(c) for c in out]


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
    ran = calls(log)
    (sbatch, script), = [c for c in ran if c[0][0] == "sbatch"]
    assert sbatch[1:-1] == ["--parsable"] and sbatch[-1].startswith(str(outdir))
    assert [p.name for p in outdir.iterdir()] == ["slurm-4711.sh"]
    saved = (outdir / "slurm-4711.sh").read_text()
    assert script == saved                                   # what sbatch read
    dry = cli(*args[:1], "--dry-run", *args[1:], env=env)
    assert dry[0] == 0 and dry[1] == saved
    assert "\"it's \\$(here)\"" not in saved and "'it'\"'\"'s $(here)'" in saved
    # the next job into that directory is submitted held, and released once no earlier
    # job's file has its ID; a job asked to stay held (--sbatch=--hold) stays held
    for hold, released in (([], True), (["--sbatch=--hold"], False)):
        log.unlink()
        seq = outdir.parent / "ids"
        seq.write_text("4712\n" if released else "4713\n")
        env["STUB_SBATCH_SEQ"] = str(seq)
        assert cli(*args[:2], *hold, "--output-dir", str(outdir), env=env)[0] == 0
        ran = [c[0] for c in calls(log)]
        assert ran[1][1:-1] == ["--parsable", "--hold"]
        assert (["scontrol", "release", "4712"] in ran) == released
    assert sorted(p.name for p in outdir.iterdir()) == [f"slurm-{n}.sh" for n in (4711, 4712,
                                                                                 4713)]


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
    assert lines[0].split() == ["JOBID", "STATE", "RUNS", "ELAPSED", "EXIT", "NAME", "REASON"]
    assert lines[1].split()[:5] == ["7_0", "COMPLETED", "1", "00:00:09", "0:0"]
    assert lines[2].split()[:3] == ["7_1", "RUNNING", "1"] and "my job x" in lines[2]
    assert not lines[1].endswith("None") and not lines[2].endswith("None")
    status, out, err = cli("logs", "--path", "7", env=env)
    assert out == "/tmp/a b/slurm-7_0.out\n/tmp/a b/slurm-7_1.out\n"


def test_status_of_a_forgotten_job_without_accounting(stubs):
    env, log, _ = stubs
    env.update(STUB_SCONTROL_ERR="slurm_load_jobs error: Invalid job id specified\n",
               STUB_SCONTROL_RC="1")
    _one_line_error(*cli("status", "31", env=env), "unknown job 31: Slurm does not know it")


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


# --------------------------------------------------------------------------- issue 19's edges
def _launch_words(script):
    """The words of the script's launch line (srun ... python -m JOB ARGS)."""
    joined = script.replace(" \\\n    ", " ")
    (line,) = [ln for ln in joined.splitlines() if ln.startswith("srun ")]
    return shlex.split(line.rstrip(" &"))


@pytest.mark.parametrize("argv, job, job_args", [
    (["stencil", "--", "10", "1000"], "stencil", ["10", "1000"]),
    (["demo", "--", "--shape", "24,181,360"], "demo", ["--shape", "24,181,360"]),
    (["--time", "5", "stencil", "--", "10", "1000"], "stencil", ["10", "1000"]),
    (["stencil", "--", "10", "--", "x"], "stencil", ["10", "--", "x"]),
    (["demo", "--", "--dry-run", "-N", "3"], "demo", ["--dry-run", "-N", "3"]),
])
def test_the_jobs_arguments_are_everything_after_the_first_double_dash(stubs, argv, job,
                                                                       job_args):
    """`submit stencil -- 10 1000` once failed: argparse dropped the -- right after JOB."""
    env, log, outdir = stubs
    env["STUB_SBATCH_OUT"] = "77\n"
    status, out, err = cli("submit", "--output-dir", str(outdir), *argv, env=env)
    assert status == 0 and out == "77\n", err
    (script,) = [c[1] for c in calls(log) if c[0][0] == "sbatch"]
    words = _launch_words(script)
    assert words[words.index("-m") + 1:] == [f"clusterkit.jobs.{job}", *job_args]


@pytest.mark.parametrize("argv, needle", [
    (["diffusion", "--signal-requeue", "60", "--", "--steps", "10"],
     "--signal-requeue needs a job that checkpoints: give it --checkpoint-dir DIR after --"),
    (["diffusion", "--signal-requeue", "600", "--time", "5", "--", "--checkpoint-dir", "ck"],
     "--signal-requeue 600 must be shorter than the time limit (--time 5 = 300 s)"),
    (["diffusion", "--signal-requeue", "1800", "--", "--checkpoint-dir", "ck"],
     "must be shorter than the time limit (site local's default time 00:30:00 = 1800 s)"),
    (["diffusion", "--signal-requeue", "60", "--time", "UNLIMITED", "--",
      "--checkpoint-dir=ck"], "--signal-requeue 60 needs a time limit, but --time is UNLIMITED"),
])
@pytest.mark.parametrize("dry_run", [False, True])
def test_signal_requeue_that_cannot_work_is_refused(stubs, argv, needle, dry_run):
    env, log, outdir = stubs
    extra = ["--dry-run"] if dry_run else []
    _one_line_error(*cli("submit", "--output-dir", str(outdir), *extra, *argv, env=env),
                    needle)
    assert not log.exists() and not outdir.exists()


_PARTITION = ("PartitionName=local AllowGroups=ALL Default=YES DefaultTime=NONE "
              "MaxNodes=UNLIMITED MaxTime={max_time} MinNodes=0 MaxCPUsPerNode=UNLIMITED "
              "Nodes=vm State=UP TotalCPUs=2 TotalNodes=1\n")


@pytest.mark.parametrize("argv, site, max_time, needle", [
    (["-N", "2"], None, "UNLIMITED", "the job asks for 2 nodes (-N 2), but partition local has "
     "1 node (1 with 2 CPUs), MaxTime UNLIMITED: Slurm would accept the job and it would wait "
     "forever; ask for less or choose another --partition"),
    (["--ntasks-per-node", "2", "-c", "2"], None, "UNLIMITED", "the job asks for 4 CPUs per "
     "node (--ntasks-per-node 2 x --cpus-per-task 2), but partition local has 1 node"),
    (["--time", "20"], None, "00:10:00", "the job asks for a time limit of 20, but partition "
     "local has 1 node (1 with 2 CPUs), MaxTime 00:10:00"),
    (["--signal-requeue", "60", "--", "--checkpoint-dir", "ck"], "no-time", "UNLIMITED",
     "--signal-requeue 60 needs a time limit, but partition local's time limit is UNLIMITED"),
])
def test_a_job_the_partition_cannot_run_is_refused(stubs, tmp_path, argv, site, max_time,
                                                   needle):
    env, log, outdir = stubs
    env.update(STUB_SCONTROL_OUT=_PARTITION.format(max_time=max_time), STUB_SINFO_OUT="1|2\n")
    if site:
        (tmp_path / f"{site}.toml").write_text('[launcher]\ncommand = "srun"\nmpi = "pmix"\n')
        env["CLUSTERKIT_SITE_PATH"] = str(tmp_path)
        argv = ["--site", site] + argv
    head, tail = (argv[:argv.index("--")], argv[argv.index("--"):]) if "--" in argv \
        else (argv, [])
    _one_line_error(*cli("submit", "diffusion", "--output-dir", str(outdir), *head, *tail,
                         env=env), needle)
    assert [c[0][0] for c in calls(log)] == ["scontrol", "sinfo"]     # looked; no sbatch
    assert not outdir.exists()


def test_a_job_the_partition_can_run_is_submitted(stubs):
    env, log, outdir = stubs
    env.update(STUB_SCONTROL_OUT=_PARTITION.format(max_time="01:00:00"),
               STUB_SINFO_OUT="1|2\n", STUB_SBATCH_OUT="5\n")
    status, out, err = cli("submit", "demo", "--ntasks-per-node", "2", "--time", "60",
                           "--output-dir", str(outdir), env=env)
    assert status == 0 and out == "5\n", err


def test_an_earlier_jobs_files_are_never_overwritten(stubs):
    """Slurm's job IDs start again after a restart that lost its state: the held job that
    got an ID with files is withdrawn before it runs, and the next ID is used."""
    env, log, outdir = stubs
    outdir.mkdir()
    for name, text in (("slurm-4711.sh", "old script"), ("slurm-4711.out", "old output"),
                       ("slurm-4712_3.err", "old array task")):
        (outdir / name).write_text(text)
    seq = outdir.parent / "ids"
    seq.write_text("4711\n4712\n4713\n")
    env.update(STUB_SBATCH_SEQ=str(seq))
    status, out, err = cli("submit", "demo", "--output-dir", str(outdir), "--mail-type", "END",
                           env=env)
    assert status == 0 and out == "4713\n", err
    assert "already held files of earlier jobs 4711, 4712 (Slurm's job IDs started again)" in err
    ran = [c[0] for c in calls(log) if c[0][0] != "sbatch"]
    assert ran == [["scontrol", "--oneliner", "show", "partition"],
                   ["scontrol", "update", "JobId=4711", "MailType=NONE"], ["scancel", "4711"],
                   ["scontrol", "update", "JobId=4712", "MailType=NONE"], ["scancel", "4712"],
                   ["scontrol", "release", "4713"]]
    assert (outdir / "slurm-4711.sh").read_text() == "old script"
    assert (outdir / "slurm-4711.out").read_text() == "old output"
    assert (outdir / "slurm-4712_3.err").read_text() == "old array task"
    assert (outdir / "slurm-4713.sh").read_text().startswith("#!/bin/bash")


def test_an_output_dir_full_of_earlier_ids_is_refused(stubs):
    env, log, outdir = stubs
    outdir.mkdir()
    (outdir / "slurm-4711.sh").write_text("old script")
    env["STUB_SBATCH_OUT"] = "4711\n"                 # the same ID every time
    _one_line_error(*cli("submit", "demo", "--output-dir", str(outdir), env=env),
                    f"--output-dir {outdir} already holds files of earlier jobs with each of "
                    "the 20 job IDs Slurm gave (4711-4711)")
    assert [c[0] for c in calls(log)].count(["scancel", "4711"]) == 20
    assert ["scontrol", "release", "4711"] not in [c[0] for c in calls(log)]
    assert sorted(p.name for p in outdir.iterdir()) == ["slurm-4711.sh"]
    assert (outdir / "slurm-4711.sh").read_text() == "old script"


def test_a_refused_release_leaves_nothing_submitted_or_behind(stubs):
    """Slurm refuses to release a job its partition can never run."""
    env, log, outdir = stubs
    outdir.mkdir()
    (outdir / "slurm-1.out").write_text("old")
    env.update(STUB_SBATCH_OUT="9\n", STUB_SCONTROL_RC="1",
               STUB_SCONTROL_ERR="Requested partition configuration not available now for job "
               "9\n")
    _one_line_error(*cli("submit", "demo", "--output-dir", str(outdir), env=env),
                    "Slurm would not start job 9 (scontrol failed: Requested partition "
                    "configuration not available now for job 9); it was cancelled, nothing is "
                    "queued")
    assert [c[0] for c in calls(log)][-1] == ["scancel", "9"]
    assert sorted(p.name for p in outdir.iterdir()) == ["slurm-1.out"]


def _record(**fields):
    base = {"JobId": "40", "JobName": "demo", "JobState": "PENDING", "Reason": "None",
            "Restarts": "0", "ExitCode": "0:0", "RunTime": "00:00:00",
            "StdOut": "/nowhere/slurm-40.out", "StdErr": "/nowhere/slurm-40.err"}
    base.update(fields)
    return " ".join(f"{k}={v}" for k, v in base.items()) + "\n"


@pytest.mark.parametrize("fields, reason", [
    ({}, "not scheduled yet"),
    ({"Reason": "Priority"}, "Priority: other jobs go first"),
    ({"Reason": "Dependency"}, "Dependency: waiting for its dependency"),
    ({"Reason": "JobHeldUser"}, "JobHeldUser: held: scontrol release ID starts it"),
    ({"Reason": "PartitionNodeLimit"}, "PartitionNodeLimit: can never start as submitted; "
     "cancel it"),
    ({"JobState": "RUNNING", "BatchHost": "vm", "RunTime": "00:00:03"}, ""),
    ({"JobState": "CANCELLED", "Reason": "DependencyNeverSatisfied"},
     "DependencyNeverSatisfied"),
])
def test_status_says_why_a_job_waits(stubs, fields, reason):
    env, log, _ = stubs
    env["STUB_SCONTROL_OUT"] = _record(**fields)
    status, out, err = cli("status", "40", env=env)
    assert status == 0, err
    header, row = out.splitlines()
    assert row[header.index("REASON"):] == reason


@pytest.mark.parametrize("fields, lines, runs, elapsed", [
    ({}, [], "0", "00:00:00"),                                          # never ran
    ({"JobState": "RUNNING", "BatchHost": "vm", "RunTime": "00:00:30", "Restarts": "2"},
     [1, 2], "3", "00:03:00"),
    ({"JobState": "PENDING", "Reason": "BeginTime", "Restarts": "1"}, [1], "1", "00:01:40"),
    ({"JobState": "COMPLETED", "BatchHost": "vm", "RunTime": "1-00:00:01", "Restarts": "2"},
     [2], "3", "1-00:00:51+"),                                          # run 1 left no line
])
def test_status_counts_runs_and_their_time(stubs, tmp_path, fields, lines, runs, elapsed):
    env, log, _ = stubs
    err_file = tmp_path / "slurm-40.err"
    seconds = {1: 100, 2: 50}
    err_file.write_text("".join(
        f"clusterkit: job 40 on vm: ranks=1 run={n}\nsrun: error: vm: task 0: Exited with exit "
        f"code 99\nclusterkit: run {n} checkpointed and stopped after {seconds[n]} s; "
        "requeueing job 40 (expected: ...)\n" for n in lines) + "clusterkit: run 9 "
        "checkpointed and stopped after 1000 s\n")       # not a run before this one: ignored
    env["STUB_SCONTROL_OUT"] = _record(StdErr=str(err_file), **fields)
    status, out, err = cli("status", "40", env=env)
    assert status == 0, err
    assert out.splitlines()[1].split()[2:4] == [runs, elapsed]


def test_status_of_your_jobs_from_squeue(stubs, tmp_path):
    env, log, _ = stubs
    (tmp_path / "slurm-13.err").write_text("clusterkit: run 1 checkpointed and stopped after "
                                           "60 s; requeueing job 13\n")
    env["STUB_SQUEUE_OUT"] = ("12|PENDING|0:00|0|None|/x/slurm-%j.err|demo\n"
                              f"13|RUNNING|1:05|1|None|{tmp_path}/slurm-%j.err|diffusion\n")
    status, out, err = cli("status", env=env)
    assert status == 0, err
    lines = out.splitlines()
    assert lines[1].split() == ["12", "PENDING", "0", "00:00:00", "-", "demo", "not",
                                "scheduled", "yet"]
    assert lines[2].split() == ["13", "RUNNING", "2", "00:02:05", "-", "diffusion"]


@pytest.mark.parametrize("fields, message", [
    ({"Reason": "Priority"},
     "job 40 has not started yet (Priority: other jobs go first); no output file yet"),
    ({"JobState": "CANCELLED"},
     "job 40 was CANCELLED before it started: it never ran, so it has no output file"),
    ({"JobState": "COMPLETED", "BatchHost": "vm"}, "job 40 is COMPLETED, but its output file "
     "/nowhere/slurm-40.out does not exist (deleted, or not visible from this machine)"),
])
def test_logs_without_an_output_file_says_why_with_status_1(stubs, fields, message):
    env, log, _ = stubs
    env["STUB_SCONTROL_OUT"] = _record(**fields)
    status, out, err = cli("logs", "40", env=env)
    assert (status, out, err) == (1, "", f"clusterkit logs: {message}\n")


def test_unknown_ids_are_the_same_error_for_status_logs_and_cancel(stubs):
    env, log, _ = stubs
    env.update(STUB_SCONTROL_SEQ=str(log.parent / "answers"))
    seen = set()
    for command in ("status", "logs", "cancel"):
        # scontrol show job 999: unknown (the config query answers nothing useful)
        (log.parent / "answers").write_text("")
        env.update(STUB_SCONTROL_ERR="slurm_load_jobs error: Invalid job id specified\n",
                   STUB_SCONTROL_RC="1")
        status, out, err = cli(command, "999", env=env)
        _one_line_error(status, out, err, "unknown job 999: Slurm does not know it")
        seen.add(err.split("error: ", 1)[1])
    assert len(seen) == 1, seen


def test_cancel_with_an_unknown_id_cancels_nothing(stubs, tmp_path):
    env, log, _ = stubs
    answers = tmp_path / "answers"
    answers.write_text(_record(JobId="5", JobState="RUNNING"))   # 5 is known, 999 is not
    env["STUB_SCONTROL_SEQ"] = str(answers)
    _one_line_error(*cli("cancel", "5", "999", env=env), "unknown job 999")
    assert not [c for c in calls(log) if c[0][0] == "scancel"]
