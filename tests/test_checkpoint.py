"""Checkpoint/restart of the diffusion and stencil jobs: kill -9, signals, corruption, rank changes.

Every scenario compares the final field of an interrupted-and-resumed run with
an uninterrupted one, bitwise. ``CLUSTERKIT_STRESS_KILLS=N`` adds N more
random kill points (a stress target; default 0).
"""

import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest

from clusterkit.io.checkpoint import EXIT_CHECKPOINTED, list_checkpoints
from clusterkit.jobcontrol import kill_session
from clusterkit.launch import job_environment, mpi_flavour, mpirun_command
from clusterkit.testing import run_mpi

DIFF = "clusterkit.jobs.diffusion"
STEN = "clusterkit.jobs.stencil"
D_ARGS = ["--shape", "37,72", "--steps", "40", "--every", "0"]
S_ITER, S_ARGS = 20, ["20", "40", "star", "2"]
EVERY = 4
TIMEOUT = 60

_rng = random.Random(20261126)
STRESS = int(os.environ.get("CLUSTERKIT_STRESS_KILLS", "0"))


def kill_chain(last, count):
    """``count`` increasing random kill steps in ``(EVERY, last]``, each on a random rank of 2."""
    steps = sorted(_rng.sample(range(EVERY + 1, last + 1), count))
    return [(s, _rng.randrange(2)) for s in steps]


# kill -9 points: 6 in the diffusion job (40 steps), 4 in the stencil job (21 iterations)
CHAINS = {DIFF: kill_chain(40 + 5 * STRESS, 6 + STRESS),
          STEN: kill_chain(S_ITER + 1 + 5 * STRESS, 4)}


def _env(**extra):
    env = dict(os.environ)
    for k in list(env):
        if k.startswith("CLUSTERKIT_TEST_"):
            del env[k]
    env.update({k: str(v) for k, v in extra.items()})
    return env


def run(n, module, args, **env):
    return run_mpi(n, module, [str(a) for a in args], timeout=TIMEOUT, env=_env(**env))


def job_args(module, ckdir=None, out=None, restart=False, extra=()):
    args = list(D_ARGS if module == DIFF else S_ARGS) + list(extra)
    if ckdir is not None:
        args += ["--checkpoint-dir", ckdir, "--checkpoint-every", EVERY]
    if restart:
        args.append("--restart")
    if out is not None:
        args += ["--dump-npy", out]
    return args


def norm_of(stdout):
    m = re.search(r"^L1 norm \(exact\) += (\S+)$", stdout, re.M)
    return m and m.group(1)


def finish(res, out, module):
    assert res.returncode == 0, res.stdout + res.stderr
    return np.load(out), (norm_of(res.stdout) if module == STEN else None)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """Uninterrupted runs (2 ranks, checkpointing on): final u / B and the stencil norm."""
    d = tmp_path_factory.mktemp("ref")
    refs = {}
    for module in (DIFF, STEN):
        out = d / f"{module}.npy"
        res = run(2, module, job_args(module, d / f"ck-{module}", out))
        refs[module] = finish(res, out, module)
        if module == STEN:
            assert refs[module][1] is not None, res.stdout
    return refs


def assert_same(got, ref):
    assert got[0].tobytes() == ref[0].tobytes(), "final field differs from the uninterrupted run"
    assert got[1] == ref[1]


@pytest.mark.parametrize("module", [DIFF, STEN], ids=["diffusion", "stencil"])
def test_kill9_then_restart_is_bitwise_identical(tmp_path, reference, module):
    """Kill one rank at each point of a chain, resuming after each kill; then compare."""
    ck, out = tmp_path / "ck", tmp_path / "out.npy"
    steps = 40 + 5 * STRESS if module == DIFF else S_ITER + 5 * STRESS
    base = (D_ARGS[:2] + ["--steps", steps] + D_ARGS[4:] if module == DIFF
            else [str(steps)] + S_ARGS[1:])
    resumed_from = []
    for i, (step, rank) in enumerate(CHAINS[module]):
        args = base + ["--checkpoint-dir", ck, "--checkpoint-every", EVERY]
        killed = run(2, module, args + (["--restart"] if i else []),
                     CLUSTERKIT_TEST_KILL_AT_STEP=step, CLUSTERKIT_TEST_KILL_RANK=rank)
        assert killed.returncode != 0, killed.stdout + killed.stderr
        newest = list_checkpoints(ck)[0][0]
        assert newest == (step - 1) // EVERY * EVERY  # lost only the steps since the last one
        resumed_from.append(newest)
    res = run(2, module, base + ["--checkpoint-dir", ck, "--checkpoint-every", EVERY,
                                 "--restart", "--dump-npy", out])
    if module == DIFF:
        assert f"(step {resumed_from[-1]})" in res.stdout
    got = finish(res, out, module)
    if not STRESS:
        assert_same(got, reference[module])
    else:  # a longer run: compare with its own uninterrupted twin
        twin = run(2, module, base + ["--checkpoint-dir", tmp_path / "twin",
                                      "--dump-npy", tmp_path / "twin.npy"])
        assert_same(got, finish(twin, tmp_path / "twin.npy", module))


