"""Serial tests of the ``clusterkit`` command: parsing, bad input, info, dry runs."""

import os
import shlex
import subprocess
import sys

import pytest

from clusterkit.cli.main import main
from clusterkit.testing import run_command


def cli(*args):
    """Run the console script in a subprocess; return (status, stdout, stderr)."""
    proc = subprocess.run([sys.executable, "-m", "clusterkit.cli.main", *args],
                          capture_output=True, text=True, timeout=120)
    return proc.returncode, proc.stdout, proc.stderr


@pytest.mark.parametrize("args, needle", [
    (["frobnicate"], "invalid choice: 'frobnicate' (choose from"),
    (["run", "-n", "0", "demo"], "must be a positive integer (number of ranks), got '0'"),
    (["run", "-n", "abc", "demo"], "must be a positive integer (number of ranks), got 'abc'"),
    (["run", "-n", "2", "no-such-job"], "unknown job 'no-such-job'; valid jobs: "),
    (["run", "-n", "2", "missing.py"], "job script 'missing.py' not found"),
    ([], "the following arguments are required: COMMAND"),
])
def test_bad_input_is_one_line_and_status_2(args, needle):
    status, out, err = cli(*args)
    assert status == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("clusterkit") and "error:" in lines[0]
    assert needle in lines[0]


def test_unknown_job_lists_every_registered_job():
    from clusterkit.jobs import JOBS
    _, _, err = cli("run", "-n", "2", "no-such-job")
    assert all(name in err for name in JOBS)


def test_unknown_subcommand_names_the_valid_ones():
    status, _, err = cli("frobnicate")
    assert "'run'" in err and "'info'" in err


def test_info_reports_the_stack():
    status, out, err = cli("info")
    assert status == 0, err
    for label in ("python", "mpi4py", "MPI library", "numba threading layers", "h5py",
                  "HDF5", "h5py parallel (mpio)", "sbatch", "srun"):
        assert f"  {label} " in out, label
    assert "Open MPI" in out or "MPICH" in out


def test_run_dry_run_shows_flags(capsys):
    assert main(["run", "-n", "64", "--dry-run", "demo", "--shape", "2,3,4"]) == 0
    line = capsys.readouterr().out.strip()
    assert "--oversubscribe" in line
    assert line.endswith("-m clusterkit.jobs.demo --shape 2,3,4")
    assert line.startswith("env ") and " NUMBA_NUM_THREADS=" in line


@pytest.mark.skipif(os.geteuid() != 0, reason="Open MPI refuses to start as root only")
def test_run_dry_run_line_runs_as_is_as_root(test_job, tmp_path):
    """The printed line carries the variables the real run sets, shell-quoted: from a root
    shell without Open MPI's run-as-root pair, ``bash -c LINE`` starts the job and its
    ranks get the trace variables (a line without the pair is refused by mpirun: "an
    attempt to run as root")."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("OMPI_ALLOW_RUN_AS_ROOT", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM")}
    (tmp_path / "a dir").mkdir()
    trace = tmp_path / "a dir" / "it's.json"
    printed = run_command([sys.executable, "-m", "clusterkit.cli.main", "run", "--dry-run",
                           "-n", "2", "--trace", str(trace), test_job("quick_exit.py"), "0",
                           "two words"], env=env, timeout=120)
    assert printed.returncode == 0, printed.stderr
    line = printed.stdout.strip()
    assert len(printed.stdout.splitlines()) == 1
    ran = run_command(["bash", "-c", line], env=env, timeout=120)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "rank 0 done" in ran.stdout and "rank 1 done" in ran.stdout
    assert trace.is_file()
    words = shlex.split(line)
    assert words[0] == "env" and "OMPI_ALLOW_RUN_AS_ROOT=1" in words
    assert f"CLUSTERKIT_TRACE={trace}" in words and words[-2:] == ["0", "two words"]


def test_run_accepts_module_paths_and_scripts(capsys, test_job):
    assert main(["run", "-n", "1", "--dry-run", "clusterkit.jobs.demo"]) == 0
    assert main(["run", "-n", "1", "--dry-run", test_job("faulty.py"), "ok"]) == 0
    out = capsys.readouterr().out
    assert "-m clusterkit.jobs.demo" in out and "faulty.py ok" in out


def test_a_subcommand_imports_only_its_own_module():
    """``clusterkit run`` registers only ``run``: no Slurm or bench modules before the ranks
    start; the full parser (no subcommand named) still lists every command."""
    code = ("import sys, json\n"
            "from clusterkit.cli.main import build_parser\n"
            "build_parser(['run'])\n"
            "one = sorted(m for m in sys.modules if m.startswith('clusterkit.'))\n"
            "names = list(build_parser()._subparsers._group_actions[0].choices)\n"
            "print(json.dumps({'one': one, 'names': names}))\n")
    import json
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert "clusterkit.cli.run" in info["one"]
    assert not [m for m in info["one"] if m.startswith(("clusterkit.slurm", "clusterkit.bench",
                                                        "clusterkit.cli.submit",
                                                        "clusterkit.cli.bench"))]
    assert info["names"] == ["run", "info", "make-dataset", "submit", "status", "cancel",
                             "logs", "bench"]
    status, out, _ = cli("--help")
    assert status == 0 and all(n in out for n in info["names"])
