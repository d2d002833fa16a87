"""Signals to ``clusterkit run``, to its ``mpirun`` and to one rank end the whole job.

Real launcher, real ``mpirun``, real signals. Each case starts ``clusterkit run -n 2`` in
a session of its own (so a leftover can be found and killed), sends one signal at a
random point (the seed is the test's id, so a failure reproduces), and asserts that
within :data:`END_SECONDS` the launcher has exited and no process whose command line
names the test's temporary directory is left; that the launcher's status is the one the
signal calls for; that the one line it prints names the signal (and the rank, where Open
MPI reported it); and that the job's output is absent or complete. The job is
``tests/jobs/sleeper.py``, which runs for longer than :data:`END_SECONDS` unless stopped;
the checkpointing cases run the ``diffusion`` job.
"""

import os
import random
import re
import signal
import subprocess
import sys
import time
import zlib

import h5py
import numpy as np
import pytest

from clusterkit.cli.run import STOP_GRACE_SECONDS
from clusterkit.io.checkpoint import EXIT_CHECKPOINTED, list_checkpoints

SLEEPER = os.path.join(os.path.dirname(os.path.dirname(__file__)), "jobs", "sleeper.py")
#: seconds from a signal until every process of the job must have ended
END_SECONDS = 10
#: seconds a job may take to start (ranks running) before a case gives up
START_SECONDS = 30
#: sleeper steps of 0.1 s: 15 s, longer than END_SECONDS, so an orphaned job shows
SLEEPER_ARGS = ["--steps", "150", "--sleep", "0.1"]
DIFFUSION_ARGS = ["--shape", "37,72", "--steps", "400", "--every", "0"]


def _default_signals():
    # a launcher started from a background shell inherits SIGINT ignored, and honours
    # that; these tests are about a launcher that does receive it
    for signum in (signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, signal.SIG_DFL)


def _cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().split(b"\0")
    except OSError:
        return []


def _rank_of(pid):
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            env = f.read().split(b"\0")
    except OSError:
        return None
    for item in env:
        if item.startswith(b"OMPI_COMM_WORLD_RANK="):
            return int(item.partition(b"=")[2])
    return None


class Job:
    """``clusterkit run -n 2 ARGS`` started in ``tmp_path``, and its processes."""

    def __init__(self, tmp_path, args, **env):
        self.dir = tmp_path
        self.marker = str(tmp_path).encode()
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("CLUSTERKIT_TEST")}
        full_env.update(PYTHONUNBUFFERED="1", **env)
        self.stdout = tmp_path / "stdout.txt"
        self.stderr = tmp_path / "stderr.txt"
        with open(self.stdout, "w") as out, open(self.stderr, "w") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "clusterkit.cli.main", "run", "-n", "2", *args],
                stdout=out, stderr=err, stdin=subprocess.DEVNULL, cwd=tmp_path, env=full_env,
                start_new_session=True, preexec_fn=_default_signals)

    def processes(self):
        """Pids of live processes whose command line names this test's directory."""
        return [int(p) for p in os.listdir("/proc")
                if p.isdigit() and int(p) != os.getpid() and self.marker in b" ".join(
                    _cmdline(p))]

    def _until(self, find, what):
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            found = find()
            if found:
                return found
            assert self.proc.poll() is None, f"the launcher ended before {what}: {self.err()}"
            time.sleep(0.02)
        raise AssertionError(f"no {what} after {START_SECONDS} s: {self.err()}")

    def mpirun(self):
        """Pid of the job's mpirun, once it runs."""
        return self._until(lambda: next((p for p in self.processes()
                                         if os.path.basename(_cmdline(p)[0]) == b"mpirun"),
                                        None), "mpirun")

    def ranks(self):
        """``{rank: pid}`` of both ranks, once both run."""
        def both():
            found = {_rank_of(p): p for p in self.processes()}
            found.pop(None, None)
            return found if len(found) == 2 else None
        return self._until(both, "ranks")

    def wait_for_output(self, text):
        self._until(lambda: text in self.stdout.read_text(), f"{text!r} on stdout")

    def end(self):
        """Wait until the launcher and every process of the job have ended; return the
        seconds that took (killing what is left after END_SECONDS)."""
        t0 = time.monotonic()
        while time.monotonic() - t0 < END_SECONDS:
            if self.proc.poll() is not None and not self.processes():
                return time.monotonic() - t0
            time.sleep(0.05)
        left = self.processes()
        self.kill()
        raise AssertionError(f"{END_SECONDS} s after the signal: launcher status "
                             f"{self.proc.poll()}, job processes left {left}: {self.err()}")

    def kill(self):
        for pid in [self.proc.pid] + self.processes():
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        self.proc.wait()

    def err(self):
        return self.stderr.read_text()

    def out(self):
        return self.stdout.read_text()


@pytest.fixture
def job(tmp_path):
    """Start a Job; whatever a failing case leaves behind is killed."""
    started = []

    def start(args, **env):
        started.append(Job(tmp_path, args, **env))
        return started[-1]
    yield start
    for j in started:
        j.kill()


@pytest.fixture
def rng(request):
    return random.Random(zlib.crc32(request.node.nodeid.encode()))


def _assert_output_absent_or_complete(path):
    if os.path.exists(path):
        with h5py.File(path, "r") as f:
            x = f["x"][...]
        assert (x == np.arange(2)[:, None]).all() and x.shape[0] == 2


def _error_lines(err):
    return [line for line in err.splitlines() if line.startswith("clusterkit run: error:")]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL],
                         ids=["SIGTERM", "SIGINT", "SIGKILL"])
