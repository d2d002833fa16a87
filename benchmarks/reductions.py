"""DistArray reductions vs the code they replace, the plain NumPy path and the STREAM triad.

    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 \\
           OMPI_MCA_rmaps_base_oversubscribe=1 NUMBA_NUM_THREADS=1
    mkdir -p /tmp/ck-base && for f in collectives darray; do
        git show HEAD:clusterkit/$f.py > /tmp/ck-base/$f.py; done
    mpirun -n 2 .venv/bin/python benchmarks/reductions.py [--shape 64,721,1440]
        [--axes 0,2] [--repeat 7] [--rounds 3] [--baseline /tmp/ck-base]
        [--baseline-kernels /tmp/kb/kernels] [--out FILE]

A float32 (time, lat, lon) field of ``--shape`` (default 64 x 721 x 1440, 266 MB)
with a land mask (about 23 % NaN, whole time series) is split over the ranks by
``Grid``'s default decomposition. Timed, all in one run, rounds interleaved
against load drift, each sample the slowest rank (Barrier, Wtime, max):

* ``mean(skipna=True)``, ``var(skipna=True)`` and ``min(skipna=True)`` over all
  axes and over each axis of ``--axes``, through ``DistArray`` ("clusterkit");
* the same calls through the ``collectives.py``/``darray.py`` found in
  ``--baseline`` (e.g. the previous commit's, written there by ``git show``), on
  the same data ("baseline"); they run on the current kernels, or with
  ``--baseline-kernels`` on the kernel package in that folder (e.g. ``git archive
  REV kernels | tar -x -C /tmp/kb``; loaded under a private name beside the
  current one), which times a kernel change through the public calls;
* the plain NumPy path a user would write instead ("numpy"): ``np.nansum`` (float64)
  and ``np.count_nonzero``/``np.sum`` of ``~np.isnan`` for the mean, the same then
  ``np.nansum((x - mean)**2)`` for the variance, ``np.nanmin`` for the minimum, on
  the block, each followed by one ``Allreduce`` of its results over the ranks
  that share them;
* the STREAM triad (``benchmarks/stream.py``) on every rank at once.

Reported per case: median seconds, CPU seconds (``thread_time``, slowest rank:
less sensitive to other processes on a shared machine), the ratios of the
baseline's wall and CPU times to these (the median over rounds of each round's
ratio of medians: a load that drifts between rounds cancels), the ratio to the
NumPy path, and the bandwidth (block bytes read once over the time, all ranks) as
a % of the aggregate triad. The JSON record goes to ``--out`` (default
``bench-results/reductions-n<ranks>.json``) with the machine, its load average
before and after, and the versions.
"""

import argparse
import importlib
import importlib.util
import os
import statistics
import sys
import time
import types
import warnings

import numpy as np

from clusterkit.bench.record import machine, summary, time_slowest, write_json
from clusterkit.comm import MPI, world
from clusterkit.grid import Grid
from clusterkit.io.synth import synthetic_values
from clusterkit.log import rprint
from clusterkit.runtime import configure_threads

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stream import triad_bandwidth  # noqa: E402  (benchmarks/stream.py)

__all__ = ["main", "load_baseline", "load_kernels", "plain_numpy"]

CALLS = ("mean", "var", "min")


def load_kernels(folder):
    """The kernel package in ``folder`` as ``clusterkit._baseline_kernels``; its name.

    Its submodules import each other relatively and cache their compiled code
    beside their sources; a public name loads the submodule the current package
    maps it to (its ``__init__``, which insists on its own name, is not run).
    """
    from clusterkit import kernels
    name = "clusterkit._baseline_kernels"
    pkg = types.ModuleType(name)
    pkg.__path__ = [os.path.abspath(folder)]
    pkg.__package__ = name

    def public(attr):
        if attr not in kernels._WHERE:
            raise AttributeError(f"module {name!r} has no attribute {attr!r}")
        return getattr(importlib.import_module(f"{name}.{kernels._WHERE[attr]}"), attr)

    pkg.__getattr__ = public
    sys.modules[name] = pkg
    return name


def load_baseline(folder, kernels=None):
    """The ``DistArray`` class of ``folder/darray.py`` wired to ``folder/collectives.py``.

    Both are loaded as submodules of the installed ``clusterkit`` package (so their
    relative imports of ``comm``, ``halo``, ``trace``, ... resolve there) under
    private names; the baseline darray's ``_coll`` is its own collectives. With
    ``kernels`` (a folder), the baseline collectives import the kernels from there
    (:func:`load_kernels`) instead of from ``clusterkit.kernels``.
    """
    mods = {}
    for name in ("collectives", "darray"):
        path = os.path.join(folder, f"{name}.py")
        spec = importlib.util.spec_from_file_location(
            f"clusterkit._baseline_{name}", path, submodule_search_locations=None)
        mod = importlib.util.module_from_spec(spec)
        mod.__package__ = "clusterkit"
        sys.modules[spec.name] = mod
        if kernels is not None and name == "collectives":
            with open(path) as f:
                source = f.read().replace("clusterkit.kernels", load_kernels(kernels))
            exec(compile(source, path, "exec"), mod.__dict__)
        else:
            spec.loader.exec_module(mod)
        mods[name] = mod
    mods["darray"]._coll = mods["collectives"]
    return mods["darray"].DistArray


