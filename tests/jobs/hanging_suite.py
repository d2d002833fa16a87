"""A pytest module that deadlocks on purpose (rank 0 skips a collective).

Not collected by the suite (no test_ prefix); tests/test_harness.py runs it under
mpirun to show that the per-test timeout ends a hung MPI test run.
"""

import pytest

pytestmark = pytest.mark.mpi


def test_deadlocks():
    from clusterkit.comm import world
    c = world()
    if c.Get_rank() != 0:
        c.Barrier()  # rank 0 never arrives
