"""Allreduce through clusterkit vs raw mpi4py, of 8 bytes and vs message size, in one run.

    mpirun -n 2 python benchmarks/allreduce.py [--sizes 1,16,256,4096,65536,1048576]
        [--out FILE]

8 bytes: raw mpi4py buffer ``Allreduce`` on 1-element NumPy arrays (the
baseline), raw pickled ``allreduce``, clusterkit's ``allreduce_scalar`` and the
full-array ``DistArray.sum`` (exact, grid-independent) of a 1-cell-per-rank array.
Small arrays (the fixed cost per call that iterative solvers pay every step): the
raw ``Allreduce`` of the exact sum's 71-word int64 accumulator (the one message
``sum``/``mean`` send) and ``sum``, ``mean``, ``min``, ``var`` of 1 and 1000 cells
per rank.

By size (``--sizes``, float64 counts: 8 B to 8 MiB): raw mpi4py ``Allreduce`` of S
doubles (baseline) vs clusterkit's partial reduction ``DistArray.sum(axis=0)`` of
an ``(N ranks, S)`` array split along axis 0 — the local sum, then one
``Allreduce`` of S doubles on the reducing group — so the ratio is the library's
overhead on top of the collective at that size. Each sample times ``--inner``
calls (fewer for large sizes); medians of the slowest rank; cases interleaved.
"""

import argparse
import sys

import numpy as np

from clusterkit.bench.record import machine, summary, time_slowest, write_json
from clusterkit.collectives import allreduce_scalar
from clusterkit.comm import MPI, world
from clusterkit.grid import Grid
from clusterkit.log import rprint


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repeat", type=int, default=21)
    p.add_argument("--inner", type=int, default=2000)
    p.add_argument("--sizes", default="1,16,256,4096,65536,1048576",
                   help="float64 counts for the size sweep")
    p.add_argument("--out", default="bench-results/allreduce.json")
    args = p.parse_args(argv)
    comm = world()
    sbuf, rbuf = np.ones(1), np.empty(1)
    u = Grid((comm.Get_size(),), comm=comm).full(1.0)
    cases = {
        "mpi4py Allreduce (buffer, baseline)": lambda: comm.Allreduce(sbuf, rbuf, op=MPI.SUM),
        "mpi4py allreduce (pickle)": lambda: comm.allreduce(1.0, op=MPI.SUM),
        "clusterkit allreduce_scalar": lambda: allreduce_scalar(1.0, MPI.SUM, comm),
        "clusterkit DistArray.sum (exact)": u.sum,
        **_small_cases(comm),
    }
    results = {}
    # interleave the cases over rounds so drift in machine load hits all of them alike
    samples = {k: [] for k in cases}
    for _ in range(args.repeat):
        for name, fn in cases.items():
            samples[name] += time_slowest(fn, 1, warmup=1, comm=comm, inner=args.inner)
    base = summary(samples["mpi4py Allreduce (buffer, baseline)"])["median"]
    for name in cases:
        s = summary(samples[name])
        results[name] = {**s, "ratio_to_baseline": s["median"] / base}
        rprint(f"{name:40s} {s['median'] * 1e6:8.2f} us  ({s['median'] / base:5.2f}x)",
               comm=comm)
    by_size = _size_sweep(comm, [int(v) for v in args.sizes.split(",")], args.repeat)
    info = machine(comm)  # collective: every rank
    if comm.Get_rank() == 0:
        write_json(args.out, {"benchmark": "allreduce", "machine": info,
                              "inner": args.inner, "results": results, "by_size": by_size})
        rprint(f"wrote {args.out}", comm=comm)
    return 0


def _small_cases(comm):
    """Full reductions of 1 and 1000 cells per rank, and the raw ``Allreduce`` of the
    exact sum's accumulator that ``sum``/``mean`` make."""
    from clusterkit.kernels import local_sum_exact
    acc = local_sum_exact(np.ones(1))
    total = np.empty_like(acc)
    cases = {f"mpi4py Allreduce ({acc.size} int64 accumulator)":
             lambda: comm.Allreduce(acc, total, op=MPI.SUM)}
    for cells in (1, 1000):
        a = Grid((comm.Get_size() * cells,), comm=comm).full(1.0)
        for what in ("sum", "mean", "min", "var"):
            cases[f"DistArray.{what} ({cells} cells/rank)"] = getattr(a, what)
    return cases


def _size_sweep(comm, sizes, repeat):
    """Raw ``Allreduce`` of S doubles vs ``DistArray.sum(axis=0)`` reducing S columns."""
    n = comm.Get_size()
    rows = []
    for size in sizes:
        sbuf, rbuf = np.ones(size), np.empty(size)
        a = Grid((n, size), dims=(n, 1), comm=comm).full(1.0)
        inner = max(3, min(1000, 2 ** 22 // (size * 8)))
        cases = {"mpi4py": lambda: comm.Allreduce(sbuf, rbuf, op=MPI.SUM),
                 "clusterkit": lambda: a.sum(axis=0)}
        samples = {k: [] for k in cases}
        for _ in range(repeat):
            for name, fn in cases.items():
                samples[name] += time_slowest(fn, 1, warmup=1, comm=comm, inner=inner)
        med = {k: summary(v)["median"] for k, v in samples.items()}
        rows.append({"doubles": size, "bytes": size * 8, "inner": inner,
                     "mpi4py": summary(samples["mpi4py"]),
                     "clusterkit": summary(samples["clusterkit"]),
                     "ratio": med["clusterkit"] / med["mpi4py"],
                     "mpi4py_GBs": size * 8 / med["mpi4py"] / 1e9})
        rprint(f"{size * 8:>10d} B  mpi4py Allreduce {med['mpi4py'] * 1e6:9.2f} us  "
               f"clusterkit sum(axis=0) {med['clusterkit'] * 1e6:9.2f} us  "
               f"({med['clusterkit'] / med['mpi4py']:5.2f}x)", comm=comm)
    return rows


if __name__ == "__main__":
    sys.exit(main())
