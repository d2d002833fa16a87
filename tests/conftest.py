"""Shared fixtures: MPI test runs report from rank 0 only; helpers for launching jobs."""

import os
import pathlib

import pytest

from slurm_fixture import slurm  # noqa: F401  (the one local Slurm, shared by test files)

REPO = pathlib.Path(__file__).resolve().parent.parent
TEST_JOBS = pathlib.Path(__file__).resolve().parent / "jobs"


def _launch_rank():
    for var in ("OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK"):
        if os.environ.get(var, "").isdigit():
            return int(os.environ[var])
    return 0


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    # Under mpirun only rank 0 writes the JUnit report (every rank runs the same tests).
    if _launch_rank() > 0:
        config.option.xmlpath = None


@pytest.fixture
def comm():
    """clusterkit's world communicator (MPI tests only)."""
    from clusterkit.comm import world
    return world()


@pytest.fixture
def test_job():
    """Path of a test job script under tests/jobs/."""
    return lambda name: str(TEST_JOBS / name)
