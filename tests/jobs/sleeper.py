"""Test job for the launcher's signal tests: a few seconds of steps, then one output file.

    sleeper.py OUTPUT [--steps N] [--sleep S] [--ignore-term]

Every rank sleeps S seconds per step and meets the others in a Barrier after each step
(so the ranks depend on each other as a real job's do); rank 0 prints ``running`` when
every rank is in the loop. At the end every rank writes its row of ``x`` (rank, rank, …)
into the HDF5 file OUTPUT through parallel HDF5, under a temporary name renamed when
complete, so a stopped job leaves OUTPUT absent or complete. ``--ignore-term`` makes
the ranks ignore SIGTERM (a job the launcher has to SIGKILL).
"""

import os
import signal
import sys
import time

import h5py
import numpy as np

from clusterkit.runtime import JobArgumentParser, exit_job, run_job

#: columns of each rank's row in OUTPUT
WIDTH = 1000


def main(argv=None, comm=None):
    p = JobArgumentParser(prog="sleeper", comm=comm)
    p.add_argument("output")
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--sleep", type=float, default=0.1)
    p.add_argument("--ignore-term", action="store_true")
    args = p.parse_args(argv)
    if args.ignore_term:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    rank, size = comm.Get_rank(), comm.Get_size()
    comm.Barrier()
    if rank == 0:
        print("running", flush=True)
    for _ in range(args.steps):
        time.sleep(args.sleep)
        comm.Barrier()
    tmp = comm.bcast(f"{args.output}.tmp{os.getpid()}" if rank == 0 else None)
    with h5py.File(tmp, "w", driver="mpio", comm=comm) as f:
        x = f.create_dataset("x", (size, WIDTH), dtype="i8")
        x[rank] = np.full(WIDTH, rank)
    comm.Barrier()
    if rank == 0:
        os.replace(tmp, args.output)
        print(f"wrote {args.output}", flush=True)
    return 0


if __name__ == "__main__":
    exit_job(run_job(main, sys.argv[1:]))
