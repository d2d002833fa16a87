"""MPI tests of NCWriter's fill behaviour: prefilled variables show _FillValue where no
rank wrote; ``prefill=False`` skips writing the fill value first and reads back exactly."""

import h5py
import numpy as np
import pytest

from clusterkit.grid import Grid
from clusterkit.io.ncwrite import NCWriter
from clusterkit.testing import assert_all, assert_equal_all

pytestmark = pytest.mark.mpi


@pytest.mark.parametrize("shape", [(7, 5), (13, 3)])
def test_prefill_choice(comm, shared_dir, shape):
    grid = Grid(shape, comm=comm, dims=(comm.Get_size(), 1))  # rows split: some unwritten
    G = np.arange(np.prod(shape), dtype="f8").reshape(shape)
    block = G[grid.local_slices]
    path = f"{shared_dir}/out.nc"
    with NCWriter(path, comm=comm) as w:
        w.dimension("y", np.arange(shape[0]))
        w.dimension("x", np.arange(shape[1]))
        w.variable("full", ("y", "x"), prefill=False)
        w.variable("partial", ("y", "x"))
        w.write("full", block, grid.local_start)
        # only the first row of blocks is written: the rest must read as _FillValue (NaN)
        first_row = grid.topology.coords[0] == 0
        w.write("partial", block if first_row else block[:0, :0], grid.local_start)
    comm.Barrier()
    with h5py.File(path, "r") as f:
        full, partial = f["full"][...], f["partial"][...]
        never = f["full"].id.get_create_plist().get_fill_time() == h5py.h5d.FILL_TIME_NEVER
        ifset = f["partial"].id.get_create_plist().get_fill_time() == h5py.h5d.FILL_TIME_IFSET
    assert_all(never and ifset, "fill times: full=never, partial=ifset", comm)
    assert_equal_all(full, G, comm)
    from mpi4py import MPI
    n0 = comm.allreduce(grid.local_shape[0] if grid.topology.coords[0] == 0 else 0, op=MPI.MAX)
    assert_equal_all(partial[:n0], G[:n0], comm)
    assert_all(np.isnan(partial[n0:]).all() and (n0 < shape[0]) == (comm.Get_size() > 1),
               "rows no rank wrote read as NaN", comm)
