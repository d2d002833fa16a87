"""MPI tests of reading a variable stored in any order of its dimensions: ``ck.open_dataset``
keeps the file's order (as xarray); ``Variable.transpose`` and the reordered view
(clusterkit.io.reorder, what climate-stats reads through) give the canonical file's blocks
to the bit, for whole reads, time windows and raw chunks, from one file or from a series
of files whose time axis is not first."""

import os

import pytest

import clusterkit as ck
from clusterkit.io.reorder import reordered
from clusterkit.testing import assert_all, assert_equal_all
from clusterkit.testing import assert_input_error_everywhere as refused

from ncfiles import write_transposed

pytestmark = pytest.mark.mpi

NT, NZ, NY, NX = 19, 3, 7, 11          # primes: blocks of every size at 1-4 ranks
CANONICAL = ("time", "plev", "lat", "lon")
ORDERS = [("lon", "plev", "time", "lat"), ("time", "lat", "plev", "lon"),
          ("lat", "lon", "plev", "time")]
WINDOWS = [None, slice(3, 14), slice(5, 6)]
STARTS = [0, 5, 6, 13]                 # a series of four files; the second holds one step


@pytest.fixture(params=["float-land", "packed"])
def files(request, comm, shared_dir):
    """``(canonical file, {order: the same data stored in order}, {order: series})``."""
    src = os.path.join(shared_dir, "src.nc")
    stored = {o: os.path.join(shared_dir, f"{'-'.join(o)}.nc") for o in ORDERS}
    series = {o: [os.path.join(shared_dir, "-".join(o), f"part-{i:02d}.nc")
                  for i in range(len(STARTS))] for o in ORDERS}
    if comm.Get_rank() == 0:
        from clusterkit.comm import MPI
        from clusterkit.io.synth import make_dataset
        from test_multifile import split
        packed = request.param == "packed"
        make_dataset(src, (NT, NY, NX), levels=NZ, land_mask=True, packed=packed,
                     descending_lat=not packed, calendar="noleap" if packed else "standard",
                     step_days=11, comm=MPI.COMM_SELF)
        parts = split(src, os.path.join(shared_dir, "canonical"), STARTS)
        for o in ORDERS:
            write_transposed(src, stored[o], o)
            os.makedirs(os.path.dirname(series[o][0]))
            for p, q in zip(parts, series[o]):
                write_transposed(p, q, o)
    comm.Barrier()
    return src, stored, series


def _grids(comm):
    """Grids of the canonical shape: time whole, time split, levels split."""
    n = comm.Get_size()
    return [dict(keep=(0,)), dict(dims=(n, 1, 1, 1), allow_empty=True),
            dict(dims=(1, n, 1, 1), allow_empty=True)]


def _window_shape(shape, axis, window):
    return tuple(window.stop - window.start if i == axis and window else s
                 for i, s in enumerate(shape))


def test_transpose_reads_the_canonical_files_blocks(comm, files):
    src, stored, series = files
    with ck.open_dataset(src, comm=comm) as one:
        want = one["tas"]
        for order in ORDERS:
            for given in (stored[order], series[order]):
                with ck.open_dataset(given, comm=comm) as ds:
                    assert_all(ds["tas"].dims == order, f"{ds['tas']!r}", comm)  # as stored
                    var = ds["tas"].transpose(*CANONICAL)
                    assert_all((var.dims, var.shape, var.dtype) ==
                               (want.dims, want.shape, want.dtype), f"{var!r}", comm)
                    again = var.transpose(*order).transpose(*CANONICAL)
                    for kw in _grids(comm):
                        for window in WINDOWS:
                            grid = ck.Grid(_window_shape(want.shape, 0, window), comm=comm,
                                           **kw)
                            w = want.read(grid, time=window)
                            for v in (var, again):
                                got = v.read(grid, time=window)
                                assert_equal_all(got.interior, w.interior, comm,
                                                 err_msg=f"{order} {kw} {window}")
                                assert_all(list(got.coords["time"]) == list(w.coords["time"]),
                                           "time coordinate", comm)
                    refused(comm, lambda: ds["tas"].transpose("time", "lat", "lon"),
                            "give every dimension of variable 'tas' once")


def test_reordered_chunks_are_the_canonical_files_chunks(comm, files):
    """What climate-stats streams: ``chunk_reader`` (raw values for the kernel to decode,
    one reused buffer) and ``read`` through the view, time ranges straddling files."""
    src, stored, series = files
    n = comm.Get_size()
    grid = ck.Grid((NT, NZ, NY, NX), comm=comm, dims=(1, 1, n, 1), allow_empty=True)
    sel = grid.local_slices
    with ck.open_dataset(src, comm=comm) as one:
        decode1, read1 = one.chunk_reader("tas", 4 * NZ * NY * NX)
        chunks = [read1((slice(t0, min(NT, t0 + 4)),) + tuple(sel[1:])).copy()
                  for t0 in range(0, NT, 4)]
        odd = (slice(2, 17, 3), slice(0, 3, 2), sel[2], slice(1, 10))
        raw = one.read("tas", odd, decode=False)
        decoded = one.read("tas", odd)
        times = one.read("time", (slice(4, 9),))
    for order in ORDERS:
        for given in (stored[order], series[order]):
            with ck.open_dataset(given, comm=comm) as opened:
                ds = reordered(opened, "tas", [order.index(d) for d in CANONICAL])
                assert_all(ds.dims("tas") == CANONICAL and
                           ds.shape("tas") == (NT, NZ, NY, NX), f"{ds.dims('tas')}", comm)
                decode, read = ds.chunk_reader("tas", 4 * NZ * NY * NX)
                assert_all(decode == decode1, f"{decode} vs {decode1}", comm)
                for t0, want in zip(range(0, NT, 4), chunks):
                    got = read((slice(t0, min(NT, t0 + 4)),) + tuple(sel[1:]))
                    assert_all(got.flags.c_contiguous, "C-contiguous", comm)
                    assert_equal_all(got, want, comm, err_msg=f"{order} {t0}")
                assert_equal_all(ds.read("tas", odd, decode=False), raw, comm)
                assert_equal_all(ds.read("tas", odd), decoded, comm)
                assert_equal_all(ds.read("time", (slice(4, 9),)), times, comm)
