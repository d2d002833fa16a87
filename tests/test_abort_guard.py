"""The abort guard, end to end: real mpirun jobs that fail on one rank must end promptly."""

import subprocess
import sys

import pytest

from clusterkit.testing import run_mpi

REPEATS = 5  # a flaky hang shows up as a timeout in one of the repeats


@pytest.mark.parametrize("nranks, bad_rank", [(2, 1), (4, 3)])
@pytest.mark.parametrize("repeat", range(REPEATS))
def test_exception_on_one_rank_ends_the_whole_job(nranks, bad_rank, repeat, test_job):
    res = run_mpi(nranks, test_job("faulty.py"), ["raise", "--rank", str(bad_rank)],
                  module=False, timeout=30)
    assert res.returncode != 0
    assert res.elapsed < 10, f"took {res.elapsed:.1f} s"
    prefix = f"[rank {bad_rank}/{nranks}]"
    assert f"{prefix} RuntimeError: deliberate failure on rank {bad_rank}" in res.stderr
    assert f"{prefix} Traceback (most recent call last):" in res.stderr
    assert f"aborting the job: uncaught RuntimeError on rank {bad_rank}" in res.stderr


@pytest.mark.parametrize("nranks, bad_rank, files", [(2, 1, 1), (4, 2, 3)])
def test_exception_on_one_rank_inside_a_read_ends_the_job(nranks, bad_rank, files,
                                                          test_job, tmp_path):
    # the other ranks wait in the dataset's collective read; the failing rank must not
    # wait for them in the file's collective close as its with block ends
    from ncfiles import write_small_climate
    from test_multifile import split
    src = write_small_climate(str(tmp_path / "in.nc")) or str(tmp_path / "in.nc")
    inputs = [src] if files == 1 else split(src, str(tmp_path / "parts"), [0, 2, 4],
                                            units=[None] * 3)
    res = run_mpi(nranks, test_job("faulty.py"), ["raise-reading", "--rank", str(bad_rank),
                                                  "--inputs", *inputs], module=False,
                  timeout=60, env={**__import__("os").environ,
                                   "CLUSTERKIT_AGREE_TIMEOUT": "1"})
    assert res.returncode != 0
    assert res.elapsed < 20, f"took {res.elapsed:.1f} s"
    prefix = f"[rank {bad_rank}/{nranks}]"
    assert f"{prefix} RuntimeError: deliberate failure on rank {bad_rank} while reading" \
        in res.stderr
    assert f"aborting the job: uncaught RuntimeError on rank {bad_rank}" in res.stderr


@pytest.mark.parametrize("nranks", [1, 2, 4])
def test_symmetric_bad_input_is_one_line_exit_2(nranks, test_job):
    res = run_mpi(nranks, test_job("faulty.py"), ["bad-input"], module=False, timeout=30)
    assert res.returncode == 2
    assert res.stderr.strip().splitlines() == ["faulty: error: --widget must be one of a, b; got 'c'"]


def test_agreed_check_fails_on_every_rank_with_the_failing_rank_named(test_job):
    res = run_mpi(4, test_job("faulty.py"), ["checked", "--rank", "2"], module=False,
                  timeout=30)
    assert res.returncode == 2
    assert res.stderr.strip().splitlines() == [
        "faulty: error: block too small on this rank; use fewer ranks (on rank 2)"]
    assert "done" not in res.stdout


def test_input_error_on_one_rank_only_is_a_bug_and_aborts(test_job):
    res = run_mpi(2, test_job("faulty.py"), ["bad-input-one", "--rank", "1"], module=False,
                  timeout=30, env={**__import__("os").environ, "CLUSTERKIT_AGREE_TIMEOUT": "1"})
    assert res.returncode != 0 and res.returncode != 2
    assert "[rank 1/2] clusterkit.errors.InputError: only one rank thinks the input is bad" \
        in res.stderr
    assert res.elapsed < 10


