"""Checkpoint write/restore time and bandwidth vs the raw write bandwidth of the same file system.

    mpirun -n N python benchmarks/checkpoint.py [--k 4] [--repeat 5] [--dir DIR] [--out JSON]

State: one float64 DistArray of shape 721 x 1440 x K (split over the ranks
along lat/lon). Measured as the slowest rank sees it (Barrier, Wtime, max):

- ``save``: :meth:`Checkpointer.save` (checksum, collective mpio write,
  fsync, rename);
- ``restore``: :meth:`Checkpointer.restore` (inspect, collective read,
  checksum verification) - the file is likely in the page cache;
- ``checksum``: :func:`global_checksum` alone;
- ``raw_write``: the baseline - every rank writes its block's bytes with
  ``numpy.ndarray.tofile`` to its own file in the same directory and
  ``fsync``-s it (same byte count as one checkpoint).

Bandwidths are state bytes / median seconds. JSON goes to
``bench-results/checkpoint-n<N>.json`` by default.
"""

import argparse
import os
import shutil
import sys

import numpy as np

from clusterkit.bench.record import machine, summary, time_slowest, write_json
from clusterkit.comm import world
from clusterkit.grid import Grid
from clusterkit.io.checkpoint import Checkpointer, global_checksum


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("--k", type=int, default=4, help="third dimension K (default 4)")
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--dir", default="build/bench-checkpoint")
    p.add_argument("--out")
    args = p.parse_args(argv)
    comm = world()
    n = comm.Get_size()
    folder = os.path.abspath(os.path.join(args.dir, f"n{n}"))
    if comm.Get_rank() == 0:
        shutil.rmtree(folder, ignore_errors=True)
        os.makedirs(folder)
    comm.Barrier()
    shape = (721, 1440, args.k)
    grid = Grid(shape, keep=(2,), comm=comm)
    u = grid.zeros()
    u.interior[...] = np.random.default_rng(grid.rank).normal(size=grid.local_shape)
    nbytes = float(np.prod(shape) * 8)
    ck = Checkpointer(folder, comm=comm, keep=2, job="bench")
    step = iter(range(1, 10 ** 6))
    target = grid.zeros()

    def raw():
        path = os.path.join(folder, f"raw-{grid.rank}.bin")
        block = np.ascontiguousarray(u.interior)
        with open(path, "wb") as f:
            block.tofile(f)
            f.flush()
            os.fsync(f.fileno())

    results = {}
    for name, fn in (("raw_write", raw),
                     ("save", lambda: ck.save(next(step), {"u": u})),
                     ("restore", lambda: ck.restore({"u": target})),
                     ("checksum", lambda: global_checksum(u.interior, grid.local_start, shape,
                                                          comm))):
        s = summary(time_slowest(fn, repeat=args.repeat, warmup=1, comm=comm))
        s["bandwidth_MBps"] = nbytes / s["median"] / 1e6
        results[name] = s
    ok = np.array_equal(target.interior, u.interior)
    if comm.Get_rank() == 0:
        record = {"benchmark": "checkpoint", "shape": shape, "bytes": nbytes,
                  "process_grid": grid.dims, "directory": folder, "restored_equal": ok,
                  "results": results, "machine": machine(comm)}
        out = args.out or f"bench-results/checkpoint-n{n}.json"
        write_json(out, record)
        for name, s in results.items():
            print(f"n={n} {name:9s} median {s['median'] * 1e3:8.1f} ms  "
                  f"{s['bandwidth_MBps']:8.1f} MB/s  (IQR {s['q1'] * 1e3:.1f}-"
                  f"{s['q3'] * 1e3:.1f} ms, {s['n']} samples)")
        print(f"wrote {out}")
        shutil.rmtree(folder, ignore_errors=True)
    else:
        machine(comm)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