def _land(lat, lon):
    """A blobby land mask (about 30 % of the lat-lon cells)."""
    phi, lam = np.deg2rad(lat)[:, None], np.deg2rad(lon)[None, :]
    return (np.sin(3 * lam) * np.cos(2 * phi) + 0.3 * np.cos(5 * phi)) > 0.45


def make_field(grid):
    """This rank's block of the synthetic float32 temperature field (NaN over land)."""
    nt, ny, nx = grid.shape
    lat, lon = np.linspace(-90, 90, ny), np.arange(nx) * 360.0 / nx
    sl = grid.local_slices
    u = grid.empty("f4")
    u.interior[...] = synthetic_values(np.arange(nt, dtype=np.float64)[sl[0]], 365.0,
                                       lat[sl[1]], lon[sl[2]],
                                       land=_land(lat[sl[1]], lon[sl[2]]))
    return u


def plain_numpy(u, call, axes):
    """The NumPy path for ``call`` over ``axes``: block reductions, one Allreduce each."""
    x = u.interior
    group = u.grid.comm if len(axes) == x.ndim else u.grid.topology.sub(axes)

    def allreduce(a, op=MPI.SUM):
        a = np.ascontiguousarray(a, dtype=np.float64)
        group.Allreduce(MPI.IN_PLACE, a, op=op)
        return a

    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")  # all-NaN slices (land)
        if call == "min":
            return allreduce(np.nanmin(x, axis=axes), MPI.MIN)
        if len(axes) == x.ndim:
            s, n = allreduce([np.nansum(x, dtype=np.float64), np.count_nonzero(~np.isnan(x))])
        else:
            s, n = allreduce(np.stack([np.nansum(x, axis=axes, dtype=np.float64),
                                       np.sum(~np.isnan(x), axis=axes)]))
        mean = s / n
        if call == "mean":
            return mean
        dev = x - (mean if len(axes) == x.ndim else np.expand_dims(mean, axes))
        return allreduce(np.nansum(dev * dev, axis=axes)) / n


def _cases(u, old, axes_list):
    """``{(call, axes label, implementation): callable}``."""
    cases = {}
    for axis in axes_list:
        label = "all" if axis is None else f"axis {axis}"
        axes = tuple(range(u.ndim)) if axis is None else (axis,)
        for call in CALLS:
            cases[(call, label, "clusterkit")] = (
                lambda c=call, a=axis: getattr(u, c)(axis=a, skipna=True))
            if old is not None:
                cases[(call, label, "baseline")] = (
                    lambda c=call, a=axis: getattr(old, c)(axis=a, skipna=True))
            cases[(call, label, "numpy")] = lambda c=call, a=axes: plain_numpy(u, c, a)
    return cases


def _cpu_slowest(fn, comm):
    """CPU seconds (this thread) of one call, the slowest rank's."""
    comm.Barrier()
    t0 = time.thread_time()
    fn()
    return comm.allreduce(time.thread_time() - t0, op=MPI.MAX)


def _check(u, old, comm):
    """The baseline and the library agree on every call (guards the comparison)."""
    for call in CALLS:
        a = getattr(u, call)(skipna=True)
        b = getattr(old, call)(skipna=True)
        if not np.isclose(a, b, rtol=1e-6):
            raise RuntimeError(f"{call}: clusterkit {a!r} != baseline {b!r}")


