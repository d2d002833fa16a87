"""MPI tests of Checkpointer: round trips across process grids, checksums, corruption, and
a write the file system refuses on one rank."""

import errno
import os

import h5py
import numpy as np
import pytest

from clusterkit.grid import Grid
from clusterkit.io import staged
from clusterkit.io.checkpoint import Checkpointer, global_checksum, list_checkpoints
from clusterkit.testing import assert_all, assert_equal_all

pytestmark = pytest.mark.mpi

SHAPE = (11, 13, 4)


@pytest.fixture
def ckdir(shared_dir):
    """A fresh directory shared by every rank."""
    return shared_dir


def global_field(dtype="f8"):
    rng = np.random.default_rng(7)
    return (rng.normal(size=SHAPE) * 1e3).astype(dtype)


def process_grids(n):
    """Process grids of n ranks along different axes (distinct layouts when n > 1)."""
    return [(n, 1, 1), (1, n, 1), (1, 1, n) if n <= SHAPE[2] else (1, n, 1)]


def load_block(grid, G):
    a = grid.zeros(G.dtype)
    a.interior[...] = G[grid.local_slices]
    return a


@pytest.mark.parametrize("io", ["parallel", "serial-write", "serial-read"])
@pytest.mark.parametrize("wdims", [0, 1, 2])
def test_round_trip_across_process_grids(comm, ckdir, wdims, io, monkeypatch):
    """Also with the serial-h5py fallback on either side (CLUSTERKIT_SERIAL_IO=1): the
    files are the same HDF5, whoever wrote them."""
    n = comm.Get_size()
    if io == "serial-write":
        monkeypatch.setenv("CLUSTERKIT_SERIAL_IO", "1")
    G, I = global_field("f8"), np.arange(np.prod(SHAPE), dtype="i4").reshape(SHAPE)
    wgrid = Grid(SHAPE, dims=process_grids(n)[wdims], halo=1, comm=comm)
    ck = Checkpointer(ckdir, comm=comm, job="t", meta={"shape": list(SHAPE)})
    ck.save(5, {"u": load_block(wgrid, G), "i": load_block(wgrid, I)},
            {"rng": np.random.default_rng(3).bit_generator.state, "t": 0.25})
    monkeypatch.setenv("CLUSTERKIT_SERIAL_IO", "1" if io == "serial-read" else "0")
    for rdims in process_grids(n):
        rgrid = Grid(SHAPE, dims=rdims, halo=(2, 1, 0), comm=comm)
        u, i = rgrid.zeros("f8"), rgrid.zeros("i4")
        got = Checkpointer(ckdir, comm=comm, job="t",
                           meta={"shape": list(SHAPE)}).restore({"u": u, "i": i})
        assert_all(got.step == 5 and got.state["t"] == 0.25, str(got), comm)
        rng = np.random.default_rng()
        rng.bit_generator.state = got.state["rng"]
        assert_all(rng.integers(1 << 30) == np.random.default_rng(3).integers(1 << 30),
                   "RNG state not restored", comm)
        assert_equal_all(u.interior, G[rgrid.local_slices], comm=comm)
        assert_equal_all(i.interior, I[rgrid.local_slices], comm=comm)


def test_checksum_is_decomposition_independent_and_sensitive(comm):
    G = global_field()
    sums = set()
    for dims in process_grids(comm.Get_size()):
        g = Grid(SHAPE, dims=dims, comm=comm)
        sums.add(global_checksum(G[g.local_slices], g.local_start, SHAPE, comm))
    assert_all(len(sums) == 1, f"checksums differ between decompositions: {sums}", comm)
    g = Grid(SHAPE, comm=comm)
    H = G.copy()
    H.reshape(-1).view(np.uint64)[17] ^= np.uint64(1)  # one bit of one element
    flipped = global_checksum(H[g.local_slices], g.local_start, SHAPE, comm)
    swapped = G.copy()
    swapped[[0, 1]] = swapped[[1, 0]]  # same values, other places
    moved = global_checksum(swapped[g.local_slices], g.local_start, SHAPE, comm)
    assert_all(sums.isdisjoint({flipped, moved}), "checksum missed a change", comm)


