"""Parallel HDF5 read/write bandwidth (mpio driver) vs file size, against same-run baselines.

    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 \\
           OMPI_MCA_rmaps_base_oversubscribe=1 NUMBA_NUM_THREADS=1
    mpirun -q -n 2 .venv/bin/python benchmarks/hdf5_bandwidth.py \\
        [--sizes 16,64,256,1024] [--repeat 3] [--dir build/hdf5_bandwidth] [--out FILE]

Run on N ranks, every case is measured on 1 rank (rank 0 alone, the others wait) and
on all N ranks (``--ranks`` chooses). A case is one dataset of a given total size
(MiB), dtype (float32/float64), rank (2-D ``(rows, 4096)`` split over rows: each
rank's hyperslab is one contiguous stretch of the file; 3-D ``(t, 256, 256)`` split
over the middle axis: strided hyperslabs, the climate-grid case), layout (contiguous
or ~1 MiB chunks) and transfer (collective or independent MPI-IO), through

``h5py``        raw h5py: ``File(driver="mpio")``, ``create_dataset`` (chunked:
                ``fill_time="never"``), ``write_direct``/``read_direct`` into
                preallocated buffers, with ``dset.collective`` for collective transfers;
``clusterkit``  the library's I/O layer: ``NCWriter`` (dimensions with coordinate
                variables, ``variable``, ``write``, ``close`` = rename) and
                ``Dataset.read(decode=False, out=buffer)``: collective on N > 1 ranks,
                serial h5py on 1 rank (what the library does).

Times are the slowest rank's (Barrier, Wtime, max over ranks), median over
``--repeat`` samples. A write counts everything from opening the file to ``close``
plus an ``fsync`` of the finished file (``write_GBs``); ``write_cache_GBs`` stops at
``close`` (data in the page cache, not yet on the device). Reads follow the write of
the same file, so unless the file exceeds RAM they come from the page cache: they
are page-cache (memory-copy + HDF5/MPI-IO) bandwidth, not device bandwidth. Caches
are not dropped (a shared machine). Baselines of the same run, by ONE process on the
same bytes: ``ndarray.tofile`` + fsync and ``readinto`` a preallocated buffer (plain
POSIX I/O); and the memory ceiling, STREAM copy (``np.copyto``, 16 B/element) and
triad (``clusterkit.kernels.stream.unchecked()``, 24 B/element) on 1 and N ranks.
Sizes beyond a quarter of the free disk or of the available RAM are skipped (noted
in the JSON). The temporary files live in a fresh directory under ``--dir``
(default ``build/hdf5_bandwidth`` in the repository), removed at the end, also on
an error or an abort. Writes ``bench-results/hdf5_bandwidth.json``.
"""

import argparse
import os
import shutil
import statistics
import sys
import tempfile

import h5py
import numpy as np

from clusterkit.bench.record import machine, summary, time_slowest, write_json
from clusterkit.comm import MPI, world
from clusterkit.io.checkpoint import fsync_path
from clusterkit.io.dataset import Dataset
from clusterkit.io.ncwrite import NCWriter
from clusterkit.kernels.stream import unchecked as unchecked_triad
from clusterkit.log import rprint
from clusterkit.runtime import on_abort, run_job

__all__ = ["main", "case_shape", "local_selection", "chunk_shape"]

_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MiB = 1 << 20


