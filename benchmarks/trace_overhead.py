"""Cost of clusterkit.trace on a diffusion-like step: hooks bypassed vs tracing off vs on.

    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 \
           OMPI_MCA_rmaps_base_oversubscribe=1 NUMBA_NUM_THREADS=1
    mpirun -q -n 2 .venv/bin/python benchmarks/trace_overhead.py [--block 1024]
        [--kernel stencil|diffusion] [--repeat 201] [--inner 10] [--out FILE]
        [--against OLD_TRACE_PY]

Each rank owns a ``block``² float64 block of a doubly periodic grid (Grid/DistArray,
halo width 1, faces only). One step is a halo exchange (``HaloExchange.start`` /
``finish``) and the 5-point star stencil (``clusterkit.kernels.star_stencil``, the
default: the lightest step, so the largest relative overhead) or the lat-lon
diffusion kernel (``--kernel diffusion``: ``clusterkit.kernels.diffusion_step``, more
work per cell) on the ghosted block, inside a user region ``compute.<kernel>``. Four
variants (six with ``--against``) are timed in the same run, one sample of each per
round, the order rotated every round so that load changes on a shared machine hit
them alike:

``bypass``  the library's hooks skipped (the undecorated ``HaloExchange.start``/``finish``
            and no region): the baseline;
``bypass2`` the very same code again: an A/A control. Its "overhead" is what noise
            and position in the round alone produce; an overhead smaller than it
            is not resolved;
``off``     the same call chain through the hooked methods with tracing off (what
            every job pays);
``on``      tracing on with a trace file: 3 regions per step recorded as events.

With ``--against FILE`` (another version of ``clusterkit/trace.py``, e.g. from
``git show HEAD:clusterkit/trace.py``) two more variants, ``base-off`` and ``base-on``,
run the same step through that tracer's hooks, in the same rounds: an A/B of a tracer
change measured in one run.

Samples are the slowest rank's time (Barrier, Wtime, max over ranks) of ``--inner``
steps, followed by the tracer's ``totals()`` (so work a tracer defers is counted).
Reported: medians (and their ratio), and the median of the per-round ratios
(paired samples, robust to load drifting on a shared machine) with a 95 % bootstrap
interval, against ``bypass`` and, the overhead goal, of ``on`` against ``off``
(tracing on against off, same tracer). The per-call cost of a region and of a hooked
call, off and on (with a trace file, so any deferred work is included), is measured
as well (``timeit``, best of 5, this rank, warm caches), and turned into an
estimate per step (2 hooked calls + 1 region); in the real step the caches are cold
after the kernel, so the measured overhead is larger than that estimate.
"""

import argparse
import importlib.util
import os
import sys
import timeit

import numpy as np

from clusterkit import trace
from clusterkit.bench.record import machine, summary, time_slowest, write_json
from clusterkit.comm import world
from clusterkit.grid import Grid
from clusterkit.halo import HaloExchange
from clusterkit.kernels import diffusion_step, star_stencil, stencil_weights
from clusterkit.log import rprint
from clusterkit.partition import choose_grid

_START, _FINISH = HaloExchange.start.__wrapped__, HaloExchange.finish.__wrapped__


def _paired(a, b, rng, boot=2000):
    """Median of the per-round ratios a/b - 1 and its 95 % bootstrap interval."""
    r = np.asarray(a) / np.asarray(b) - 1.0
    meds = np.median(r[rng.integers(0, len(r), (boot, len(r)))], axis=1)
    return float(np.median(r)), [float(np.quantile(meds, 0.025)),
                                 float(np.quantile(meds, 0.975))]


def _load_tracer(path):
    """Load another version of ``clusterkit/trace.py`` as a module of its own."""
    spec = importlib.util.spec_from_file_location("clusterkit._trace_against", path)
    module = importlib.util.module_from_spec(spec)    # relative imports: clusterkit's
    spec.loader.exec_module(module)
    module.reset()
    return module


