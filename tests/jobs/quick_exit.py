"""Test job for exit_job: returns a chosen status after registering an atexit handler
and a weakref finalizer, each of which prints a marker per rank.

    quick_exit.py STATUS [fast]     (fast: exit_job(..., fast=True))
"""

import atexit
import sys
import weakref

from clusterkit.runtime import exit_job, run_job


class _Token:
    pass


def main(argv=None, comm=None):
    rank = comm.Get_rank()
    atexit.register(lambda: print(f"atexit ran on rank {rank}", flush=True))
    token = _Token()
    weakref.finalize(token, print, f"finalizer ran on rank {rank}", flush=True)
    main.keep = token                       # alive until exit: finalize runs via atexit
    print(f"rank {rank} done", flush=False)  # buffered: exit_job must flush it
    import os
    print(f"rank {rank} children inherit the channel: "
          f"{'CLUSTERKIT_STATUS_DIR' in os.environ}", flush=True)
    return int(argv[0])


if __name__ == "__main__":
    exit_job(run_job(main, sys.argv[1:2]), fast=sys.argv[2:] == ["fast"])