def test_kill9_inside_checkpoint_write(tmp_path, reference):
    ck, out = tmp_path / "ck", tmp_path / "out.npy"
    killed = run(2, DIFF, job_args(DIFF, ck), CLUSTERKIT_TEST_FAIL_SAVE="12:1:kill")
    assert killed.returncode != 0
    assert [s for s, _ in list_checkpoints(ck)] == [8, 4]  # the torn one was never renamed
    res = run(2, DIFF, job_args(DIFF, ck, out, restart=True))
    assert "(step 8)" in res.stdout
    assert not [p for p in os.listdir(ck) if ".tmp-" in p]  # stale temporary cleaned up
    assert_same(finish(res, out, DIFF), reference[DIFF])


@pytest.mark.parametrize("writer,reader", [(4, 2), (2, 4)])
def test_restart_on_another_rank_count(tmp_path, reference, writer, reader):
    ck, out = tmp_path / "ck", tmp_path / "out.npy"
    killed = run(writer, DIFF, job_args(DIFF, ck), CLUSTERKIT_TEST_KILL_AT_STEP=23,
                 CLUSTERKIT_TEST_KILL_RANK=writer - 1)
    assert killed.returncode != 0
    with h5py.File(list_checkpoints(ck)[0][1]) as f:
        assert f.attrs["ranks"] == writer
    res = run(reader, DIFF, job_args(DIFF, ck, out, restart=True))
    assert "(step 20)" in res.stdout
    assert_same(finish(res, out, DIFF), reference[DIFF])


