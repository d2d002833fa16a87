"""Roofline of clusterkit's kernels: achieved GFLOP/s vs arithmetic intensity, under STREAM.

    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 \\
           OMPI_MCA_rmaps_base_oversubscribe=1 NUMBA_NUM_THREADS=1
    mpirun -q -n 1 .venv/bin/python benchmarks/roofline.py [--size 2048x4096] [--repeat 11]
        [--out bench-results/roofline.json] [--png bench-results/roofline.png]
        [--docs docs/roofline.png]

(``-n 2`` gives the two-core roofline: every rank runs the same at once and the
numbers are aggregates over the ranks, slowest rank's time.) Everything is measured in
this run, the serial (one thread) kernel variants on float64 arrays of ``--size``
points per rank (default 2048 x 4096, 64 MiB per array, far beyond the caches):

* the kernels of :data:`KERNELS`: star and box stencils r = 1, 2, the lat-lon
  diffusion step, the reductions and the climate statistics
  accumulation (``accumulate_time_stats``). Time: median of ``--repeat`` samples of
  the slowest rank (Barrier, Wtime, max), ``--rounds`` rounds interleaved;
* the memory ceiling: the STREAM triad (``stream.unchecked()``, 24 B/element, as
  STREAM counts) on arrays of the same size;
* the compute ceiling: a Numba loop of independent multiply-adds on a 64-element
  array that stays in L1/registers (``fastmath``: FMA contraction and vectors),
  2 flops each: measured, not a datasheet peak.

x = arithmetic intensity (flops per byte) from the documented table :data:`KERNELS`:
flops per output point counted from the kernel source (a multiply, an add, a
min/max each 1; comparisons that only select are not counted), and bytes per point
as STREAM counts them (every array read once and written once from memory; no
write-allocate; data re-read from cache, e.g. the second pass of the two-pass
moments or the climate accumulators kept in L2 across a chunk's time steps, are
not counted again). y = achieved GFLOP/s = flops per point x points / time. The
roof is min(peak, triad GB/s x AI). Writes JSON and the PNG (Agg) and copies the
PNG to ``docs/roofline.png``.
"""

import argparse
import os
import shutil
import statistics
import sys

import numba
import numpy as np

from clusterkit.bench.record import machine, summary, time_slowest, write_json
from clusterkit.comm import world
from clusterkit.log import rprint

__all__ = ["KERNELS", "CLIMATE_STEPS", "kernel_table", "intensity", "roof", "main"]

#: time steps per chunk in the climate case (the accumulators are read and written
#: once per chunk, x once per step)
CLIMATE_STEPS = 48


def _star(r):
    # out += w_c a_c + sum over 4r neighbours: 4r+1 multiplies, 4r+1 adds
    return {"flops": 2 * (4 * r + 1), "bytes": 24,
            "note": f"out += W.a over {4 * r + 1} points; read a, read+write out"}


def _box(r):
    p = (2 * r + 1) ** 2
    return {"flops": 2 * p, "bytes": 24,
            "note": f"out += W.a over {p} points; read a, read+write out"}


def _climate(nt=CLIMATE_STEPS, itemsize=8):
    # per input value (fused 4-step path): decode r*scale+offset (2), v-shift (1),
    # s2 += d*d (2), st += t*w (2), stt += t*t*w (3), stv += t*d (2), min, max (2),
    # msum += d (1), mcnt += w (1), zonal sum and count (2)  -> 18
    # bytes: x once; 8 accumulators (s2 st stt stv vmin vmax msum mcnt) read+written
    # and the shift read once per chunk of nt steps (they stay in L2 meanwhile)
    return {"flops": 18, "bytes": itemsize + (8 * 16 + 8) / nt,
            "note": f"per input value; accumulators once per {nt}-step chunk"}


#: flops and bytes per point (output point; input value for the reductions and the
#: climate accumulation), float64, as counted from the kernels' source
KERNELS = {
    "star r=1": _star(1),
    "star r=2": _star(2),
    "box r=1": _box(1),
    "box r=2": _box(2),
    # v = x + ((a_s(us-x) - a_n(x-un)) + a_x((ue-x) - (x-uw))): 11 flops; read u, write v
    "diffusion": {"flops": 11, "bytes": 16, "note": "read u, write v"},
    # two extraction levels (float64 data has long mantissas): (s1+x)-s1, x-h, (s2+r)-s2,
    # two lane sums, the left-over r-g: 8
    "local_sum_exact": {"flops": 8, "bytes": 8, "note": "exact sum, two extraction levels"},
    # one shifted pass: d = x-shift (1), sum d (1), sum d*d (2)
    "local_moments": {"flops": 4, "bytes": 8, "note": "one shifted pass"},
    "climate accumulate": _climate(),
}


