"""``ck.open_dataset(path)[name].read(grid)`` against the reads a user would write instead.

    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 \\
           OMPI_MCA_rmaps_base_oversubscribe=1 NUMBA_NUM_THREADS=1
    mpirun -n 2 .venv/bin/python benchmarks/read_api.py [--shape 64,721,1440]
        [--repeat 5] [--rounds 3] [--dir build/read_api] [--out FILE]

Two synthetic (time, lat, lon) files of ``--shape`` are written first (``float32``
with a land mask, and ``int16`` packed with ``scale_factor``/``add_offset`` and a
``_FillValue``), then each rank's block of a lat x lon decomposition (time kept whole)
is read, rounds interleaved against load drift, each sample the slowest rank:

``floor``       h5py ``read_direct`` of the block as stored into a preallocated buffer
                (collective MPI-IO on several ranks): no decoding, no allocation;
``clusterkit``  ``ds[name].read(grid)``: a new DistArray, read into its interior,
                decoded in place;
``by hand``     what the library offered before: ``grid.empty()`` then
                ``u.interior[...] = ds.read(name, grid.local_slices)`` (a decoded copy);
``xarray``      every rank ``xr.open_dataset(path)[name][block].values`` (independent
                reads through netCDF4, decoded by xarray).

The decoded blocks of the last three are checked equal. Reported per file and case: median seconds, the ratio to the floor, and the peak of
NumPy allocations during one read (``tracemalloc``, slowest rank) over the block's
decoded size. The files come from the page cache (written just before; caches are not
dropped on a shared machine). JSON to ``--out`` (default
``bench-results/read_api-n<ranks>.json``).
"""

import argparse
import os
import shutil
import statistics
import tracemalloc

import h5py
import numpy as np

import clusterkit as ck
from clusterkit.bench.record import machine, time_slowest, write_json
from clusterkit.comm import MPI
from clusterkit.io.synth import make_dataset

CASES = ("floor", "clusterkit", "by hand", "xarray")


def _readers(path, grid, comm):
    """``{case: callable}`` reading this rank's block of ``tas`` from ``path``."""
    ds = ck.open_dataset(path, comm=comm)
    var = ds["tas"]
    h5 = ds.file["tas"]
    raw = np.empty(grid.local_shape, h5.dtype)
    sel = tuple(grid.local_slices)

    def floor():
        if ds.parallel:
            with h5.collective:
                h5.read_direct(raw, sel)
        else:
            h5.read_direct(raw, sel)

    def by_hand():
        u = grid.empty(var.dtype)
        u.interior[...] = ds.read("tas", sel)
        return u

    readers = {"floor": floor, "clusterkit": lambda: var.read(grid), "by hand": by_hand}
    try:
        import xarray as xr
        handle = xr.open_dataset(path)   # opened once per rank, as a user would

        def with_xarray():
            return handle["tas"][sel].values
        readers["xarray"] = with_xarray
    except ImportError:
        handle = None
    return ds, handle, readers


def _peak(fn, comm):
    """Peak NumPy allocation during one call of ``fn`` (bytes), slowest rank."""
    tracemalloc.start()
    tracemalloc.reset_peak()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return comm.allreduce(peak, op=MPI.MAX)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--shape", default="64,721,1440")
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--dir", default="build/read_api")
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    comm = ck.world()
    shape = tuple(int(n) for n in args.shape.split(","))
    folder = os.path.join(args.dir, f"run-{comm.bcast(os.getpid(), root=0)}")
    if comm.Get_rank() == 0:
        os.makedirs(folder, exist_ok=True)
    comm.Barrier()
    files = {"float32": os.path.join(folder, "f32.nc"),
             "int16 packed": os.path.join(folder, "i16.nc")}
    try:
        make_dataset(files["float32"], shape, land_mask=True, comm=comm)
        make_dataset(files["int16 packed"], shape, packed=True, comm=comm)
        grid = ck.Grid(shape, keep=(0,), comm=comm)
        block_bytes = comm.allreduce(int(np.prod(grid.local_shape)), op=MPI.MAX)
        results = {}
        for label, path in files.items():
            ds, handle, readers = _readers(path, grid, comm)
            itemsize = ds["tas"].dtype.itemsize
            samples = {case: [] for case in readers}
            for _ in range(args.rounds):
                for case, fn in readers.items():
                    samples[case] += time_slowest(fn, args.repeat, warmup=1, comm=comm)
            got = readers["clusterkit"]().interior
            want = [readers["by hand"]().interior] + (
                [readers["xarray"]()] if "xarray" in readers else [])
            if not all(np.array_equal(got, w, equal_nan=True) for w in want):
                raise RuntimeError(f"{label}: the readers disagree on the data")
            floor = statistics.median(samples["floor"])
            results[label] = {
                case: {"median_s": statistics.median(s), "samples_s": s,
                       "x_floor": statistics.median(s) / floor,
                       "peak_alloc_over_block": _peak(readers[case], comm)
                       / (block_bytes * itemsize)}
                for case, s in samples.items()}
            ds.close()
            if handle is not None:
                handle.close()
    finally:
        comm.Barrier()
        if comm.Get_rank() == 0:
            shutil.rmtree(folder, ignore_errors=True)
    if comm.Get_rank() == 0:
        print(f"read_api, {comm.Get_size()} rank(s), shape {shape}, block "
              f"{grid.local_shape} per rank; medians of {args.rounds} x {args.repeat}")
        print(f"{'file':14s}{'case':12s}{'median s':>10s}{'x floor':>9s}{'peak/block':>12s}")
        for label, cases in results.items():
            for case, r in cases.items():
                print(f"{label:14s}{case:12s}{r['median_s']:10.4f}{r['x_floor']:9.2f}"
                      f"{r['peak_alloc_over_block']:12.2f}")
        out = args.out or f"bench-results/read_api-n{comm.Get_size()}.json"
        write_json(out, {"benchmark": "read_api", "shape": shape,
                         "load_average": os.getloadavg(), "machine": machine(comm),
                         "results": results})
        print(f"wrote {out}")
    else:
        machine(comm)


if __name__ == "__main__":
    main()