def test_sigusr1_checkpoints_exits_99_and_resumes(tmp_path, reference):
    ck, out = tmp_path / "ck", tmp_path / "out.npy"
    argv = mpirun_command(2, DIFF, [str(a) for a in job_args(DIFF, ck)], flavour=mpi_flavour(),
                          python=sys.executable)
    env = job_environment(2, env=_env(CLUSTERKIT_TEST_STEP_SLEEP="0.05", PYTHONUNBUFFERED="1"))
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, text=True, start_new_session=True)
    try:
        seen = []
        for line in proc.stdout:  # handlers are installed on every rank before this line
            seen.append(line)
            if line.startswith("checkpointing to"):
                break
        time.sleep(0.5)
        proc.send_signal(signal.SIGUSR1)  # mpirun forwards SIGUSR1 to every rank
        rest, err = proc.communicate(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            kill_session(proc.pid)      # mpirun and its ranks (each in a group of its own)
            proc.communicate()
    stdout = "".join(seen) + rest
    assert proc.returncode == EXIT_CHECKPOINTED, stdout + err
    m = re.search(r"wrote a checkpoint at step (\d+)", stdout)
    assert m, stdout
    stopped = int(m.group(1))
    assert 0 < stopped < 40 and list_checkpoints(ck)[0][0] == stopped
    # resumed as a requeued Slurm job is: no --restart flag, CLUSTERKIT_RESTART=1 from
    # the requeue template (slurm/templates/requeue.sh.tmpl)
    res = run(2, DIFF, job_args(DIFF, ck, out), CLUSTERKIT_RESTART=1)
    assert f"(step {stopped})" in res.stdout
    assert_same(finish(res, out, DIFF), reference[DIFF])


def test_a_requeued_run_before_the_first_checkpoint_starts_again(tmp_path, reference):
    # a node can fail before the job wrote its first checkpoint; Slurm's rerun then has
    # CLUSTERKIT_RESTART=1 and an empty directory: it must start over, not fail
    ck, out = tmp_path / "ck", tmp_path / "out.npy"
    res = run(2, DIFF, job_args(DIFF, ck, out), CLUSTERKIT_RESTART=1)
    assert "no checkpoint" in res.stdout and "starting from the beginning" in res.stdout
    assert_same(finish(res, out, DIFF), reference[DIFF])
    # asked for by the user, a restart without a checkpoint stays an error
    again = run(2, DIFF, job_args(DIFF, tmp_path / "empty", out, restart=True))
    assert again.returncode == 2 and "--restart: no checkpoint" in again.stderr


# -- corrupt checkpoints ---------------------------------------------------------------
@pytest.fixture(scope="module")
def full_dir(tmp_path_factory):
    """A checkpoint directory of a finished diffusion run: steps 32, 36, 40."""
    ck = tmp_path_factory.mktemp("full") / "ck"
    res = run(2, DIFF, job_args(DIFF, ck, extra=["--steps", "39"]))
    assert res.returncode == 0, res.stderr
    assert [s for s, _ in list_checkpoints(ck)] == [36, 32, 28]
    return ck


def _truncate(path):
    size = os.path.getsize(path)
    with open(path, "r+b") as f:
        f.truncate(size // 2)


def _flip(path):
    with h5py.File(path) as f:
        offset = f["arrays/u"].id.get_offset() + 8 * 500 + 3
    with open(path, "r+b") as f:
        f.seek(offset)
        b = f.read(1)
        f.seek(offset)
        f.write(bytes([b[0] ^ 0x10]))


@pytest.mark.parametrize("damage", [_truncate, _flip], ids=["truncated", "bit-flipped"])
def test_corrupt_newest_is_reported_and_previous_used(tmp_path, full_dir, reference, damage):
    ck, out = tmp_path / "ck", tmp_path / "out.npy"
    shutil.copytree(full_dir, ck)
    damage(list_checkpoints(ck)[0][1])
    res = run(2, DIFF, job_args(DIFF, ck, out, restart=True))
    warnings = [ln for ln in res.stderr.splitlines() if ln.startswith("warning:")]
    assert len(warnings) == 1 and "ckpt-000000036.h5 is corrupt" in warnings[0], res.stderr
    assert "(step 32)" in res.stdout
    assert_same(finish(res, out, DIFF), reference[DIFF])


def test_all_corrupt_is_one_line_exit_2(tmp_path, full_dir):
    ck = tmp_path / "ck"
    shutil.copytree(full_dir, ck)
    for _, path in list_checkpoints(ck):
        _flip(path)
    res = run(2, DIFF, job_args(DIFF, ck, restart=True))
    assert res.returncode == 2, res.stdout + res.stderr
    errors = [ln for ln in res.stderr.splitlines() if not ln.startswith("warning:")]
    assert len(errors) == 1 and "none of the 3 checkpoints" in errors[0], res.stderr


# -- a failure while writing -------------------------------------------------------------
def test_exception_during_write_keeps_previous_and_aborts(tmp_path, reference):
    ck, out = tmp_path / "ck", tmp_path / "out.npy"
    res = run(2, DIFF, job_args(DIFF, ck), CLUSTERKIT_TEST_FAIL_SAVE="8:1:raise")
    assert res.returncode != 0
    assert "injected failure while writing checkpoint 8 on rank 1" in res.stderr
    assert sorted(os.listdir(ck)) == ["ckpt-000000004.h5"]  # no temporary left behind
    res = run(2, DIFF, job_args(DIFF, ck, out, restart=True))
    assert "(step 4)" in res.stdout
    assert_same(finish(res, out, DIFF), reference[DIFF])


# -- bad input ---------------------------------------------------------------------------
def _one_line_exit_2(res, *needles):
    assert res.returncode == 2, res.stdout + res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_restart_from_empty_directory(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("not a checkpoint")
    res = run(2, DIFF, job_args(DIFF, tmp_path / "empty", restart=True))
    _one_line_exit_2(res, "diffusion: error: --restart: no checkpoint")


def test_restart_from_other_job_or_shape(tmp_path, full_dir):
    res = run(2, STEN, job_args(STEN, full_dir, restart=True))
    _one_line_exit_2(res, "written by job 'diffusion', not 'stencil'")
    res = run(1, DIFF, job_args(DIFF, full_dir, restart=True, extra=["--shape", "19,36"]))
    _one_line_exit_2(res, "shape=[37, 72] but this run has shape=[19, 36]")


def test_option_misuse(tmp_path, full_dir):
    res = run(2, DIFF, job_args(DIFF, extra=["--restart"]))
    _one_line_exit_2(res, "--restart needs --checkpoint-dir")
    res = run(2, DIFF, job_args(DIFF, full_dir))  # fresh run into a used directory
    _one_line_exit_2(res, "already holds checkpoints")
