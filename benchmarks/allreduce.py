"""Allreduce of 8 bytes through clusterkit vs raw mpi4py, measured in the same run.

    mpirun -n 2 python benchmarks/allreduce.py [--out FILE]

Compared: raw mpi4py buffer ``Allreduce`` on 1-element NumPy arrays (the
baseline), raw pickled ``allreduce``, clusterkit's ``allreduce_scalar`` and
the full-array ``DistArray.sum`` (exact, grid-independent) of a 1-cell-per-rank
array. Each sample times ``--inner`` calls; medians of the slowest rank.
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
    info = machine(comm)  # collective: every rank
    if comm.Get_rank() == 0:
        write_json(args.out, {"benchmark": "allreduce_8B", "machine": info,
                              "inner": args.inner, "results": results})
        rprint(f"wrote {args.out}", comm=comm)
    return 0


if __name__ == "__main__":
    sys.exit(main())