@pytest.mark.parametrize("nranks", [1, 2])
def test_a_bug_raised_on_every_rank_keeps_its_traceback(nranks, test_job):
    """SPMD code raises its own TypeError/ValueError on every rank: still a bug, not
    bad input, so no one-line message and no exit status 2."""
    res = run_mpi(nranks, test_job("faulty.py"), ["bug-everywhere"], module=False,
                  timeout=30)
    assert res.returncode not in (0, 2), res.stderr
    assert "Traceback (most recent call last):" in res.stderr
    assert "TypeError: 'NoneType' object is not subscriptable" in res.stderr
    assert "faulty: error:" not in res.stderr
    assert "faulty.py\", line" in res.stderr          # the user's file and line are shown


@pytest.mark.parametrize("code", [0, 3])
def test_job_exit_status_passes_through_clusterkit_run(code, test_job):
    proc = subprocess.run([sys.executable, "-m", "clusterkit.cli.main", "run", "-n", "2",
                           test_job("faulty.py"), "status", "--code", str(code)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == code, proc.stderr


def test_argument_errors_print_once(test_job):
    res = run_mpi(4, test_job("faulty.py"), ["nonsense"], module=False, timeout=30)
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("faulty: error: argument mode: invalid choice")


@pytest.mark.parametrize("fast", [False, True])
@pytest.mark.parametrize("code", [0, 3, 99])
def test_exit_job_finalizes_flushes_and_passes_the_status(code, fast, test_job):
    res = run_mpi(2, test_job("quick_exit.py"), [str(code)] + ["fast"] * fast, module=False,
                  timeout=60)
    assert res.returncode == code, res.stderr
    for rank in (0, 1):
        for marker in (f"rank {rank} done", f"atexit ran on rank {rank}",
                       f"finalizer ran on rank {rank}"):
            assert marker in res.stdout, (marker, res.stdout, res.stderr)
    assert "MPI_FINALIZE" not in res.stderr and "exited" not in res.stderr, res.stderr
    assert "inherit the channel: True" not in res.stdout   # nested launches start clean


def test_exit_job_under_plain_mpirun_exits_with_the_status_itself(test_job):
    """Without clusterkit's launcher (batch scripts run mpirun/srun) the ranks exit with
    the status, so the launcher's own exit status carries it."""
    from clusterkit.launch import job_environment
    env = job_environment(2)
    proc = subprocess.run(["mpirun", "-q", "-n", "2", "--oversubscribe", sys.executable,
                           test_job("quick_exit.py"), "3"], env=env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 3, proc.stderr
    assert "atexit ran on rank 1" in proc.stdout


@pytest.mark.parametrize("nranks", [2, 4])
def test_exception_on_one_rank_while_restoring_a_checkpoint_ends_the_job(nranks, tmp_path):
    # the other ranks wait in the restore's agreement; the failing rank must not wait for
    # them in the checkpoint file's collective close
    import os
    ck = str(tmp_path / "ck")
    args = ["--shape", "19,24", "--steps", "8", "--every", "0", "--checkpoint-dir", ck,
            "--checkpoint-every", "4"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLUSTERKIT_TEST_")}
    first = run_mpi(2, "clusterkit.jobs.diffusion", args, timeout=60, env=env)
    assert first.returncode == 0, first.stderr
    res = run_mpi(nranks, "clusterkit.jobs.diffusion", [*args, "--restart"], timeout=60,
                  env={**env, "CLUSTERKIT_TEST_FAIL_LOAD": f"8:{nranks - 1}",
                       "CLUSTERKIT_AGREE_TIMEOUT": "1"})
    assert res.returncode != 0
    assert res.elapsed < 20, f"took {res.elapsed:.1f} s"
    assert f"[rank {nranks - 1}/{nranks}] RuntimeError: injected failure while reading " \
        f"checkpoint 8 on rank {nranks - 1}" in res.stderr
