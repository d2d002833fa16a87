"""I/O floor for climate-stats: the same ranks just read the variable, same blocks and chunks.

    mpirun -n 2 python benchmarks/read_floor.py INPUT [--var NAME] [--chunk-mb 128]

Prints the slowest rank's read time in seconds (one line, ``read_floor_s=...``).
"""

import argparse

from clusterkit.comm import MPI, world
from clusterkit.io.dataset import Dataset
from clusterkit.jobs._climate_layout import Layout
from clusterkit.jobs.climate_stats import _chunk_steps, _grid


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("input")
    p.add_argument("--var")
    p.add_argument("--chunk-mb", type=float, default=128.0)
    args = p.parse_args(argv)
    comm = world()
    comm.Barrier()
    t0 = MPI.Wtime()
    with Dataset(args.input, comm) as ds:
        layout = Layout(ds, ds.find_variable(args.var))
        grid = _grid(layout, comm)
        chunk = _chunk_steps(grid, layout, args.chunk_mb, comm)
        sel = grid.local_slices
        for a in range(0, layout.shape[0], chunk):
            ds.read(layout.var, (slice(a, min(layout.shape[0], a + chunk)),) + tuple(sel[1:]))
    dt = comm.allreduce(MPI.Wtime() - t0, op=MPI.MAX)
    if comm.Get_rank() == 0:
        print(f"read_floor_s={dt:.4f}")


if __name__ == "__main__":
    from clusterkit.runtime import exit_job
    exit_job(main() or 0, fast=True)   # ends like the jobs do (no interpreter teardown)
