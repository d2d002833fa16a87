"""The MPI test harness itself: a deadlocked MPI test ends the run instead of hanging."""

import os
import subprocess
import sys
import time

from conftest import TEST_JOBS


def test_deadlocked_mpi_test_is_killed_by_the_timeout():
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OMPI_MCA_rmaps_base_oversubscribe="1")
    t0 = time.monotonic()
    proc = subprocess.run(
        ["mpirun", "-n", "2", sys.executable, "-m", "pytest", "-p", "no:cacheprovider",
         "--with-mpi", "-m", "mpi", "--timeout=3", "--timeout-method=thread",
         str(TEST_JOBS / "hanging_suite.py")],
        capture_output=True, text=True, timeout=60, env=env, start_new_session=True)
    elapsed = time.monotonic() - t0
    assert proc.returncode != 0
    assert "Timeout" in proc.stdout + proc.stderr
    assert elapsed < 30, f"took {elapsed:.1f} s"
