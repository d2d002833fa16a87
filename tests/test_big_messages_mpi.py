"""Messages over 2 GiB (opt-in: CLUSTERKIT_BIG_TESTS=1; needs ~10 GB of memory on 2 ranks)."""

import os

import pytest

from clusterkit.grid import Grid
from clusterkit.testing import assert_all

pytestmark = [pytest.mark.mpi,
              pytest.mark.skipif(not os.environ.get("CLUSTERKIT_BIG_TESTS"),
                                 reason="set CLUSTERKIT_BIG_TESTS=1 (needs ~10 GB of memory)")]


def test_gather_and_redistribute_blocks_larger_than_2_gib(comm):
    n = comm.Get_size()
    side = 16500  # one (1, side, side) float64 block = 2.18 GB > 2 GiB
    grid = Grid((n, side, side), dims=(n, 1, 1), comm=comm)
    u = grid.empty("f8")
    assert_all(u.interior.nbytes > 2 ** 31, "block not larger than 2 GiB", comm)
    u.interior[...] = grid.rank + 1.0
    u.interior[0, -1, -1] = -(grid.rank + 1.0)
    full = u.gather(root=0)
    if comm.Get_rank() == 0:
        ok = all(full[r, 0, 0] == r + 1 and full[r, -1, -1] == -(r + 1)
                 and full[r, side // 2, 7] == r + 1 for r in range(n))
        del full
    else:
        ok = full is None
    assert_all(ok, "gathered blocks wrong", comm)
    s = u.sum()
    expected = sum((r + 1.0) * (side * side - 2) for r in range(n))
    assert_all(s == expected, f"sum {s} != {expected}", comm)