def intensity(entry):
    """Arithmetic intensity (flop/byte) of a :data:`KERNELS` entry."""
    if entry["bytes"] <= 0 or entry["flops"] < 0:
        raise ValueError(f"kernel table entry needs flops >= 0 and bytes > 0, got {entry}")
    return entry["flops"] / entry["bytes"]


def roof(ai, peak_gflops, bandwidth_gbs):
    """Attainable GFLOP/s at intensity ``ai``: ``min(peak, bandwidth x ai)``."""
    return min(peak_gflops, bandwidth_gbs * ai)


def kernel_table():
    """:data:`KERNELS` with the intensity added (JSON-able)."""
    return {k: {**v, "intensity": intensity(v)} for k, v in KERNELS.items()}


# -- measurement -------------------------------------------------------------------------
_LANES = 64


@numba.njit(fastmath=True, cache=False)
def _fma_loop(iters, b, c):
    a = np.empty(_LANES)
    for j in range(_LANES):
        a[j] = j * 1e-3
    for _ in range(iters):
        for j in range(_LANES):
            a[j] = a[j] * b + c
    return a.sum()


def _cases(ny, nx):
    """``{name: callable}`` over float64 arrays of ny x nx points (serial variants)."""
    from clusterkit.kernels import (TimeStats, accumulate_time_stats, diffusion,
                                    local_moments, local_sum_exact, stencil)
    rng = np.random.default_rng(0)
    cases = {}
    for pattern, r in (("star", 1), ("star", 2), ("box", 1), ("box", 2)):
        a = rng.random((ny + 2 * r, nx + 2 * r))
        b = np.zeros_like(a)
        w = stencil.stencil_weights(r, pattern)
        k = stencil.unchecked(pattern, r)
        cases[f"{pattern} r={r}"] = (lambda k=k, a=a, w=w, b=b: k(a, w, b), ny * nx)
    u, v = rng.random((ny + 2, nx + 2)), np.zeros((ny + 2, nx + 2))
    cos = np.cos(np.linspace(-1.2, 1.2, ny))
    step = diffusion.unchecked()
    cases["diffusion"] = (lambda: step(u, v, 1e-6, 0.01, 0.01, cos, cos, cos), ny * nx)
    x = rng.random((ny, nx))
    cases["local_sum_exact"] = (lambda: local_sum_exact(x), ny * nx)
    cases["local_moments"] = (lambda: local_moments(x), ny * nx)
    # climate: (T, 1, Y', X') with the same number of values as the other cases
    t = CLIMATE_STEPS
    cy_ = max(1, ny * nx // (t * 4096))
    chunk = rng.random((t, 1, cy_, 4096)) * 10 + 280
    month = np.repeat(np.arange(12), -(-t // 12))[:t].astype(np.int64)
    tc = np.arange(t, dtype=np.float64) - t / 2
    stats = TimeStats((1, cy_, 4096))
    zsum, zcnt = np.zeros((t, 1, cy_)), np.zeros((t, 1, cy_))
    cases["climate accumulate"] = (
        lambda: accumulate_time_stats(chunk, month, tc, stats, zsum, zcnt), chunk.size)
    return cases


def measure(comm, ny, nx, repeat, rounds):
    """Time the kernels, the STREAM triad and the FMA peak on every rank at once."""
    from clusterkit.kernels import stream
    size = comm.Get_size()
    n = ny * nx
    ta, tb, tc = np.zeros(n), np.full(n, 1.0), np.full(n, 2.0)
    s = np.float64(3.0)
    iters = 200_000
    _fma_loop(10, 0.999, 1e-3)
    cases = _cases(ny, nx)
    triad_kernel = stream.unchecked()
    calls = {"stream triad": lambda: triad_kernel(ta, tb, tc, s),
             "fma peak": lambda: _fma_loop(iters, 0.999, 1e-3),
             **{k: fn for k, (fn, _) in cases.items()}}
    samples = {k: [] for k in calls}
    for _ in range(rounds):
        for k, fn in calls.items():
            samples[k] += time_slowest(fn, repeat, warmup=1, comm=comm)
    med = {k: statistics.median(v) for k, v in samples.items()}
    triad = size * 24 * n / med["stream triad"] / 1e9
    peak = size * 2 * _LANES * iters / med["fma peak"] / 1e9
    table = kernel_table()
    rows = {}
    for k, (_, points) in cases.items():
        e = table[k]
        gflops = size * e["flops"] * points / med[k] / 1e9
        attainable = roof(e["intensity"], peak, triad)
        rows[k] = {**e, "points_per_rank": points, "time_s": summary(samples[k]),
                   "GFLOPs": gflops, "GBs": gflops / e["intensity"],
                   "attainable_GFLOPs": attainable,
                   "percent_of_roof": 100.0 * gflops / attainable}
    return {"ranks": size, "triad_GBs": triad, "peak_GFLOPs": peak,
            "ridge_intensity": peak / triad, "triad_s": summary(samples["stream triad"]),
            "peak_s": summary(samples["fma peak"]), "kernels": rows}


def plot(res, path):
    """Draw the roofline (Agg) to ``path``."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    peak, bw = res["peak_GFLOPs"], res["triad_GBs"]
    rows = res["kernels"]
    ais = [r["intensity"] for r in rows.values()]
    lo, hi = min(ais + [peak / bw]) / 4, max(ais + [peak / bw]) * 8
    x = np.logspace(np.log10(lo), np.log10(hi), 200)
    fig, ax = plt.subplots(figsize=(8, 5.5))
    ax.loglog(x, np.minimum(peak, bw * x), "k-", lw=2, label="roof")
    ax.loglog(x, bw * x, "k:", lw=1,
              label=f"STREAM triad {bw:.1f} GB/s x AI")
    ax.axhline(peak, color="k", ls="--", lw=1,
               label=f"measured FMA peak {peak:.1f} GFLOP/s")
    markers = "osD^v<>phX*P"
    for i, (name, r) in enumerate(rows.items()):
        ax.loglog(r["intensity"], r["GFLOPs"], markers[i % len(markers)], ms=8,
                  label=f"{name} ({r['percent_of_roof']:.0f}% of roof)")
    ax.set_xlabel("arithmetic intensity [flop/byte] (STREAM byte counting)")
    ax.set_ylabel("achieved GFLOP/s")
    ax.set_title(f"clusterkit kernels, float64, {res['ranks']} rank(s) x 1 thread")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    tmp = f"{path}.tmp{os.getpid()}.png"
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    os.replace(tmp, path)


def _parse_size(text):
    try:
        ny, nx = (int(s) for s in text.lower().split("x"))
    except ValueError:
        ny = nx = 0
    if ny < 8 or nx < 8:
        raise ValueError(f"--size must be NYxNX with both at least 8, got {text!r}")
    return ny, nx


def main(argv=None, comm=None):
    """Measure, print a table on rank 0, write the JSON and the PNG (and the docs copy)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--size", default="2048x4096", help="NYxNX points per rank")
    p.add_argument("--repeat", type=int, default=11)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--out", default="bench-results/roofline.json")
    p.add_argument("--png", default="bench-results/roofline.png")
    p.add_argument("--docs", default="docs/roofline.png",
                   help="copy of the PNG ('' for none)")
    args = p.parse_args(argv)
    ny, nx = _parse_size(args.size)
    comm = comm or world()
    res = measure(comm, ny, nx, args.repeat, args.rounds)
    info = machine(comm)
    if comm.Get_rank() == 0:
        rprint(f"roofline, {res['ranks']} rank(s) x 1 thread, {ny}x{nx} float64 per rank: "
               f"STREAM triad {res['triad_GBs']:.2f} GB/s, FMA peak "
               f"{res['peak_GFLOPs']:.2f} GFLOP/s, ridge at {res['ridge_intensity']:.2f} "
               "flop/B", comm=comm)
        print(f"{'kernel':20s} {'flop/pt':>7s} {'B/pt':>6s} {'AI':>6s} {'GFLOP/s':>8s} "
              f"{'GB/s':>7s} {'roof':>7s} {'%roof':>6s}")
        for k, r in res["kernels"].items():
            print(f"{k:20s} {r['flops']:7g} {r['bytes']:6.3g} {r['intensity']:6.3f} "
                  f"{r['GFLOPs']:8.2f} {r['GBs']:7.2f} {r['attainable_GFLOPs']:7.2f} "
                  f"{r['percent_of_roof']:6.1f}")
        os.makedirs(os.path.dirname(os.path.abspath(args.png)), exist_ok=True)
        plot(res, args.png)
        if args.docs:
            tmp = f"{args.docs}.tmp{os.getpid()}"
            shutil.copyfile(args.png, tmp)
            os.replace(tmp, args.docs)
        write_json(args.out, {"benchmark": "roofline", "machine": info,
                              "size_per_rank": [ny, nx], "threads": 1,
                              "climate_steps": CLIMATE_STEPS,
                              "byte_counting": "STREAM: each array read once / written "
                                               "once from memory, no write-allocate",
                              "png": args.png, **res})
        print(f"wrote {args.out}, {args.png}" + (f", {args.docs}" if args.docs else ""))
    return 0


if __name__ == "__main__":
    from clusterkit.runtime import run_job
    sys.exit(run_job(main))