def case_shape(nbytes, itemsize, ndim):
    """Global shape of a dataset of about ``nbytes``: 2-D ``(rows, 4096)``, 3-D
    ``(t, 256, 256)``."""
    n = max(1, nbytes // itemsize)
    if ndim == 2:
        return (max(2, n // 4096), 4096)
    if ndim == 3:
        return (max(1, n // 65536), 256, 256)
    raise ValueError(f"ndim must be 2 or 3, got {ndim}")


def local_selection(shape, rank, size):
    """This rank's hyperslab: 2-D split over axis 0, 3-D over axis 1 (block distribution)."""
    axis = 0 if len(shape) == 2 else 1
    n = shape[axis]
    lo, hi = rank * n // size, (rank + 1) * n // size
    return tuple(slice(lo, hi) if a == axis else slice(0, m) for a, m in enumerate(shape))


def chunk_shape(shape, itemsize, ranks):
    """About 1 MiB chunks, whole along the last axis, not wider than one rank's part."""
    if len(shape) == 2:
        rows = max(1, min(MiB // (shape[1] * itemsize), shape[0] // ranks))
        return (rows, shape[1])
    rows = max(1, min(MiB // (shape[2] * itemsize), shape[1] // ranks))
    return (1, rows, shape[2])


def _gbs(nbytes, seconds):
    return nbytes / seconds / 1e9 if seconds > 0 else float("nan")


def _stat(nbytes, samples):
    s = summary(samples)
    return {"GBs": _gbs(nbytes, s["median"]), "s": s}


# -- one case on one communicator ------------------------------------------------------
def _h5py_case(comm, path, shape, dtype, layout, transfer, repeat):
    rank, size = comm.Get_rank(), comm.Get_size()
    sel = local_selection(shape, rank, size)
    block = np.full(tuple(s.stop - s.start for s in sel), rank + 1.0, dtype=dtype)
    buf = np.empty_like(block)
    chunks = chunk_shape(shape, dtype.itemsize, size) if layout == "chunked" else None
    extra = {"fill_time": "never"} if chunks else {}
    closed = []

    def write():
        with h5py.File(path, "w", driver="mpio", comm=comm) as f:
            d = f.create_dataset("v", shape=shape, dtype=dtype, chunks=chunks, **extra)
            if transfer == "collective":
                with d.collective:
                    d.write_direct(block, dest_sel=sel)
            else:
                d.write_direct(block, dest_sel=sel)
        closed.append(MPI.Wtime())
        comm.Barrier()
        if rank == 0:
            fsync_path(path)

    def read():
        with h5py.File(path, "r", driver="mpio", comm=comm) as f:
            d = f["v"]
            if transfer == "collective":
                with d.collective:
                    d.read_direct(buf, source_sel=sel)
            else:
                d.read_direct(buf, source_sel=sel)

    return _write_read(comm, write, read, closed, repeat, lambda: np.all(buf == block))


def _library_case(comm, path, shape, dtype, layout, repeat):
    rank, size = comm.Get_rank(), comm.Get_size()
    sel = local_selection(shape, rank, size)
    block = np.full(tuple(s.stop - s.start for s in sel), rank + 1.0, dtype=dtype)
    buf = np.empty(block.size, dtype=dtype)
    chunks = chunk_shape(shape, dtype.itemsize, size) if layout == "chunked" else None
    dims = ("t", "y", "x")[-len(shape):]
    out = {}
    closed = []

    def write():
        with NCWriter(path, comm, overwrite=True) as w:
            for d, n in zip(dims, shape):
                w.dimension(d, np.arange(n, dtype="f8"))
            w.variable("v", dims, dtype=dtype, chunks=chunks, prefill=False)  # all written
            w.write("v", block, [s.start for s in sel])
        closed.append(MPI.Wtime())
        comm.Barrier()
        if rank == 0:
            fsync_path(path)

    def read():
        with Dataset(path, comm) as ds:
            out["v"] = ds.read("v", sel, decode=False, out=buf)

    return _write_read(comm, write, read, closed, repeat,
                       lambda: np.array_equal(out["v"], block))


def _write_read(comm, write, read, closed, repeat, check):
    """Alternate write and read samples (each read follows a fresh write of the file)."""
    w, wc, r = [], [], []
    for _ in range(repeat):
        comm.Barrier()
        t0 = MPI.Wtime()
        write()
        w.append(comm.allreduce(MPI.Wtime() - t0, op=MPI.MAX))
        wc.append(comm.allreduce(closed.pop() - t0, op=MPI.MAX))
        r += time_slowest(read, 1, warmup=0, comm=comm)
    if not comm.allreduce(bool(check()), op=MPI.LAND):
        raise RuntimeError("read back different data than written")
    return w, wc, r


# -- baselines ---------------------------------------------------------------------------
def _posix_baseline(path, nbytes, repeat):
    """One process: tofile + fsync, then readinto a preallocated buffer (same bytes)."""
    a = np.full(nbytes // 8, 1.0)
    buf = np.empty_like(a)
    w, r = [], []
    for _ in range(repeat):
        t0 = MPI.Wtime()
        with open(path, "wb") as f:
            a.tofile(f)
            f.flush()
            os.fsync(f.fileno())
        w.append(MPI.Wtime() - t0)
        t0 = MPI.Wtime()
        with open(path, "rb", buffering=0) as f:
            f.readinto(memoryview(buf).cast("B"))
        r.append(MPI.Wtime() - t0)
    os.unlink(path)
    if not np.array_equal(a, buf):
        raise RuntimeError("POSIX baseline read back different data")
    return {"write": _stat(a.nbytes, w), "read_page_cache": _stat(a.nbytes, r)}


def _stream(comm, n, repeat):
    """STREAM copy and triad on every rank of ``comm`` at once (slowest rank)."""
    a, b, c = np.zeros(n), np.full(n, 1.0), np.full(n, 2.0)
    s = np.float64(3.0)
    copy = time_slowest(lambda: np.copyto(a, b), repeat, comm=comm)
    kernel = unchecked_triad()
    triad = time_slowest(lambda: kernel(a, b, c, s), repeat, comm=comm)
    ranks = comm.Get_size()
    return {"n": n, "copy_GBs": _gbs(16 * n * ranks, statistics.median(copy)),
            "triad_GBs": _gbs(24 * n * ranks, statistics.median(triad))}


# -- driver ------------------------------------------------------------------------------
def _cases(sizes):
    """(size_MiB, dtype, ndim, layout, transfer, api): the size sweep in float64 2-D and
    3-D, other dtypes at one size."""
    mid = sizes[len(sizes) // 2]
    out = []
    for mib in sizes:
        for ndim in (2, 3):
            for layout in ("contiguous", "chunked"):
                for transfer in ("collective", "independent"):
                    out.append((mib, "f8", ndim, layout, transfer, "h5py"))
                out.append((mib, "f8", ndim, layout, "collective", "clusterkit"))
        if mib == mid:
            for ndim in (2, 3):
                for layout in ("contiguous", "chunked"):
                    out.append((mib, "f4", ndim, layout, "collective", "h5py"))
    return out


def _mem_available():
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def _parse_sizes(text):
    try:
        sizes = [float(s) for s in text.split(",") if s.strip()]
    except ValueError:
        sizes = []
    if not sizes or any(s <= 0 for s in sizes):
        raise ValueError(f"--sizes must be positive MiB numbers separated by commas, "
                         f"got {text!r}")
    return sizes


def main(argv=None, comm=None):
    """Run the benchmark; rank 0 prints a table and writes the JSON record."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", default="16,64,256,1024", help="total dataset sizes, MiB")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--ranks", default="1,all", help="communicator sizes: 1, all, or both")
    p.add_argument("--dir", default=os.path.join(_REPO, "build", "hdf5_bandwidth"),
                   help="where the temporary files go (a fresh subdirectory, removed)")
    p.add_argument("--stream-n", type=int, default=1 << 24,
                   help="STREAM elements per array per rank")
    p.add_argument("--out", default="bench-results/hdf5_bandwidth.json")
    args = p.parse_args(argv)
    sizes = _parse_sizes(args.sizes)
    if args.repeat < 1:
        raise ValueError(f"--repeat must be at least 1, got {args.repeat}")
    comm = comm or world()
    rank, nproc = comm.Get_rank(), comm.Get_size()
    if not h5py.get_config().mpi:
        raise ValueError("h5py is not built with MPI (parallel HDF5); this benchmark "
                         "needs the mpio driver")
    ranks_list = sorted({1 if r == "1" else nproc for r in args.ranks.split(",")})

    tmp = None
    if rank == 0:
        os.makedirs(args.dir, exist_ok=True)
        tmp = tempfile.mkdtemp(prefix="run-", dir=args.dir)
    tmp = comm.bcast(tmp, root=0)

    def cleanup():
        shutil.rmtree(tmp, ignore_errors=True)
    on_abort(cleanup)
    try:
        free_disk = shutil.disk_usage(tmp).free
        mem = comm.bcast(_mem_available(), root=0)
        limit = min(free_disk, mem) // 4
        kept = [s for s in sizes if s * MiB <= limit]
        skipped = [s for s in sizes if s * MiB > limit]
        rprint(f"HDF5 bandwidth: {nproc} rank(s); temporary files in {tmp}; free disk "
               f"{free_disk / 2**30:.1f} GiB, available RAM {mem / 2**30:.1f} GiB"
               + (f"; skipped sizes (MiB) {skipped}: over a quarter of either" if skipped
                  else ""), comm=comm)
        results = []
        for nranks in ranks_list:
            sub = comm.Split(0 if rank < nranks else MPI.UNDEFINED, rank)
            if sub != MPI.COMM_NULL:
                results += _run_cases(sub, kept, args.repeat, tmp, nproc)
                sub.Free()
            comm.Barrier()
        posix = {}
        for mib in kept:
            if rank == 0:
                posix[f"{mib:g}"] = _posix_baseline(os.path.join(tmp, "posix.bin"),
                                                  int(mib * MiB) // 8 * 8, args.repeat)
            comm.Barrier()
        stream = {}
        for nranks in ranks_list:
            sub = comm.Split(0 if rank < nranks else MPI.UNDEFINED, rank)
            if sub != MPI.COMM_NULL:
                stream[str(nranks)] = _stream(sub, args.stream_n, max(5, args.repeat))
                sub.Free()
            comm.Barrier()
    finally:
        cleanup()
    info = machine(comm)
    if rank == 0:
        _print(results, posix, stream)
        write_json(args.out, {
            "benchmark": "hdf5_bandwidth", "machine": info, "repeat": args.repeat,
            "sizes_MiB": kept, "skipped_sizes_MiB": skipped,
            "free_disk_bytes": free_disk, "mem_available_bytes": mem,
            "filesystem_dir": os.path.abspath(args.dir),
            "hdf5_version": h5py.version.hdf5_version,
            "measured": ("write_GBs: open..close + fsync of the file (device); "
                         "write_cache_GBs: open..close (page cache); read_GBs: a read "
                         "right after the write, from the page cache unless the file "
                         "exceeds RAM; slowest rank, median of repeats"),
            "results": results, "posix_one_process": posix, "stream": stream})
        rprint(f"wrote {args.out}", comm=comm)
    return 0


def _run_cases(comm, sizes, repeat, tmp, nproc):
    out = []
    for mib, dt, ndim, layout, transfer, api in _cases(sizes):
        dtype = np.dtype(dt)
        shape = case_shape(int(mib * MiB), dtype.itemsize, ndim)
        nbytes = int(np.prod(shape)) * dtype.itemsize
        path = os.path.join(tmp, f"case-{comm.Get_size()}.h5")
        if api == "h5py":
            w, wc, r = _h5py_case(comm, path, shape, dtype, layout, transfer, repeat)
        else:
            w, wc, r = _library_case(comm, path, shape, dtype, layout, repeat)
            transfer = "collective" if comm.Get_size() > 1 else "serial h5py"
        if comm.Get_rank() == 0:
            os.unlink(path)
        out.append({"ranks": comm.Get_size(), "api": api, "size_MiB": mib, "dtype": dt,
                    "shape": list(shape), "bytes": nbytes, "layout": layout,
                    "transfer": transfer,
                    "chunks": list(chunk_shape(shape, dtype.itemsize, comm.Get_size()))
                    if layout == "chunked" else None,
                    "write_GBs": _gbs(nbytes, statistics.median(w)),
                    "write_cache_GBs": _gbs(nbytes, statistics.median(wc)),
                    "read_GBs": _gbs(nbytes, statistics.median(r)),
                    "write_s": summary(w), "write_cache_s": summary(wc),
                    "read_s": summary(r)})
    return out


def _print(results, posix, stream):
    print(f"{'ranks':>5} {'api':<10} {'MiB':>6} {'dt':>3} {'nd':>2} {'layout':<10} "
          f"{'transfer':<11} {'write':>7} {'w-cache':>7} {'read':>7}   GB/s (slowest rank, "
          "median)")
    for x in results:
        print(f"{x['ranks']:>5} {x['api']:<10} {x['size_MiB']:>6g} {x['dtype']:>3} "
              f"{len(x['shape']):>2} {x['layout']:<10} {x['transfer']:<11} "
              f"{x['write_GBs']:7.2f} {x['write_cache_GBs']:7.2f} {x['read_GBs']:7.2f}")
    for mib, b in posix.items():
        print(f"POSIX, one process, {mib} MiB: tofile+fsync {b['write']['GBs']:.2f} GB/s, "
              f"readinto (page cache) {b['read_page_cache']['GBs']:.2f} GB/s")
    for n, s in stream.items():
        print(f"STREAM, {n} rank(s): copy {s['copy_GBs']:.2f} GB/s, triad "
              f"{s['triad_GBs']:.2f} GB/s (aggregate)")
    print("reads are from the page cache (files smaller than RAM, caches not dropped)")


if __name__ == "__main__":
    sys.exit(run_job(main))
