"""I/O floor for climate-stats: the same ranks just read the variable, the same reads.

    mpirun -n 2 python benchmarks/read_floor.py INPUT [INPUT ...] [--var NAME]
        [--chunk-mb 128]

INPUTs are one file or several forming one time series (files or quoted glob patterns),
opened as climate-stats opens them (``clusterkit.io.dataset.open_dataset``: several files
through the multi-file dataset), split over the ranks and streamed in the same time
chunks through the same chunk reader (raw values into one reused buffer), with the same
read-ahead hint of the next chunk after each read, and no statistics computed. Rank 0 prints one line: the slowest rank's read time
(``read_floor_s``), the peak resident memory of the largest rank (``peak_mib``), one
chunk of a rank's block as read (``chunk_mib``) and what climate-stats itself allocates
per rank for this input (``job_need_mib``, its memory check's estimate).
"""

import argparse
import resource

import numpy as np

from clusterkit.comm import MPI, world
from clusterkit.io.dataset import open_dataset
from clusterkit.io.inputs import expand_inputs
from clusterkit.io.multifile import OPEN_FILE_BYTES
from clusterkit.jobs._climate_layout import Layout
from clusterkit.jobs.climate_stats import _chunk_steps, _grid, _memory_needed


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("inputs", nargs="+")
    p.add_argument("--var")
    p.add_argument("--chunk-mb", type=float, default=128.0)
    args = p.parse_args(argv)
    comm = world()
    inputs = expand_inputs(args.inputs, comm)
    comm.Barrier()
    t0 = MPI.Wtime()
    with open_dataset(inputs, comm) as ds:
        layout = Layout(ds, ds.find_variable(args.var))
        grid = _grid(layout, comm)
        chunk = _chunk_steps(grid, layout, args.chunk_mb, comm)
        sel = tuple(grid.local_slices)
        points = int(np.prod(grid.local_shape[1:]))
        nt = layout.shape[0]
        _, read = ds.chunk_reader(layout.var, min(chunk, nt) * points)
        for a in range(0, nt, chunk):
            read((slice(a, min(nt, a + chunk)),) + sel[1:])
            if a + chunk < nt:     # the job's read-ahead hint of the next chunk
                ds.advise(layout.var, (slice(a + chunk, min(nt, a + 2 * chunk)),) + sel[1:])
        itemsize = ds.dtype(layout.var).itemsize
    dt = comm.allreduce(MPI.Wtime() - t0, op=MPI.MAX)
    need = _memory_needed(grid, layout, chunk, itemsize, 0, args.chunk_mb) \
        + (len(inputs) - 1) * OPEN_FILE_BYTES
    peak = comm.allreduce(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, op=MPI.MAX)
    need = comm.allreduce(need, op=MPI.MAX)
    chunk_bytes = comm.allreduce(min(chunk, nt) * points * itemsize, op=MPI.MAX)
    if comm.Get_rank() == 0:
        print(f"read_floor_s={dt:.4f} peak_mib={peak / 1024:.0f} "
              f"chunk_mib={chunk_bytes / 2 ** 20:.1f} job_need_mib={need / 2 ** 20:.0f}")


if __name__ == "__main__":
    from clusterkit.runtime import exit_job
    exit_job(main() or 0, fast=True)   # ends like the jobs do (no interpreter teardown)
