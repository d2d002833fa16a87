"""Shared fixtures: MPI test runs report from rank 0 only; helpers for launching jobs."""

import os
import pathlib
import shutil
import tempfile

import pytest

from slurm_fixture import slurm  # noqa: F401  (the one local Slurm, shared by test files)
from multinode_fixture import nodes_fixture  # noqa: F401  (the 3-node cluster, shared)

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


@pytest.fixture
def shared_dir(comm):
    """A fresh directory that every rank of an MPI test sees (made by rank 0, removed after)."""
    path = comm.bcast(tempfile.mkdtemp(prefix="ck-mpi-") if comm.Get_rank() == 0 else None)
    yield path
    comm.Barrier()
    if comm.Get_rank() == 0:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def nc_path(comm, shared_dir):
    """A small climate NetCDF file every rank sees (tests/ncfiles.py)."""
    from ncfiles import write_small_climate
    path = f"{shared_dir}/in.nc"
    if comm.Get_rank() == 0:
        write_small_climate(path)
    comm.Barrier()
    return path


def run_cli(capsys, *argv):
    """Run ``clusterkit ARGV`` in this process; return (status, stdout, stderr)."""
    from clusterkit.cli.main import main
    try:
        status = main(list(argv))
    except SystemExit as exc:
        status = exc.code
    out, err = capsys.readouterr()
    return status, out, err