def test_checksum_mismatch_is_detected_and_previous_used(comm, ckdir, capfd):
    G = global_field()
    grid = Grid(SHAPE, comm=comm)
    ck = Checkpointer(ckdir, comm=comm, job="t", keep=2)
    ck.save(1, {"u": load_block(grid, G)})
    ck.save(2, {"u": load_block(grid, G + 1.0)})
    ck.save(3, {"u": load_block(grid, G + 2.0)})
    names = [s for s, _ in list_checkpoints(ckdir)]
    assert_all(names == [3, 2], f"keep=2 left {names}", comm)
    if comm.Get_rank() == 0:
        path = list_checkpoints(ckdir)[0][1]
        with h5py.File(path) as f:
            offset = f["arrays/u"].id.get_offset() + 8 * (G.size - 1)
        with open(path, "r+b") as f:  # flip a bit of the last element
            f.seek(offset)
            b = f.read(1)
            f.seek(offset)
            f.write(bytes([b[0] ^ 1]))
    comm.Barrier()
    u = grid.zeros()
    got = ck.restore({"u": u})
    assert_all(got.step == 2, f"restored step {got.step}", comm)
    assert_equal_all(u.interior, (G + 1.0)[grid.local_slices], comm=comm)
    err = capfd.readouterr().err
    if comm.Get_rank() == 0:
        assert_all(err.count("warning:") == 1 and "ckpt-000000003.h5 is corrupt" in err, err,
                   comm)
    else:
        assert_all("warning" not in err, err, comm)
    os.unlink(list_checkpoints(ckdir)[-1][1]) if comm.Get_rank() == 0 else None
    comm.Barrier()
    with pytest.raises(ValueError, match="none of the 1 checkpoints"):
        ck.restore({"u": u})


def test_wrong_job_or_shape_is_value_error_on_every_rank(comm, ckdir):
    grid = Grid(SHAPE, comm=comm)
    Checkpointer(ckdir, comm=comm, job="a").save(1, {"u": load_block(grid, global_field())})
    with pytest.raises(ValueError, match="job 'a', not 'b'"):
        Checkpointer(ckdir, comm=comm, job="b").restore({"u": grid.zeros()})
    other = Grid((11, 13, 5), comm=comm)
    with pytest.raises(ValueError, match="shape"):
        Checkpointer(ckdir, comm=comm, job="a").restore({"u": other.zeros()})


def _refuse_space(path, end):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)


def _refuse_write(self, *args, **kwargs):
    raise OSError("Can't write data (file write failed)")


@pytest.mark.parametrize("io, code", [("reserve", errno.ENOSPC), ("write", errno.EIO)])
def test_refused_write_on_rank_0_fails_every_rank_and_keeps_the_previous(
        comm, ckdir, io, code, monkeypatch):
    """The file system refuses rank 0 alone: space for the file (parallel or serial
    HDF5), or a write of the blocks rank 0 writes for everyone (serial HDF5). Every rank
    raises the same OSError naming the checkpoint; the temporary is gone, the previous
    checkpoint intact, and the next save works."""
    G = global_field()
    grid = Grid(SHAPE, comm=comm)
    ck = Checkpointer(ckdir, comm=comm, job="t", keep=3)
    first = ck.save(1, {"u": load_block(grid, G)})
    if io == "write":
        monkeypatch.setenv("CLUSTERKIT_SERIAL_IO", "1")
    if comm.Get_rank() == 0:
        if io == "reserve":
            monkeypatch.setattr(staged, "_reserve", _refuse_space)
        else:
            monkeypatch.setattr(h5py.Dataset, "write_direct", _refuse_write)
    with pytest.raises(OSError) as info:
        ck.save(2, {"u": load_block(grid, G + 1.0)})
    got = info.value
    assert_all(got.errno == code and got.filename == os.path.join(ckdir, "ckpt-000000002.h5"),
               f"raised {got!r}", comm)
    comm.Barrier()
    assert_all(sorted(os.listdir(ckdir)) == ["ckpt-000000001.h5"],
               f"left {sorted(os.listdir(ckdir))}", comm)
    monkeypatch.undo()
    ck.save(3, {"u": load_block(grid, G + 2.0)})
    u = grid.zeros()
    assert_all(ck.restore({"u": u}).step == 3 and first.endswith("ckpt-000000001.h5"),
               "the next save after a failure", comm)
    assert_equal_all(u.interior, (G + 2.0)[grid.local_slices], comm=comm)
