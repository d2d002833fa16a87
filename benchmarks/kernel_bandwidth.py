"""Achieved memory bandwidth of each memory-bound kernel as a % of the STREAM triad.

    NUMBA_NUM_THREADS=1 mpirun -n 2 python benchmarks/kernel_bandwidth.py [--size 2048x4096]

Every rank runs every kernel on its own float64 arrays (default 2048 x 4096 =
64 MiB each, beyond the caches), all ranks at once; times are medians of the
slowest rank. The STREAM triad on arrays of the same size, measured in the
same run, is the ceiling. Bandwidth is given in two byte conventions:

* ``stream``: bytes a kernel must move, as STREAM counts them (each input read
  once, each output written once, no write-allocate): triad 24 B/element;
* ``wa``: also counting the write-allocate read of every output that is not
  read anyway (triad 32 B/element) — closer to the real traffic.

Each kernel's % is its bandwidth over the triad's in the same convention.
Kernels whose arithmetic partly limits them here (the exact sum: two
extraction levels, about ten floating-point operations per element; the box
stencil of radius 2: 25 taps) are listed too, to show where that happens.
"""

import argparse
import sys

import numba
import numpy as np

from clusterkit.bench.record import machine, summary, time_slowest, write_json
from clusterkit.comm import world
from clusterkit.kernels import axis_moments, axis_sums, local_moments, local_sum_exact
from clusterkit.kernels import diffusion, stencil, stream
from clusterkit.log import rprint
from clusterkit.runtime import configure_threads

__all__ = ["main", "kernel_cases"]


def kernel_cases(ny, nx, parallel):
    """The kernels to measure: ``{name: (callable, points, (stream_B, wa_B) per point)}``."""
    rng = np.random.default_rng(0)
    cases = {}
    n = ny * nx
    ta, tb, tc = np.zeros(n), rng.random(n), rng.random(n)
    triad = stream.unchecked(parallel)
    cases["stream triad (ceiling)"] = (lambda: triad(ta, tb, tc, 3.0), n, (24, 32))
    # each (pattern, radius) runs the loop generated for it (several rows per pass)
    for pattern, r in (("star", 1), ("star", 2), ("box", 1), ("star", 3), ("box", 2)):
        a = rng.random((ny + 2 * r, nx + 2 * r))
        b = np.zeros_like(a)
        w = stencil.stencil_weights(r, pattern)
        k = stencil.unchecked(pattern, r, parallel)
        # B += W.A: read A, read B, write B (B is read, so no write-allocate)
        cases[f"{pattern} stencil r={r}"] = (lambda k=k, a=a, w=w, b=b: k(a, w, b), n, (24, 24))
    u, v = rng.random((ny + 2, nx + 2)), np.zeros((ny + 2, nx + 2))
    cos = np.cos(np.linspace(-1.2, 1.2, ny))
    diff = diffusion.unchecked(parallel)
    cases["diffusion step"] = (lambda: diff(u, v, 1e-6, 0.01, 0.01, cos, cos, cos), n, (16, 24))
    x = rng.random((ny, nx))
    cases["local_moments (Welford/Chan)"] = (lambda: local_moments(x), n, (8, 8))
    cases["local_sum_exact"] = (lambda: local_sum_exact(x), n, (8, 8))
    # over one axis: columns (axis 0, tiles of accumulators in L1) and rows (axis 1)
    for axis in (0, 1):
        kept = (nx,) if axis == 0 else (ny,)
        o = [np.zeros(kept) for _ in range(3)]
        cases[f"axis_sums (axis {axis})"] = (
            lambda a=axis, o=o: axis_sums(x, (a,), o[0], o[1], skipna=True), n, (8, 8))
        cases[f"axis_moments (axis {axis})"] = (
            lambda a=axis, o=o: axis_moments(x, (a,), o[0], o[1], o[2], skipna=True), n, (8, 8))
    return cases


def main(argv=None):
    """Run the benchmark, print a table on rank 0 and write the JSON record."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--size", default="2048x4096", help="NYxNX per rank (default 2048x4096)")
    p.add_argument("--repeat", type=int, default=11)
    p.add_argument("--rounds", type=int, default=3,
                   help="rounds over all kernels (interleaved against load drift)")
    p.add_argument("--out",
                   help="JSON record (default bench-results/kernel_bandwidth-n<ranks>.json)")
    args = p.parse_args(argv)
    ny, nx = (int(s) for s in args.size.lower().split("x"))
    comm = world()
    configure_threads(comm)
    out = args.out or f"bench-results/kernel_bandwidth-n{comm.Get_size()}.json"
    threads = numba.get_num_threads()
    cases = kernel_cases(ny, nx, threads > 1)
    samples = {name: [] for name in cases}
    for _ in range(args.rounds):
        for name, (fn, _, _) in cases.items():
            samples[name] += time_slowest(fn, args.repeat, warmup=1, comm=comm)
    size = comm.Get_size()
    rows = {}
    base = None
    rprint(f"kernel bandwidth, {size} rank(s) x {threads} thread(s), {ny}x{nx} float64 per "
           f"rank; % of the STREAM triad in the same run", comm=comm)
    rprint(f"{'kernel':30s} {'ms':>8s} {'GB/s':>8s} {'%':>6s} {'GB/s wa':>8s} {'% wa':>6s}",
           comm=comm)
    for name, (_, points, (b_stream, b_wa)) in cases.items():
        s = summary(samples[name])
        gbs = size * points * b_stream / s["median"] / 1e9
        gbs_wa = size * points * b_wa / s["median"] / 1e9
        if base is None:
            base = (gbs, gbs_wa)
        rows[name] = {"time_s": s, "bytes_per_point": {"stream": b_stream, "wa": b_wa},
                      "aggregate_GBs": gbs, "aggregate_GBs_wa": gbs_wa,
                      "percent_of_triad": 100 * gbs / base[0],
                      "percent_of_triad_wa": 100 * gbs_wa / base[1]}
        rprint(f"{name:30s} {s['median'] * 1e3:8.2f} {gbs:8.2f} "
               f"{rows[name]['percent_of_triad']:6.1f} {gbs_wa:8.2f} "
               f"{rows[name]['percent_of_triad_wa']:6.1f}", comm=comm)
    info = machine(comm)  # collective: every rank
    if comm.Get_rank() == 0:
        write_json(out, {"benchmark": "kernel_bandwidth", "machine": info,
                              "size_per_rank": [ny, nx], "threads": threads,
                              "results": rows})
        rprint(f"wrote {out}", comm=comm)
    return 0


if __name__ == "__main__":
    sys.exit(main())
