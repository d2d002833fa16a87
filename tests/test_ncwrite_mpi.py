"""MPI tests of NCWriter: its fill behaviour (prefilled variables show _FillValue where no
rank wrote; ``prefill=False`` skips writing the fill value first and reads back exactly),
dimensions without coordinate variables, scalars and variables without _FillValue as
netCDF readers see them, its temporary's name, and failures on one rank (the same error
on every rank, no hang, no temporary left)."""

import errno
import os
import re

import h5py
import numpy as np
import pytest

from clusterkit.grid import Grid
from clusterkit.io.parallel import parallel_io
from clusterkit.io.ncwrite import NO_FILL, NCWriter
from clusterkit.io.staged import StagedFile
from clusterkit.io.temporaries import temporary_name
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


def test_index_dimensions_scalars_and_no_fill_as_netcdf_reads_them(comm, shared_dir):
    """A dimension without a coordinate variable is netCDF-C's placeholder (netCDF4 and
    xarray list no variable for it), a scalar keeps its attributes, ``NO_FILL`` leaves no
    _FillValue; netCDF-C (netCDF4-python) reads the file back exactly."""
    netCDF4 = pytest.importorskip("netCDF4")
    grid = Grid((6, 5), comm=comm, dims=(comm.Get_size(), 1))
    G = np.arange(30, dtype="f8").reshape(6, 5)
    path = f"{shared_dir}/out.nc"
    with NCWriter(path, comm=comm) as w:
        w.index_dimension("y", 6)
        w.dimension("x", np.arange(5.0), {"units": "m"})
        w.index_dimension("nv", 4)
        w.scalar("crs", np.int32(0), {"grid_mapping_name": "rotated_latitude_longitude",
                                      "grid_north_pole_latitude": 39.25})
        w.variable("lat", ("y", "x"), attrs={"units": "degrees_north"}, fill_value=NO_FILL,
                   prefill=False)
        w.variable("lat_bnds", ("y", "x", "nv"), fill_value=NO_FILL, prefill=False)
        w.variable("v", ("y", "x"), attrs={"grid_mapping": "crs"}, prefill=False)
        for name in ("lat", "v"):
            w.write(name, G[grid.local_slices], grid.local_start)
        w.write("lat_bnds", np.repeat(G[grid.local_slices][..., None], 4, axis=2),
                grid.local_start + (0,))
    comm.Barrier()
    with netCDF4.Dataset(path) as f:
        seen = (sorted(f.dimensions), {k: len(d) for k, d in f.dimensions.items()},
                sorted(f.variables), f["crs"].dimensions, f["crs"].ncattrs(),
                float(f["crs"].grid_north_pole_latitude), f["lat"].ncattrs(),
                f["lat_bnds"].ncattrs(), bool(np.isnan(f["v"]._FillValue)),
                np.array_equal(f["lat"][...], G), np.array_equal(f["v"][...], G),
                f["lat_bnds"].dimensions)
    want = (["nv", "x", "y"], {"y": 6, "x": 5, "nv": 4},
            ["crs", "lat", "lat_bnds", "v", "x"], (), ["grid_mapping_name",
                                                       "grid_north_pole_latitude"],
            39.25, ["units"], [], True, True, True, ("y", "x", "nv"))
    assert_all(seen == want, f"netCDF4 read {seen}", comm)


# -- failures: agreed on every rank, never a hang, no temporary --------------------------
def test_temporary_is_named_after_rank_0s_host_and_pid(comm, shared_dir):
    """A later run can tell a killed writer's temporary from a live one by its name."""
    path = f"{shared_dir}/out.nc"
    pid0 = comm.bcast(os.getpid(), root=0)
    with NCWriter(path, comm=comm):
        names = sorted(os.listdir(shared_dir))
    pattern = rf"\.out\.nc\.tmp-[A-Za-z0-9._]+-{pid0}-[0-9a-f]{{8}}"
    assert_all(len(names) == 1 and re.fullmatch(pattern, names[0]) is not None,
               f"temporary {names} is not .out.nc.tmp-HOST-PID-TOKEN", comm)
    assert_all(sorted(os.listdir(shared_dir)) == ["out.nc"], "temporary left", comm)


@pytest.mark.parametrize("error, code", [
    (OSError(errno.ENOSPC, "No space left on device"), errno.ENOSPC),
    (RuntimeError("Can't write data (file write failed: errno = 122, error message = "
                  "'Disk quota exceeded')"), errno.EDQUOT),
], ids=["os-error", "hdf5-message"])
def test_failure_on_one_rank_is_raised_on_every_rank(comm, shared_dir, error, code):
    path = f"{shared_dir}/out.nc"
    last = comm.Get_size() - 1
    tmp = comm.bcast(temporary_name(path), root=0)      # the same name on every rank
    staged = StagedFile(path, tmp, comm, parallel_io(comm))

    def fail_on_last():
        if comm.Get_rank() == last:
            raise error
    with pytest.raises(OSError) as info:
        staged.step(fail_on_last)
    got = info.value
    assert_all(got.errno == code and got.filename == path and os.strerror(code) in str(got),
               f"raised {got!r}", comm)
    comm.Barrier()
    assert_all(os.listdir(shared_dir) == [], f"left {os.listdir(shared_dir)}", comm)


def test_exception_on_one_rank_inside_the_writer_ends_every_rank(comm, shared_dir):
    """One rank raises its own exception while the others go on writing: every rank
    leaves with an exception naming it, and the temporary is deleted."""
    path = f"{shared_dir}/out.nc"
    last = comm.Get_size() - 1
    with pytest.raises((KeyError, RuntimeError)) as info:
        with NCWriter(path, comm=comm) as w:
            w.dimension("x", np.arange(4.0 * comm.Get_size()))
            w.variable("v", ("x",), prefill=False)
            if comm.Get_rank() == last:
                raise KeyError("only on the last rank")
            w.write("v", np.ones(4), (4 * comm.Get_rank(),))
    text = str(info.value)
    ok = (isinstance(info.value, KeyError) if comm.Get_rank() == last else
          f"rank {last} raised KeyError" in text and "only on the last rank" in text)
    assert_all(ok, f"raised {info.value!r}", comm)
    comm.Barrier()
    assert_all(os.listdir(shared_dir) == [], f"left {os.listdir(shared_dir)}", comm)
