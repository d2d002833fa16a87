"""Weak scaling 1 -> 2 ranks of the diffusion job, raw and against STREAM's own 1 -> 2 scaling.

    python benchmarks/diffusion_weak.py [--block 2049,4096] [--steps 60] [--rounds 3]

A driver (run it with plain ``python``, not under mpirun): it launches, in
each round and in alternating order, ``benchmarks/stream.py`` and the
diffusion job (``--every 0``) on 1 and on 2 ranks, one Numba thread per rank,
as ``clusterkit run`` would. The diffusion grid is ``--block`` on 1 rank and
twice as wide on 2 ranks (the job splits it along longitude, so every rank
gets the same block). The job reports its time per step (slowest rank, the
first step excluded); STREAM its aggregate triad bandwidth.

* raw weak-scaling efficiency = t_step(1 rank) / t_step(2 ranks);
* STREAM's 1 -> 2 efficiency = triad GB/s(2 ranks) / (2 x triad GB/s(1 rank)):
  what the memory system allows a memory-bound code;
* relative efficiency = raw / STREAM's.

Medians over the rounds, and the median of the per-round relative
efficiencies (less sensitive to load that drifts between rounds); every
sample goes into the JSON record.
"""

import argparse
import json
import os
import pathlib
import re
import statistics
import sys
import tempfile

from clusterkit.testing import run_mpi

__all__ = ["main"]

HERE = pathlib.Path(__file__).resolve().parent
STEP = re.compile(r"([\d.]+) ms/step")


def _env():
    return dict(os.environ, NUMBA_NUM_THREADS="1")


def stream_once(nranks, n, tmp):
    """Aggregate triad GB/s on ``nranks`` ranks (one launch of benchmarks/stream.py)."""
    out = pathlib.Path(tmp) / f"stream{nranks}.json"
    res = run_mpi(nranks, str(HERE / "stream.py"), ["--n", str(n), "--out", str(out)],
                  module=False, env=_env(), timeout=600)
    if res.returncode:
        raise RuntimeError(f"stream.py on {nranks} ranks failed:\n{res.stderr}")
    return json.loads(out.read_text())["results"]["aggregate_GBs"]


def diffusion_once(nranks, block, steps):
    """Seconds per step of the diffusion job on ``nranks`` ranks, ``block`` per rank."""
    shape = f"{block[0]},{block[1] * nranks}"
    res = run_mpi(nranks, "clusterkit.jobs.diffusion",
                  ["--shape", shape, "--steps", str(steps), "--every", "0"],
                  env=_env(), timeout=600)
    m = STEP.search(res.stdout)
    if res.returncode or not m:
        raise RuntimeError(f"diffusion on {nranks} ranks failed:\n{res.stdout}{res.stderr}")
    if f"process grid 1x{nranks}" not in res.stdout:
        raise RuntimeError(f"expected a 1x{nranks} process grid:\n{res.stdout}")
    return float(m.group(1)) / 1e3


def main(argv=None):
    """Run the benchmark, print a table and write the JSON record."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--block", default="2049,4096", help="NY,NX per rank (default 2049,4096)")
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--stream-n", type=int, default=1 << 24)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--out", default="bench-results/diffusion_weak.json")
    args = p.parse_args(argv)
    block = tuple(int(s) for s in args.block.split(","))
    samples = {"stream_GBs": {1: [], 2: []}, "step_s": {1: [], 2: []}}
    with tempfile.TemporaryDirectory() as tmp:
        for rnd in range(args.rounds):
            for nranks in ((1, 2) if rnd % 2 == 0 else (2, 1)):
                samples["stream_GBs"][nranks].append(stream_once(nranks, args.stream_n, tmp))
                samples["step_s"][nranks].append(diffusion_once(nranks, block, args.steps))
            print(f"round {rnd + 1}/{args.rounds}: "
                  f"stream {samples['stream_GBs'][1][-1]:.1f} / {samples['stream_GBs'][2][-1]:.1f}"
                  f" GB/s, step {samples['step_s'][1][-1] * 1e3:.2f} / "
                  f"{samples['step_s'][2][-1] * 1e3:.2f} ms (1 / 2 ranks)", flush=True)
    med = {k: {n: statistics.median(v[n]) for n in (1, 2)} for k, v in samples.items()}
    raw = med["step_s"][1] / med["step_s"][2]
    stream_eff = med["stream_GBs"][2] / (2 * med["stream_GBs"][1])
    # cells x (read u + write v) / time: the job's own achieved bandwidth, STREAM convention
    cells = block[0] * block[1]
    job_gbs = {n: n * cells * 16 / med["step_s"][n] / 1e9 for n in (1, 2)}
    print(f"diffusion weak scaling, block {block[0]}x{block[1]} per rank, {args.steps} steps, "
          f"1 thread per rank, medians of {args.rounds} rounds")
    print(f"{'ranks':>5s} {'ms/step':>9s} {'job GB/s':>9s} {'triad GB/s':>11s}")
    for n in (1, 2):
        print(f"{n:5d} {med['step_s'][n] * 1e3:9.2f} {job_gbs[n]:9.2f} "
              f"{med['stream_GBs'][n]:11.2f}")
    print(f"raw weak-scaling efficiency 1->2: {raw:6.1%}")
    print(f"STREAM's own 1->2 efficiency:     {stream_eff:6.1%}")
    print(f"relative efficiency:              {raw / stream_eff:6.1%}")
    # the same, paired within each round (both measured minutes apart at most)
    paired = statistics.median(
        (t1 / t2) / (b2 / (2 * b1)) for t1, t2, b1, b2 in zip(
            samples["step_s"][1], samples["step_s"][2],
            samples["stream_GBs"][1], samples["stream_GBs"][2]))
    print(f"relative efficiency, median of per-round ratios: {paired:6.1%}")
    from clusterkit.bench.record import machine, write_json  # initialises MPI: only now
    from clusterkit.comm import world
    write_json(args.out, {
        "benchmark": "diffusion_weak", "machine": machine(world()),
        "block_per_rank": list(block), "steps": args.steps, "threads_per_rank": 1,
        "samples": {k: {str(n): v[n] for n in (1, 2)} for k, v in samples.items()},
        "median": {k: {str(n): v[n] for n in (1, 2)} for k, v in med.items()},
        "job_GBs_stream_convention": {str(n): v for n, v in job_gbs.items()},
        "raw_efficiency": raw, "stream_efficiency": stream_eff,
        "relative_efficiency": raw / stream_eff, "relative_efficiency_paired": paired})
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