def _micro(tracer, trace_file, n=50000):
    """Nanoseconds per call: a no-op region, and a hooked no-op method, off and on."""
    class Probe:
        @tracer.traced("probe")
        def hooked(self):
            return None

        def plain(self):
            return None

    p = Probe()

    def with_region():
        with tracer.region("probe"):
            pass

    def best(fn):
        return min(timeit.repeat(fn, number=n, repeat=5)) / n * 1e9

    out = {"plain_call_ns": best(p.plain), "hooked_call_off_ns": best(p.hooked),
           "region_off_ns": best(with_region)}
    tracer.enable(profile=False, trace_path=trace_file)
    out["hooked_call_on_ns"] = best(p.hooked)
    out["region_on_ns"] = best(with_region)
    tracer.reset()
    return out


def _hooked_step(tracer, halo, kernel, label):
    """One step through ``tracer``'s hooks (for clusterkit.trace: the library's own)."""
    if tracer is trace:
        start, finish = HaloExchange.start, HaloExchange.finish
    else:
        start, finish = tracer.traced("halo.start")(_START), tracer.traced("halo.finish")(_FINISH)

    def step():          # the same call depth as the bypass, plus the hooks
        start(halo)
        finish(halo)
        with tracer.region(label):
            kernel()
    return step


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--block", type=int, default=1024)
    p.add_argument("--kernel", choices=("stencil", "diffusion"), default="stencil")
    p.add_argument("--repeat", type=int, default=201)
    p.add_argument("--inner", type=int, default=10)
    p.add_argument("--out", default="bench-results/trace_overhead.json")
    p.add_argument("--against", metavar="TRACE_PY",
                   help="another clusterkit/trace.py to time in the same rounds")
    args = p.parse_args(argv)
    comm = world()
    load_before = list(os.getloadavg())
    trace.reset()
    base = _load_tracer(args.against) if args.against else None
    dims = choose_grid((1 << 20, 1 << 20), comm.Get_size())
    grid = Grid((args.block * dims[0], args.block * dims[1]), periodic=True, halo=1,
                corners=False, dims=dims, comm=comm)
    u, out = grid.full(1.0), grid.zeros()
    halo = u.halo
    if args.kernel == "stencil":
        w = stencil_weights(1, "star")

        def kernel():
            star_stencil(u.ghosted, w, 1, out.ghosted)
    else:
        ones = np.ones(grid.local_shape[0])
        dx = np.pi / grid.shape[0]

        def kernel():
            diffusion_step(u.ghosted, out.ghosted, 1e-3 * dx * dx, dx, dx, ones, ones, ones)
    label = f"compute.{args.kernel}"

    def step_bypass():
        _START(halo)
        _FINISH(halo)
        kernel()

    def step_bypass2():
        _START(halo)
        _FINISH(halo)
        kernel()

    trace_file = os.path.splitext(os.path.abspath(args.out))[0] + "-trace.json"
    if comm.Get_rank() == 0:
        os.makedirs(os.path.dirname(trace_file), exist_ok=True)
    comm.Barrier()
    step = _hooked_step(trace, halo, kernel, label)
    # (name, tracer, step, tracing on?)
    variants = [("bypass", trace, step_bypass, False), ("bypass2", trace, step_bypass2, False),
                ("off", trace, step, False), ("on", trace, step, True)]
    if base is not None:
        base_step = _hooked_step(base, halo, kernel, label)
        variants += [("base-off", base, base_step, False), ("base-on", base, base_step, True)]
    for _, _, fn, _ in variants:           # compile, fault pages in
        fn()

    def sample(tracer, fn):
        def run():
            for _ in range(args.inner):
                fn()
            tracer.totals()
        fn()                               # warm the caches for this variant
        return time_slowest(run, 1, warmup=0, comm=comm)[0] / args.inner

    samples = {name: [] for name, *_ in variants}
    nv = len(variants)
    for i in range(args.repeat):           # one sample of each per round, order rotated
        for name, tracer, fn, on in variants[i % nv:] + variants[:i % nv]:
            if on:
                tracer.enable(profile=False, trace_path=trace_file)
            samples[name].append(sample(tracer, fn))
            tracer.disable()
    trace.enable(profile=False, trace_path=trace_file)  # keep what was recorded; write it
    with open(os.devnull, "w") as devnull:
        trace.finalize(comm, file=devnull)
    stats = {k: summary(v) for k, v in samples.items()}
    ref = stats["bypass"]["median"]
    others = [name for name, *_ in variants[1:]]
    overhead = {k: (stats[k]["median"] - ref) / ref for k in others}
    # paired: the ratio of the samples taken in the same round (cancels slow load drift)
    rng = np.random.default_rng(12345)
    paired, paired_ci = {}, {}
    for k in others:
        paired[k], paired_ci[k] = _paired(samples[k], samples["bypass"], rng)
    pairs = [("on", "off")]                # tracing on vs off, the same tracer: the goal
    if base is not None:
        pairs += [("base-on", "base-off"), ("on", "base-on"), ("off", "base-off")]
    goal = {f"{a} vs {b}": _paired(samples[a], samples[b], rng) for a, b in pairs}
    micro = {"current": _micro(trace, trace_file)}
    if base is not None:
        micro["against"] = _micro(base, trace_file)
        base.reset()
    what = "5-point stencil" if args.kernel == "stencil" else "diffusion kernel"
    rprint(f"trace overhead, {comm.Get_size()} ranks, {args.block}^2 block per rank, "
           f"step = halo exchange + {what} (median of {args.repeat} samples x "
           f"{args.inner} steps, slowest rank):", comm=comm)
    for k in ["bypass"] + others:
        extra = "" if k == "bypass" else \
            f"  ({overhead[k]:+.2%} vs bypass; paired per round {paired[k]:+.2%} " \
            f"[95% {paired_ci[k][0]:+.2%}, {paired_ci[k][1]:+.2%}])"
        rprint(f"  {k:8s} {stats[k]['median'] * 1e3:8.3f} ms/step  "
               f"[q1 {stats[k]['q1'] * 1e3:.3f}, q3 {stats[k]['q3'] * 1e3:.3f}]{extra}",
               comm=comm)
    for k, (med, ci) in goal.items():
        rprint(f"  paired per round, {k:18s} {med:+.2%} [95% {ci[0]:+.2%}, {ci[1]:+.2%}]",
               comm=comm)
    per_step, estimate = {}, {}
    for which, m in micro.items():
        rprint(f"  per call ({which} tracer, rank 0): plain method {m['plain_call_ns']:.0f} "
               f"ns, hooked method off {m['hooked_call_off_ns']:.0f} ns / on "
               f"{m['hooked_call_on_ns']:.0f} ns; region off {m['region_off_ns']:.0f} ns / "
               f"on {m['region_on_ns']:.0f} ns", comm=comm)
        per_step[which] = {
            "off": (2 * (m["hooked_call_off_ns"] - m["plain_call_ns"])
                    + m["region_off_ns"]) * 1e-9,
            "on": (2 * (m["hooked_call_on_ns"] - m["plain_call_ns"])
                   + m["region_on_ns"]) * 1e-9}
        estimate[which] = {k: v / ref for k, v in per_step[which].items()}
        rprint(f"    x 3 regions per step: off {per_step[which]['off'] * 1e9:.0f} ns "
               f"({estimate[which]['off']:.3%} of a step), on "
               f"{per_step[which]['on'] * 1e9:.0f} ns ({estimate[which]['on']:.3%} of a step)",
               comm=comm)
    info = machine(comm)
    if comm.Get_rank() == 0:
        write_json(args.out, {"benchmark": "trace_overhead", "machine": info,
                              "process_grid": list(dims), "block": args.block,
                              "kernel": args.kernel,
                              "inner": args.inner, "regions_per_step": 3,
                              "step_s": stats, "overhead_vs_bypass": overhead,
                              "paired_overhead_vs_bypass": paired,
                              "paired_overhead_ci95": paired_ci,
                              "paired_goal": {k: {"median": m, "ci95": ci}
                                              for k, (m, ci) in goal.items()},
                              "against": args.against,
                              "load_average_before": load_before,
                              "load_average_after": list(os.getloadavg()),
                              "per_step_cost_from_per_call_s": per_step,
                              "per_step_cost_fraction_estimate": estimate,
                              "per_call_ns": micro, "trace_file": trace_file})
        rprint(f"wrote {args.out} and {trace_file}", comm=comm)
    u.halo.free()
    return 0


if __name__ == "__main__":
    sys.exit(main())
