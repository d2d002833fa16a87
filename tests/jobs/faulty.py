"""Test job that misbehaves on purpose: raises, mis-validates or hangs on chosen ranks."""

import sys
import time

from clusterkit.comm import check
from clusterkit.errors import InputError
from clusterkit.io.dataset import open_dataset
from clusterkit.runtime import JobArgumentParser, run_job


def main(argv=None, comm=None):
    p = JobArgumentParser(prog="faulty", comm=comm)
    p.add_argument("mode", choices=["raise", "bad-input", "bad-input-one", "checked", "status",
                                    "bug-everywhere", "ok", "raise-reading"])
    p.add_argument("--rank", type=int, default=1)
    p.add_argument("--inputs", nargs="*", default=[])
    p.add_argument("--code", type=int, default=0)
    args = p.parse_args(argv)
    rank = comm.Get_rank()
    if args.mode == "raise":
        if rank == args.rank:
            raise RuntimeError(f"deliberate failure on rank {rank}")
        comm.Barrier()          # the others wait in a collective that never completes
        time.sleep(60)
    elif args.mode == "bad-input":
        raise InputError("--widget must be one of a, b; got 'c'")
    elif args.mode == "bad-input-one":
        if rank == args.rank:
            raise InputError("only one rank thinks the input is bad")
        comm.Barrier()
        time.sleep(60)
    elif args.mode == "bug-everywhere":
        args.mode = None
        args.mode[0]            # a TypeError on every rank: a bug, not bad input
    elif args.mode == "checked":
        check(rank != args.rank, "block too small on this rank; use fewer ranks", comm=comm)
    elif args.mode == "raise-reading":     # one rank raises inside a collective read
        with open_dataset(args.inputs, comm) as ds:
            var = ds.find_variable("tas")
            if rank == args.rank:
                raise RuntimeError(f"deliberate failure on rank {rank} while reading")
            ds.read(var, tuple(slice(None) for _ in ds.shape(var)))
            time.sleep(60)
    elif args.mode == "status":
        return args.code
    print(f"rank {rank} done", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(run_job(main, prog="faulty"))
