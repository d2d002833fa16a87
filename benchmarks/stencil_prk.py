"""The PRK stencil job (n=8000, star, r=2) on 1 and 2 ranks vs NumPy and, optionally, PRK's C.

    python benchmarks/stencil_prk.py [--n 8000] [--radius 2] [--iterations 20] [--rounds 3]
                                     [--prk-binary PATH] [--baseline-path DIR]

A driver (run it with plain ``python``, not under mpirun). In each round it
launches the clusterkit stencil job on 1 and 2 ranks (one Numba thread per
rank, as ``clusterkit run`` launches it) and, with ``--prk-binary``, the
Parallel Research Kernels' C MPI1 stencil (built separately: star, double,
``make stencil RADIUS=<radius>``; its MPI1 version has no box stencil) with
the same launcher flags; both report PRK's ``Rate (MFlops/s)`` line, which is
parsed, and a PRK binary built for another radius is refused. With
``--baseline-path`` the stencil job of another build of clusterkit (a directory
holding a ``clusterkit`` package, put first on ``PYTHONPATH``; e.g. ``pip install
--no-deps --target DIR`` of another commit) runs in the same rounds: an A/B
comparison under the same load. The order of the programs alternates between
rounds. A NumPy implementation of the same benchmark (slices of the whole grid,
one rank) runs in this process, timed the PRK way (first iteration excluded).
Medians over rounds; ratios against PRK's C, the baseline and NumPy, and the
medians of the per-round ratios; every sample and the load average go into the
JSON record.
"""

import argparse
import os
import re
import statistics
import subprocess
import sys
import time

import numpy as np

from clusterkit.launch import job_environment, mpi_flavour, mpirun_command
from clusterkit.testing import run_mpi

__all__ = ["main", "numpy_stencil"]

RATE = re.compile(r"^Rate \(MFlops/s\): ([\d.]+)\s+Avg time \(s\): ([\d.]+)", re.M)


def _env(pythonpath=None):
    env = dict(os.environ, NUMBA_NUM_THREADS="1")
    if pythonpath:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (pythonpath, env.get("PYTHONPATH")) if p)
    return env


def numpy_stencil(iterations, n, radius=2):
    """PRK's star stencil in NumPy on one process; return (MFlop/s, avg seconds, valid)."""
    from clusterkit.kernels import stencil_weights
    w = stencil_weights(radius, "star")
    r = radius
    a = np.add.outer(np.arange(n, dtype=np.float64), np.arange(n, dtype=np.float64))
    b = np.zeros((n, n))
    inner = b[r:n - r, r:n - r]
    terms = [(w[di, dj], (slice(di, n - 2 * r + di), slice(dj, n - 2 * r + dj)))
             for di, dj in zip(*np.nonzero(w))]
    t0 = 0.0
    for it in range(iterations + 1):
        if it == 1:
            t0 = time.perf_counter()
        for weight, window in terms:
            inner += weight * a[window]
        a += 1.0
    avg = (time.perf_counter() - t0) / iterations
    norm = np.abs(inner).sum() / (n - 2 * r) ** 2
    valid = abs(norm - 2.0 * (iterations + 1)) <= 1e-8
    flops = (2 * (4 * r + 1) + 1) * float(n - 2 * r) ** 2
    return 1e-6 * flops / avg, avg, bool(valid)


def _parse(text, what):
    m = RATE.search(text)
    if not m or "Solution validates" not in text:
        raise RuntimeError(f"{what} did not validate:\n{text}")
    return float(m.group(1))


def clusterkit_once(nranks, iterations, n, radius=2, pythonpath=None):
    """MFlop/s of the clusterkit stencil job on ``nranks`` ranks (of the clusterkit
    package found first on ``pythonpath``, if given)."""
    res = run_mpi(nranks, "clusterkit.jobs.stencil",
                  [str(iterations), str(n), "star", str(radius)], env=_env(pythonpath),
                  timeout=900)
    return _parse(res.stdout + res.stderr, f"clusterkit stencil on {nranks} ranks"
                  + (f" from {pythonpath}" if pythonpath else ""))


def prk_once(binary, nranks, iterations, n, radius=2):
    """MFlop/s of PRK's C MPI1 stencil, launched with the same mpirun flags."""
    argv = mpirun_command(nranks, "PRK", flavour=mpi_flavour(), module=False, python="PY")
    argv = argv[:argv.index("PY")] + [binary, str(iterations), str(n)]
    proc = subprocess.run(argv, env=job_environment(nranks, env=_env()), capture_output=True,
                          text=True, timeout=900, stdin=subprocess.DEVNULL)
    text = proc.stdout + proc.stderr
    built = re.search(r"^Radius of stencil\s*=\s*(\d+)", text, re.M)
    if built and int(built.group(1)) != radius:
        raise RuntimeError(f"{binary} was built with RADIUS={built.group(1)}, not {radius}: "
                           f"rebuild it with make stencil RADIUS={radius}")
    return _parse(text, f"PRK stencil on {nranks} ranks")