def main(argv=None):
    """Run the benchmark, print a table on rank 0 and write the JSON record."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--shape", default="64,721,1440", help="T,Y,X of the float32 field")
    p.add_argument("--axes", default="0,2", help="single axes to reduce over, besides all")
    p.add_argument("--repeat", type=int, default=7, help="samples per case per round")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--baseline", help="folder with the collectives.py and darray.py to "
                                      "compare with")
    p.add_argument("--baseline-kernels", help="kernel package folder the baseline runs on "
                                              "(default: the current kernels)")
    p.add_argument("--triad-n", type=int, default=1 << 24, help="triad elements per rank")
    p.add_argument("--out", help="JSON record (default bench-results/reductions-n<ranks>.json)")
    args = p.parse_args(argv)
    if args.baseline_kernels and not args.baseline:
        p.error("--baseline-kernels needs --baseline")
    shape = tuple(int(v) for v in args.shape.split(","))
    axes_list = [None] + [int(a) for a in args.axes.split(",") if a != ""]
    comm = world()
    configure_threads(comm)
    load_before = os.getloadavg()
    size = comm.Get_size()
    out = args.out or f"bench-results/reductions-n{size}.json"
    grid = Grid(shape, comm=comm)
    u = make_field(grid)
    old = None
    if args.baseline:
        old = load_baseline(args.baseline, args.baseline_kernels)(grid, "f4")
        old.interior[...] = u.interior
        _check(u, old, comm)
    cases = _cases(u, old, axes_list)
    rounds = {k: [] for k in cases}  # per case, one list of wall samples per round
    cpu_rounds = {k: [] for k in cases}  # and of CPU samples
    for _ in range(args.rounds):
        for k, fn in cases.items():
            rounds[k].append(time_slowest(fn, args.repeat, warmup=1, comm=comm))
            cpu_rounds[k].append([_cpu_slowest(fn, comm) for _ in range(args.repeat)])
    wall = {k: [t for r in rs for t in r] for k, rs in rounds.items()}
    cpu = {k: [t for r in rs for t in r] for k, rs in cpu_rounds.items()}
    triad = triad_bandwidth(comm, args.triad_n, repeat=10)
    nbytes = float(np.prod(shape)) * 4  # the whole field, read once
    rows = []
    for (call, label, impl), samples in wall.items():
        s = summary(samples)
        rows.append({"call": call, "over": label, "impl": impl, "time_s": s,
                     "cpu_s": summary(cpu[(call, label, impl)]),
                     "GBs": nbytes / s["median"] / 1e9,
                     "percent_of_triad": 100 * nbytes / s["median"] / 1e9
                     / triad["aggregate_GBs"]})
    med = {(r["call"], r["over"], r["impl"]): r["time_s"]["median"] for r in rows}
    for r in rows:
        key = (r["call"], r["over"])
        r["numpy_over_this"] = med[key + ("numpy",)] / r["time_s"]["median"]
        if old is not None:
            for field, samples in (("", rounds), ("cpu_", cpu_rounds)):
                ratios = [statistics.median(b) / statistics.median(t) for b, t in
                          zip(samples[key + ("baseline",)], samples[key + (r["impl"],)])]
                r[f"{field}baseline_over_this_rounds"] = ratios
                r[f"{field}baseline_over_this"] = statistics.median(ratios)
    info = machine(comm)  # collective: every rank
    rprint(f"reductions, {size} rank(s), float32 {shape} ({nbytes / 1e6:.0f} MB), grid "
           f"{grid.dims}; triad {triad['aggregate_GBs']:.2f} GB/s aggregate; load "
           f"{load_before[0]:.2f} -> {os.getloadavg()[0]:.2f}", comm=comm)
    rprint(f"{'call':5s} {'over':7s} {'impl':10s} {'median s':>9s} {'cpu s':>8s} "
           f"{'x numpy':>8s} {'x base':>7s} {'cpu x b':>7s} {'% triad':>8s}", comm=comm)
    for r in rows:
        rprint(f"{r['call']:5s} {r['over']:7s} {r['impl']:10s} {r['time_s']['median']:9.4f} "
               f"{r['cpu_s']['median']:8.4f} {r['numpy_over_this']:8.2f} "
               f"{r.get('baseline_over_this', float('nan')):7.2f} "
               f"{r.get('cpu_baseline_over_this', float('nan')):7.2f} "
               f"{r['percent_of_triad']:8.1f}", comm=comm)
    totals = {impl: sum(r["time_s"]["median"] for r in rows
                        if r["impl"] == impl and r["over"] == "all")
              for impl in ("clusterkit", "baseline", "numpy")
              if impl != "baseline" or old is not None}
    rprint("three calls over all axes: " + ", ".join(f"{k} {v:.4f} s"
                                                      for k, v in totals.items()), comm=comm)
    if comm.Get_rank() == 0:
        write_json(out, {"benchmark": "reductions", "machine": info, "shape": shape,
                         "dtype": "float32", "grid": list(grid.dims),
                         "bytes_read_per_call": nbytes, "load_average_before": load_before,
                         "load_average_after": os.getloadavg(),
                         "baseline": None if old is None else os.path.abspath(args.baseline),
                         "baseline_kernels": args.baseline_kernels and os.path.abspath(
                             args.baseline_kernels),
                         "triad": triad, "results": rows, "all_axes_totals_s": totals})
        rprint(f"wrote {out}", comm=comm)
    return 0


if __name__ == "__main__":
    sys.exit(main())
