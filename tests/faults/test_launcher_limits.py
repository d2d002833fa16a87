"""``clusterkit run`` refuses rank counts that cannot start, before ``mpirun`` runs.

The real launcher runs with an ``mpirun`` on ``PATH`` that logs its arguments and then
runs the real one, so a case sees whether ``mpirun`` was started at all. A refusal is
one line on stderr, exit status 2, nothing on stdout, and no ``mpirun`` (not even
``mpirun --version``); the launcher of a refusal also runs under a 2 GiB address-space
limit, so an ``mpirun`` started by mistake with a billion ranks fails instead of filling
the machine's memory. Allowed counts still start.
"""

import os
import resource
import shutil
import stat
import time

import pytest

from clusterkit.launch import (LOCAL_RANKS_PER_CORE, MIN_LOCAL_RANK_LIMIT,
                               MAX_LOCAL_RANKS_VARIABLE)
from clusterkit.threads import available_cores

from .helpers import run_cli

TIMEOUT = 60                  # seconds; a refusal comes long before this
REFUSAL_SECONDS = 5           # hang bound for a refusal (it takes well under a second)
QUICK_EXIT = os.path.join(os.path.dirname(os.path.dirname(__file__)), "jobs", "quick_exit.py")
#: variables that would change the rule under test, dropped from the launcher's environment
_RULE_VARIABLES = ("SLURM_", "OMPI_MCA_orte_default_hostfile", "OMPI_MCA_rmaps_base_hostfile",
                   "PBS_NODEFILE", "LSB_HOSTS", MAX_LOCAL_RANKS_VARIABLE)


def _small_address_space():
    limit = 2 << 30
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


@pytest.fixture
def launcher(tmp_path):
    """``launcher(*args, limit_memory=False, **env)`` runs ``clusterkit run ARGS``; returns
    ``(status, stdout, stderr, seconds, mpirun_calls)``."""
    real = shutil.which("mpirun")
    assert real, "mpirun not on PATH"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "mpirun-calls.txt"
    spy = bin_dir / "mpirun"
    spy.write_text(f'#!/bin/sh\necho "$*" >> "{log}"\nexec "{real}" "$@"\n')
    spy.chmod(spy.stat().st_mode | stat.S_IXUSR)

    def run(*args, limit_memory=False, **extra):
        env = {k: v for k, v in os.environ.items() if not k.startswith(_RULE_VARIABLES)}
        env.update(extra, PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}")
        t0 = time.monotonic()
        res = run_cli(["run", *args], timeout=TIMEOUT, cwd=tmp_path, env=env,
                      preexec_fn=_small_address_space if limit_memory else None)
        calls = log.read_text().splitlines() if log.exists() else []
        log.unlink(missing_ok=True)
        return res.returncode, res.stdout, res.stderr, time.monotonic() - t0, calls
    return run


def _assert_refused(result, *fragments):
    status, out, err, seconds, calls = result
    assert status == 2, err
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("clusterkit run: error: -n "), err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    assert calls == [], f"mpirun was started: {calls}"
    assert seconds < REFUSAL_SECONDS


def test_a_billion_ranks_on_one_node_are_refused(launcher):
    cores = available_cores()
    limit = max(MIN_LOCAL_RANK_LIMIT, LOCAL_RANKS_PER_CORE * cores)
    _assert_refused(launcher("-n", "1000000000", "demo", limit_memory=True),
                    f"at most {limit} ranks", f"{cores} cores", "hostfile",
                    f"{MAX_LOCAL_RANKS_VARIABLE}=N")


def test_the_limit_applies_to_dry_runs_too(launcher):
    _assert_refused(launcher("--dry-run", "-n", "1000000000", "demo", limit_memory=True),
                    "at most")


def test_the_variable_sets_the_limit(launcher):
    var = {MAX_LOCAL_RANKS_VARIABLE: "2"}
    _assert_refused(launcher("-n", "3", "demo", limit_memory=True, **var),
                    "at most 2 ranks", f"{MAX_LOCAL_RANKS_VARIABLE}=2")
    _assert_started(launcher("-n", "2", QUICK_EXIT, "0", **var), 2)
    status, _, err, _, calls = launcher("-n", "2", "demo", **{MAX_LOCAL_RANKS_VARIABLE: "x"})
    assert status == 2 and calls == [] and len(err.strip().splitlines()) == 1, err
    assert f"{MAX_LOCAL_RANKS_VARIABLE} must be a positive integer" in err


@pytest.mark.parametrize("env, fragment", [
    ({"SLURM_NTASKS": "3"}, "3 tasks of this Slurm allocation (SLURM_NTASKS=3)"),
    ({"SLURM_NPROCS": "3"}, "(SLURM_NPROCS=3)"),
    ({"SLURM_NTASKS_PER_NODE": "3", "SLURM_JOB_NUM_NODES": "1"},
     "(SLURM_NTASKS_PER_NODE=3 x SLURM_JOB_NUM_NODES=1)"),
], ids=["ntasks", "nprocs", "per-node"])
def test_the_allocation_bounds_the_ranks(launcher, env, fragment):
    """A fake allocation of 3 tasks: 4 ranks are refused, 3 start."""
    _assert_refused(launcher("-n", "4", "demo", limit_memory=True, **env), fragment,
                    "sbatch/salloc -n")
    _assert_started(launcher("-n", "3", QUICK_EXIT, "0", **env), 3)


def test_a_hostfile_lifts_the_local_limit(launcher, tmp_path):
    """Ranks on other nodes are not this node's to count: the dry run prints the command."""
    _assert_refused(launcher("--dry-run", "-n", "100000", "demo", limit_memory=True), "at most")
    status, out, err, _, calls = launcher("--dry-run", "-n", "100000", "demo",
                                          OMPI_MCA_orte_default_hostfile=str(tmp_path / "h"))
    assert status == 0, err
    assert " -n 100000 " in out
    assert all(c == "--version" for c in calls), calls


def _assert_started(result, nranks):
    status, out, err, _, calls = result
    assert status == 0, err
    assert f"rank {nranks - 1} done" in out
    assert [c for c in calls if c.startswith(f"-n {nranks} ")], calls