def main(argv=None):
    """Run the benchmark, print a table and write the JSON record."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=8000)
    p.add_argument("--radius", type=int, default=2)
    p.add_argument("--iterations", type=int, default=20)
    p.add_argument("--numpy-iterations", type=int, default=3)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--prk-binary", metavar="PATH",
                   help="PRK's MPI1/Stencil/stencil built with the same RADIUS (optional)")
    p.add_argument("--baseline-path", metavar="DIR",
                   help="a directory holding another build of the clusterkit package, whose "
                        "stencil job runs in the same rounds (optional)")
    p.add_argument("--out", help="JSON record (default bench-results/stencil_prk.json, "
                                 "stencil_prk-r<radius>.json for another radius)")
    args = p.parse_args(argv)
    if args.radius < 1 or args.n < 2 * args.radius + 1:
        p.error(f"--radius must be >= 1 and --n >= 2*radius+1, got {args.radius}, {args.n}")
    args.out = args.out or ("bench-results/stencil_prk.json" if args.radius == 2
                            else f"bench-results/stencil_prk-r{args.radius}.json")
    if args.prk_binary and not os.access(args.prk_binary, os.X_OK):
        p.error(f"--prk-binary {args.prk_binary!r} is not an executable file")
    if args.baseline_path and not os.path.isdir(os.path.join(args.baseline_path, "clusterkit")):
        p.error(f"--baseline-path {args.baseline_path!r} holds no clusterkit package")
    programs = {"clusterkit": lambda k: clusterkit_once(k, args.iterations, args.n, args.radius)}
    if args.baseline_path:
        programs["baseline"] = lambda k: clusterkit_once(k, args.iterations, args.n,
                                                         args.radius, args.baseline_path)
    if args.prk_binary:
        programs["prk_c"] = lambda k: prk_once(args.prk_binary, k, args.iterations, args.n,
                                               args.radius)
    runs = {name: {1: [], 2: []} for name in programs}
    load = [os.getloadavg()[0]]
    for rnd in range(args.rounds):
        for nranks in ((1, 2) if rnd % 2 == 0 else (2, 1)):
            for name in (list(programs) if rnd % 2 == 0 else list(programs)[::-1]):
                runs[name][nranks].append(programs[name](nranks))
        load.append(os.getloadavg()[0])
        print(f"round {rnd + 1}/{args.rounds}: " + ", ".join(
            f"{name} {v[1][-1]:.0f} / {v[2][-1]:.0f}" for name, v in runs.items())
            + f" MFlop/s (1 / 2 ranks); load average {load[-1]:.1f}", flush=True)
    np_rate, np_avg, np_valid = numpy_stencil(args.numpy_iterations, args.n, args.radius)
    if not np_valid:
        raise RuntimeError("the NumPy stencil did not validate")
    med = {name: {n: statistics.median(v[n]) for n in (1, 2)} for name, v in runs.items()}
    print(f"PRK stencil n={args.n}, star, r={args.radius}, {args.iterations} iterations, "
          f"1 thread per rank; MFlop/s, medians of {args.rounds} rounds")
    print(f"{'ranks':>5s} {'clusterkit':>11s} {'PRK C':>9s} {'ck/PRK':>7s} {'ck/NumPy':>9s}")
    ratios = {}
    for n in (1, 2):
        ck = med["clusterkit"][n]
        prk = med.get("prk_c", {}).get(n)
        ratios[n] = {"vs_numpy": ck / np_rate, "vs_prk_c": ck / prk if prk else None}
        print(f"{n:5d} {ck:11.0f} {prk if prk else float('nan'):9.0f} "
              f"{ratios[n]['vs_prk_c'] or float('nan'):7.2f} {ratios[n]['vs_numpy']:9.1f}")
    for other, label in (("prk_c", "PRK C"), ("baseline", "baseline")):
        if other not in runs:
            continue
        for n in (1, 2):  # paired within each round: less sensitive to drifting load
            per_round = [c / p for c, p in zip(runs["clusterkit"][n], runs[other][n])]
            ratios[n][f"vs_{other}_paired"] = statistics.median(per_round)
            print(f"clusterkit / {label} on {n} rank(s), median of per-round ratios: "
                  f"{ratios[n][f'vs_{other}_paired']:.2f} (rounds: "
                  + ", ".join(f"{x:.2f}" for x in per_round) + ")")
    print(f"NumPy (1 process): {np_rate:.0f} MFlop/s, {np_avg:.3f} s per iteration")
    from clusterkit.bench.record import machine, write_json  # initialises MPI: only now
    from clusterkit.comm import world
    write_json(args.out, {
        "benchmark": "stencil_prk", "machine": machine(world()), "n": args.n,
        "radius": args.radius, "pattern": "star", "iterations": args.iterations,
        "threads_per_rank": 1,
        "prk_binary": args.prk_binary, "baseline_path": args.baseline_path,
        "load_average_1min": load,
        "samples_MFlops": {k: {str(n): v[n] for n in (1, 2)} for k, v in runs.items()},
        "median_MFlops": {k: {str(n): v[n] for n in (1, 2)} for k, v in med.items()},
        "numpy": {"MFlops": np_rate, "avg_s": np_avg, "iterations": args.numpy_iterations},
        "ratios": {str(n): v for n, v in ratios.items()}})
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
