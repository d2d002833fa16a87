"""MPI tests of ``ck.open_dataset`` on several files: a list (out of order, each file's
time in its own units) or a glob reads the same blocks as the one file they were split
from, and xarray's joining of the files, for time windows that span files, with time
whole or split over the ranks; files that are not one series are the same InputError on
every rank."""

import os

import pytest

import clusterkit as ck
from clusterkit.testing import assert_all, assert_equal_all
from clusterkit.testing import assert_input_error_everywhere as refused

from test_multifile import copy_nc, joined, shuffled, split

pytestmark = pytest.mark.mpi

NT, NY, NX = 23, 7, 11
STARTS = [0, 5, 6, 14]          # four files; the second holds one step
WINDOWS = [None, slice(3, 17), slice(5, 6), slice(13, 15)]


@pytest.fixture(params=["float-land", "packed-noleap"])
def files(request, comm, shared_dir):
    """``(source, parts)``: a (time, lat, lon) file and its series as four files."""
    src = os.path.join(shared_dir, "src.nc")
    folder = os.path.join(shared_dir, "parts")
    if comm.Get_rank() == 0:
        from clusterkit.comm import MPI
        from clusterkit.io.synth import make_dataset
        packed = request.param == "packed-noleap"
        make_dataset(src, (NT, NY, NX), calendar="noleap" if packed else "standard",
                     land_mask=True, packed=packed, descending_lat=not packed,
                     step_days=9, comm=MPI.COMM_SELF)
        split(src, folder, STARTS)
    comm.Barrier()
    return src, [os.path.join(folder, f"part-{len(STARTS) - 1 - i:02d}.nc")
                 for i in range(len(STARTS))]


def _grids(comm):
    n = comm.Get_size()
    return [dict(keep=(0,)), dict(dims=(n, 1, 1), allow_empty=True), dict(dims=(1, 1, n))]


def test_a_list_and_a_glob_read_what_the_one_file_holds(comm, files):
    src, parts = files
    ref = joined(parts)["tas"].values
    folder = os.path.dirname(parts[0])
    with ck.open_dataset(src, comm=comm) as one:
        want = one["tas"]
        for given in (shuffled(parts), os.path.join(folder, "part-*.nc")):
            with ck.open_dataset(given, comm=comm) as ds:
                var = ds["tas"]
                assert_all((var.dims, var.shape, var.dtype, var.raw_dtype, var.attrs) ==
                           (want.dims, want.shape, want.dtype, want.raw_dtype, want.attrs),
                           f"{var!r} vs {want!r}", comm)
                assert_equal_all(ds.coordinate("time"), one.coordinate("time"), comm)
                assert_all(list(var.coords["time"]) == list(want.coords["time"]),
                           "decoded time", comm)
                for kw in _grids(comm):
                    for window in WINDOWS:
                        steps = NT if window is None else window.stop - window.start
                        grid = ck.Grid((steps, NY, NX), comm=comm, **kw)
                        got = var.read(grid, time=window)
                        assert_equal_all(got.interior, want.read(grid, time=window).interior,
                                         comm, err_msg=f"{kw} {window}")
                        block = ref[window or slice(None)][grid.local_slices]
                        assert_equal_all(got.interior, block.astype(got.dtype), comm)
                        assert_all(list(got.coords["time"]) == list(
                            want.coords["time"][window or slice(None)]), "window time", comm)


def test_raw_chunks_across_files_are_the_one_files(comm, files):
    """``chunk_reader`` (what climate-stats streams through) and raw ``read`` over a time
    range that straddles files, with a reused buffer."""
    src, parts = files
    with ck.open_dataset(src, comm=comm) as one, ck.open_dataset(parts, comm=comm) as ds:
        decode, read = ds.chunk_reader("tas", 12 * NY * NX)
        decode1, read1 = one.chunk_reader("tas", 12 * NY * NX)
        assert_all(decode == decode1, f"{decode} vs {decode1}", comm)
        for t0 in range(0, NT, 12):
            sel = (slice(t0, min(NT, t0 + 12)), slice(None), slice(None))
            assert_equal_all(read(sel), read1(sel), comm)
        sel = (slice(2, 20, 3), slice(1, 6), slice(None))
        assert_equal_all(ds.read("tas", sel, decode=False), one.read("tas", sel, decode=False),
                         comm)
        assert_equal_all(ds.read("time", (slice(4, 9),)), one.read("time", (slice(4, 9),)),
                         comm)


def test_files_that_are_not_one_series_are_refused_on_every_rank(comm, files, shared_dir):
    src, parts = files
    overlap = os.path.join(shared_dir, "overlap.nc")
    if comm.Get_rank() == 0:
        copy_nc(src, overlap, slice(4, 6))
    comm.Barrier()
    refused(comm, lambda: ck.open_dataset(parts + [overlap], comm=comm),
            f"input files '{parts[0]}' and '{overlap}' overlap in time")
    refused(comm, lambda: ck.open_dataset(os.path.join(shared_dir, "none-*.nc"), comm=comm),
            "matches no file")
    refused(comm, lambda: ck.open_dataset([], comm=comm), "no input file given")
    with ck.open_dataset(parts, comm=comm) as ds:
        refused(comm, lambda: ds["tsa"], f"variable 'tsa' not found in '{parts[0]}'")
        grid = ck.Grid((3, NY, NX), comm=comm)
        refused(comm, lambda: ds["tas"].read(grid, time=slice(22, 25)), "does not match")


def test_collective_reads_pair_up_when_ranks_read_different_files(comm, files):
    """Files opened for parallel HDF5 (``open_dataset`` opens several files for
    independent reads): ranks whose time blocks lie in different files still take part
    in every file's collective read, so none waits forever (a hang fails on the timeout)."""
    from clusterkit.io.dataset import Dataset
    from clusterkit.io.multifile import MultiFileDataset
    src, parts = files
    with ck.open_dataset(src, comm=comm) as one, \
            MultiFileDataset(shuffled(parts), comm, open_file=Dataset) as ds:
        var, want = ds["tas"], one["tas"]
        for kw in _grids(comm):
            for window in WINDOWS:
                steps = NT if window is None else window.stop - window.start
                grid = ck.Grid((steps, NY, NX), comm=comm, **kw)
                assert_equal_all(var.read(grid, time=window).interior,
                                 want.read(grid, time=window).interior, comm)


def test_write_netcdf_never_writes_over_any_input_of_a_series(comm, files):
    """``like=`` a series: every one of its files counts as an input, not only the first."""
    src, parts = files
    with ck.open_dataset(parts, comm=comm) as ds:
        u = ds["tas"].read(ck.Grid(ds["tas"].shape, comm=comm, keep=(0,)))
        later = ds.paths[-1]                  # not the first file (ds.path)
        assert_all(later != ds.path, "a later file", comm)
        before = os.stat(later).st_mtime_ns
        refused(comm, lambda: ck.write_netcdf(later, {"tas": u}, like=ds, overwrite=True),
                "is the same file as")
    assert_all(os.stat(later).st_mtime_ns == before, "input untouched", comm)
