"""STREAM triad on every rank at once: memory bandwidth per rank and aggregate.

    NUMBA_NUM_THREADS=1 mpirun -n 2 python benchmarks/stream.py [--n 16777216] [--out FILE]

Every rank runs clusterkit's Numba triad ``a = b + s*c`` on its own three
float64 arrays of ``--n`` elements (default 2**24: 128 MiB each, far beyond
the caches), all ranks at the same moment (Barrier, then Wtime). Bytes are
counted as STREAM does, 24 per element (read b, read c, write a; the
write-allocate read of ``a`` is not counted). Per-rank GB/s use each rank's
own time; the aggregate uses the slowest rank's time. Threads per rank follow
clusterkit's policy (``NUMBA_NUM_THREADS`` if set); the threaded variant is
used when a rank has more than one. :func:`triad_bandwidth` is reused by the
other benchmarks as their ceiling, measured in the same run.
"""

import argparse
import statistics
import sys

import numba
import numpy as np

from clusterkit.bench.record import machine, summary, time_slowest, write_json
from clusterkit.comm import MPI, world
from clusterkit.kernels.stream import unchecked as unchecked_triad
from clusterkit.log import rprint
from clusterkit.runtime import configure_threads

__all__ = ["triad_bandwidth", "main", "BYTES_PER_ELEMENT"]

#: STREAM's byte count per triad element (no write-allocate)
BYTES_PER_ELEMENT = 24


def triad_bandwidth(comm, n=1 << 24, repeat=20):
    """Measure the triad on every rank of ``comm`` at once. Collective.

    Parameters
    ----------
    comm : mpi4py.MPI.Intracomm
    n : int
        Elements per array per rank.
    repeat : int
        Timed samples (after two warm-up calls).

    Returns
    -------
    dict
        ``per_rank_GBs`` (median GB/s of each rank, own time), ``aggregate_GBs``
        (all ranks' bytes over the slowest rank's median time), ``slowest_s``
        (summary of the slowest-rank times), ``threads``, ``n``.
    """
    a = np.zeros(n)
    b = np.full(n, 1.0)
    c = np.full(n, 2.0)
    threads = numba.get_num_threads()
    kernel = unchecked_triad(threads > 1)
    scalar = np.float64(3.0)
    own = []

    def triad():
        t0 = MPI.Wtime()
        kernel(a, b, c, scalar)
        own.append(MPI.Wtime() - t0)

    slowest = time_slowest(triad, repeat, comm=comm)
    if not np.all(a == 7.0):
        raise RuntimeError("triad gave a wrong result")
    mine = statistics.median(own[-repeat:])
    nbytes = BYTES_PER_ELEMENT * n
    per_rank = [nbytes / t / 1e9 for t in comm.allgather(mine)]
    s = summary(slowest)
    return {"n": n, "threads": threads, "per_rank_GBs": per_rank,
            "aggregate_GBs": comm.Get_size() * nbytes / s["median"] / 1e9, "slowest_s": s}


def main(argv=None):
    """Run the benchmark, print a table on rank 0 and write the JSON record."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=1 << 24, help="elements per array per rank")
    p.add_argument("--repeat", type=int, default=20)
    p.add_argument("--out", help="JSON record (default bench-results/stream-n<ranks>.json)")
    args = p.parse_args(argv)
    comm = world()
    configure_threads(comm)
    out = args.out or f"bench-results/stream-n{comm.Get_size()}.json"
    res = triad_bandwidth(comm, args.n, args.repeat)
    size = comm.Get_size()
    rprint(f"STREAM triad, {size} rank(s) x {res['threads']} thread(s), "
           f"{args.n} float64 per array ({args.n * 8 / 2**20:.0f} MiB)", comm=comm)
    for r, bw in enumerate(res["per_rank_GBs"]):
        rprint(f"  rank {r}: {bw:7.2f} GB/s", comm=comm)
    rprint(f"  aggregate (slowest rank's median time): {res['aggregate_GBs']:7.2f} GB/s",
           comm=comm)
    info = machine(comm)  # collective: every rank
    if comm.Get_rank() == 0:
        write_json(out, {"benchmark": "stream_triad", "machine": info,
                              "bytes_per_element": BYTES_PER_ELEMENT, "results": res})
        rprint(f"wrote {out}", comm=comm)
    return 0


if __name__ == "__main__":
    sys.exit(main())