@pytest.mark.parametrize("target", ["launcher", "mpirun", "rank"])
def test_a_signal_ends_the_whole_job(job, tmp_path, rng, target, signum):
    out = tmp_path / "out.h5"
    j = job([SLEEPER, str(out), *SLEEPER_ARGS])
    name = f"{signal.Signals(signum).name} (signal {signum})"
    rank = None
    if target == "launcher":          # from mpirun's start (ranks starting) to the running job
        j.mpirun()                    # the launcher handles signals from before that on
        time.sleep(rng.uniform(0.0, 2.0))
        pid = j.proc.pid
    elif target == "mpirun":
        pid = j.mpirun()
        time.sleep(rng.uniform(0.0, 1.5))
    else:
        rank = rng.randrange(2)
        pid = j.ranks()[rank]
        time.sleep(rng.uniform(0.0, 1.5))
    os.kill(pid, signum)
    j.end()
    status, err = j.proc.returncode, j.err()
    lines = _error_lines(err)
    if target == "launcher" and signum == signal.SIGKILL:
        assert status == -signal.SIGKILL           # and mpirun ended with it (j.end())
    elif target == "launcher":
        assert status == 128 + signum, err
        assert lines == [f"clusterkit run: error: the job was stopped: clusterkit run "
                         f"received {name}"], err
    elif target == "mpirun" and signum == signal.SIGKILL:
        assert status == 128 + signum, err
        assert lines == [f"clusterkit run: error: mpirun was killed by {name}"], err
    elif target == "mpirun":          # mpirun ends the job itself and exits 1, silently
        assert status in (1, 128 + signum), err
        assert len(lines) == 1 and ("mpirun ended the job with status 1 without giving a "
                                    "reason" in lines[0] or name in lines[0]), err
    elif signum == signal.SIGINT:     # a Python rank: KeyboardInterrupt, traceback, abort
        assert status != 0, err
        assert "KeyboardInterrupt" in err or status == 128 + signum, err
        assert len(lines) <= 1, err
    else:
        assert status == 128 + signum, err
        assert lines == [f"clusterkit run: error: the job was killed by {name} on rank "
                         f"{rank}"], err
    _assert_output_absent_or_complete(out)


def test_killed_rank_is_named(job, tmp_path):
    """Rank 1 SIGKILLs itself at step 3 (the job's test fault point): one line names it."""
    j = job(["diffusion", *DIFFUSION_ARGS], CLUSTERKIT_TEST_KILL_AT_STEP="3",
            CLUSTERKIT_TEST_KILL_RANK="1")
    j.proc.wait(timeout=60)
    j.end()
    assert j.proc.returncode == 128 + signal.SIGKILL, j.err()
    assert _error_lines(j.err()) == ["clusterkit run: error: the job was killed by SIGKILL "
                                     "(signal 9) on rank 1"], j.err()


def test_a_job_ignoring_sigterm_is_killed_after_the_grace_period(job, tmp_path):
    j = job([SLEEPER, str(tmp_path / "out.h5"), *SLEEPER_ARGS, "--ignore-term"])
    j.wait_for_output("running")
    os.kill(j.proc.pid, signal.SIGTERM)
    took = j.end()
    assert took >= STOP_GRACE_SECONDS - 0.5
    assert j.proc.returncode == 128 + signal.SIGTERM, j.err()
    assert _error_lines(j.err()) == [
        f"clusterkit run: error: the job was stopped: clusterkit run received SIGTERM "
        f"(signal 15); its processes were killed (SIGKILL) after {STOP_GRACE_SECONDS:g} s"]


def test_a_second_stop_signal_kills_at_once(job, tmp_path):
    j = job([SLEEPER, str(tmp_path / "out.h5"), *SLEEPER_ARGS, "--ignore-term"])
    j.wait_for_output("running")
    os.kill(j.proc.pid, signal.SIGTERM)
    time.sleep(0.3)
    os.kill(j.proc.pid, signal.SIGINT)
    took = j.end()
    assert took < STOP_GRACE_SECONDS, "the second signal did not end the job at once"
    assert j.proc.returncode == 128 + signal.SIGTERM, j.err()
    assert "killed (SIGKILL) on a second stop signal, SIGINT (signal 2)" in j.err()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGUSR1],
                         ids=["SIGTERM", "SIGINT", "SIGUSR1"])
def test_a_checkpointing_job_checkpoints_exits_99_and_restarts(job, tmp_path, rng, signum):
    ck = tmp_path / "ck"
    args = ["diffusion", *DIFFUSION_ARGS, "--checkpoint-dir", str(ck), "--checkpoint-every",
            "1000"]
    j = job(args, CLUSTERKIT_TEST_STEP_SLEEP="0.02")
    j.wait_for_output("checkpointing to")   # the ranks' handlers are installed by then
    time.sleep(rng.uniform(0.0, 1.0))
    os.kill(j.proc.pid, signum)
    j.end()
    assert j.proc.returncode == EXIT_CHECKPOINTED, j.err()
    assert _error_lines(j.err()) == [], j.err()
    m = re.search(r"wrote a checkpoint at step (\d+)", j.out())
    assert m, j.out()
    step = int(m.group(1))
    assert list_checkpoints(ck)[0][0] == step
    if signum != signal.SIGTERM:
        return
    again = job(args + ["--restart"])
    assert again.proc.wait(timeout=120) == 0, again.err()
    assert f"(step {step})" in again.out()
