"""What the period options and --region cost: climate-stats with and without them, one run.

    .venv/bin/python benchmarks/climate_periods.py [--shape 365,721,1440] [--repeat 3]
        [--cache warm] [--cases startup,plain,periods,region,region_seam]
        [--region=-30.1,30.1,0.1,107.6] [--region-seam=-30.1,30.1,-53.8,53.8]
        [--data-dir DIR] [--no-warmup] [--out bench-results/climate_periods.json]

On one year of the ERA5-size series of benchmarks/climate_stats.py (365x721x1440 float32,
1.5 GB; generated once by its ``make_series`` into the same --data-dir, so both benchmarks
share it), each case is ``clusterkit run -n 2 climate-stats IN OUT --overwrite`` plus:

- plain: nothing (the baseline);
- periods: ``--seasonal --annual --monthly M.nc --base-period B`` where B is the shortest
  span from the series' first month that holds every month of the series (the option
  requires every month to have base steps: for one year, the whole year);
- region, region_seam: ``--region LAT0,LAT1,LON0,LON1`` over about a tenth of the cells,
  the second crossing the 0 meridian (the JSON has each one's share of the cells);
- startup: climate-stats on a 12x3x4 file (``clusterkit make-dataset``): the fixed cost
  of a job, subtracted for region_net = (region - startup) / (plain - startup).

After one untimed run of each case (Numba loads or compiles the kernels), it alternates
rounds, rotating the cases' order; each run is from a warm page cache (the input read once
first, untimed) or, with --cache cold, after dropping it (where that is refused the JSON
says so and only warm runs are made). Per run it records the wall clock of the whole
command, the job's own seconds (its "in X s" line) and its peak memory per rank (the
largest over ranks, as the job prints it); per round the ratios periods/plain and
region/plain (also net of start-up, and of the job's own seconds), with their medians and
extremes, against the issue's goals (periods <= 1.3x plain, region net <= 0.2x plain).
The JSON also holds the commands, the machine and its load average at start and end.
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from climate_stats import (  # noqa: E402  (benchmarks/climate_stats.py)
    CK, PY, ROOT, drop_caches, make_series, read_through, timed)

__all__ = ["main", "base_period", "region_cells"]

CASES = ("startup", "plain", "periods", "region", "region_seam")
REGION_CASES = ("region", "region_seam")
STARTUP_SHAPE = "12,3,4"
#: the issue's goals: (ratio, bound); each ratio must be <= its bound
GOALS = (("periods_over_plain", 1.3), ("region_net_over_plain", 0.2),
         ("region_seam_net_over_plain", 0.2))


def base_period(path):
    """``START,END`` (``YYYY-MM``) from the series' first month to the first month by which
    every month of the series has appeared, and whether that is the whole series."""
    import cftime
    import netCDF4
    with netCDF4.Dataset(path) as f:
        t = f["time"]
        dates = cftime.num2date(t[:], t.units, calendar=getattr(t, "calendar", "standard"))
    months, seen = {d.month for d in dates}, set()
    for end in dates:
        seen.add(end.month)
        if seen == months:
            break
    first, last = dates[0], dates[-1]
    whole = (end.year, end.month) == (last.year, last.month)
    return f"{first.year:04d}-{first.month:02d},{end.year:04d}-{end.month:02d}", whole


def region_cells(path, spec):
    """Cells of the file's grid whose centres are inside ``LAT0,LAT1,LON0,LON1``: the
    latitudes and longitudes inside, their share of all cells, and whether the box
    crosses the 0 meridian (in the file's longitudes, 0..360)."""
    import netCDF4
    lat0, lat1, lon0, lon1 = (float(v) for v in spec.split(","))
    with netCDF4.Dataset(path) as f:
        lat, lon = np.asarray(f["lat"][:]), np.asarray(f["lon"][:])
    ny = int(np.count_nonzero((lat >= min(lat0, lat1)) & (lat <= max(lat0, lat1))))
    nx = int(np.count_nonzero((lon - lon0) % 360.0 <= (lon1 - lon0) % 360.0))
    share = ny * nx / (lat.size * lon.size)
    return {"spec": spec, "lat_cells": ny, "lon_cells": nx, "cells_fraction": share,
            "tenth_within_1_percent": abs(share - 0.1) <= 0.01,
            "crosses_0_meridian": lon0 % 360.0 > lon1 % 360.0}


def has_region(env):
    """Whether climate-stats takes --region (its help text, as users would see it)."""
    proc = subprocess.run([*CK, "run", "-n", "1", "climate-stats", "--help"],
                          capture_output=True, text=True, env=env, timeout=120)
    return "--region" in proc.stdout


def _startup_file(data_dir, env):
    path = os.path.join(data_dir, f"startup-{STARTUP_SHAPE.replace(',', 'x')}.nc")
    if not os.path.exists(path):
        subprocess.run([*CK, "make-dataset", path, "--shape", STARTUP_SHAPE], check=True,
                       capture_output=True, env=env, timeout=300)
    return path


def commands(names, inp, tiny, outdir, base, regions):
    """case → the climate-stats command line (a list) of each case in ``names``."""
    run = [*CK, "run", "-n", "2", "climate-stats"]
    extra = {"periods": ["--seasonal", "--annual", "--base-period", base, "--monthly",
                         os.path.join(outdir, "periods-monthly.nc")]}
    extra.update({n: [f"--region={regions[n]['spec']}"] for n in REGION_CASES})
    return {n: [*run, tiny if n == "startup" else inp, os.path.join(outdir, f"{n}.nc"),
                "--overwrite", *extra.get(n, [])] for n in names}


def _number(pattern, text):
    m = re.search(pattern, text)
    return float(m.group(1)) if m else None


def _output_check(names, outdir, regions, outputs):
    """What the outputs hold: the period variables, the regions' grid sizes and the
    share of the grid the job says it read."""
    import h5py
    check = {}
    if "periods" in names:
        with h5py.File(os.path.join(outdir, "periods.nc"), "r") as f:
            check["periods_variables"] = sorted(
                k for k in ("seasonal_climatology", "annual_mean", "annual_count") if k in f)
        check["monthly_file"] = os.path.exists(os.path.join(outdir, "periods-monthly.nc"))
    for n in REGION_CASES:
        if n in names:
            with h5py.File(os.path.join(outdir, f"{n}.nc"), "r") as f:
                shape = list(f["time_mean"].shape[-2:])
            check[f"{n}_output_cells"] = shape
            check[f"{n}_cells_match"] = shape == [regions[n]["lat_cells"],
                                                  regions[n]["lon_cells"]]
            check[f"{n}_job_percent_read"] = _number(r"cells: ([0-9.]+)% of the grid read",
                                             outputs[n])
    return check


def _net(a, b, s):
    """(a - s) / (b - s): NaN where the plain run is no longer than the start-up (tiny
    inputs, times printed to 0.01 s)."""
    return (a - s) / (b - s) if b > s else float("nan")


def ratios(wall, job):
    """Per round: periods/plain and each region/plain, of the wall clock, net of the
    start-up case's wall clock, and of the job's own seconds."""
    out = {}
    for n in ("periods", *REGION_CASES):
        if n not in wall or "plain" not in wall:
            continue
        out[f"{n}_over_plain"] = [a / b for a, b in zip(wall[n], wall["plain"])]
        out[f"{n}_job_over_plain"] = [a / b for a, b in zip(job[n], job["plain"])]
        if "startup" in wall:
            out[f"{n}_net_over_plain"] = [_net(a, b, s) for a, b, s in
                                          zip(wall[n], wall["plain"], wall["startup"])]
            out[f"{n}_job_net_over_plain"] = [_net(a, b, s) for a, b, s in
                                              zip(job[n], job["plain"], job["startup"])]
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--shape", default="365,721,1440", help="T,Y,X of the year")
    p.add_argument("--repeat", type=int, default=3, help="rounds")
    p.add_argument("--cache", default="warm", help="cold, warm or both")
    p.add_argument("--cases", default=",".join(CASES), help="comma list of " + ",".join(CASES))
    p.add_argument("--region", default="-30.1,30.1,0.1,107.6", help="LAT0,LAT1,LON0,LON1")
    p.add_argument("--region-seam", default="-30.1,30.1,-53.8,53.8",
                   help="a box crossing the 0 meridian")
    p.add_argument("--data-dir", "--data", dest="data_dir",
                   default=os.path.join(ROOT, "build", "bench-data"))
    p.add_argument("--no-warmup", action="store_true", help="no untimed first runs")
    p.add_argument("--out", default="bench-results/climate_periods.json")
    args = p.parse_args(argv)
    unknown = set(args.cases.split(",")) - set(CASES)
    if unknown:
        p.error(f"--cases: unknown {', '.join(sorted(unknown))}; valid: {', '.join(CASES)}")
    load_before = os.getloadavg()
    from clusterkit.bench.describe import host_info, summary
    machine_before = host_info()
    shape = tuple(int(v) for v in args.shape.split(","))
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    names = [n for n in CASES if n in args.cases.split(",")]
    skipped = {}
    if any(n in REGION_CASES for n in names) and not has_region(env):
        skipped = {n: "climate-stats has no --region" for n in names if n in REGION_CASES}
        names = [n for n in names if n not in skipped]
    (inp,) = make_series(args.data_dir, 1, shape)
    tiny = _startup_file(args.data_dir, env)
    outdir = os.path.join(os.path.dirname(inp), "out-periods")
    os.makedirs(outdir, exist_ok=True)
    base, whole = base_period(inp)
    regions = {n: region_cells(inp, s) for n, s in (("region", args.region),
                                                   ("region_seam", args.region_seam))}
    cmds = commands(names, inp, tiny, outdir, base, regions)
    modes = [m for m in ("cold", "warm") if m in args.cache.split(",")]
    refused = drop_caches() if "cold" in modes else None
    if refused:
        modes = ["warm"]
    if not args.no_warmup:
        for n in names:
            timed([cmds[n]], env)
    wall = {m: {n: [] for n in names} for m in modes}
    job = {m: {n: [] for n in names} for m in modes}
    peak = {m: {n: [] for n in names} for m in modes}
    outputs = {}
    for r in range(args.repeat):
        for n in names[r % len(names):] + names[:r % len(names)]:      # rotate the order
            for mode in modes:
                if mode == "cold":
                    drop_caches()
                else:
                    read_through([tiny if n == "startup" else inp])
                    os.sync()
                dt, out = timed([cmds[n]], env)
                wall[mode][n].append(dt)
                job[mode][n].append(_number(r" in ([0-9.]+) s", out))
                peak[mode][n].append(_number(r"peak memory per rank: (\d+)", out))
                outputs[n] = out
                print(f"round {r + 1} {mode:4s} {n:12s} {dt:8.2f} s "
                      f"(job {job[mode][n][-1]} s)", flush=True)
    per_round = {m: ratios(wall[m], job[m]) for m in modes}
    record = {
        "benchmark": "climate_periods", "input": inp, "shape": shape, "dtype": "float32",
        "bytes": os.path.getsize(inp), "ranks": 2, "rounds": args.repeat,
        "cache_modes": modes, "drop_caches_refused": refused,
        "base_period": base, "base_period_is_whole_series": whole,
        "base_period_note": "the shortest span from the first month holding every month "
                            "of the series (--base-period needs base steps in every month)",
        "regions": {n: regions[n] for n in REGION_CASES}, "skipped": skipped,
        "startup_shape": STARTUP_SHAPE,
        "commands": {n: " ".join(c) for n, c in cmds.items()},
        "samples_s": wall, "job_s": job, "peak_mib_per_rank": peak,
        "summary_s": {m: {n: summary(v) for n, v in wall[m].items()} for m in modes},
        "job_summary_s": {m: {n: summary(v) for n, v in job[m].items()} for m in modes},
        "ratios": {m: {k: {"rounds": v, **summary(v)} for k, v in per_round[m].items()}
                   for m in modes},
        "goals_met": {m: {f"{k} <= {b}": statistics.median(per_round[m][k]) <= b
                          for k, b in GOALS if k in per_round[m]} for m in modes},
        "outputs": _output_check(names, outdir, regions, outputs), "job_output": outputs,
        "load_average_before": load_before, "load_average_after": os.getloadavg(),
        "machine_before": machine_before, "machine_after": host_info(),
        "command": " ".join([PY] + (sys.argv if argv is None else [__file__, *argv])),
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(record, f, indent=2)
    for m in modes:
        print(f"{m}: case          wall median [min, max] s   job median s  peak MiB/rank")
        for n in names:
            s, j = record["summary_s"][m][n], record["job_summary_s"][m][n]
            print(f"  {n:12s} {s['median']:8.2f} [{s['min']:.2f}, {s['max']:.2f}]"
                  f"   {j['median']:8.2f}       {max(peak[m][n]):.0f}")
        for k, v in record["ratios"][m].items():
            print(f"  {k:28s} {v['median']:6.3f} [{v['min']:.3f}, {v['max']:.3f}]")
    print("regions: " + "; ".join(f"{n} {v['spec']} {v['cells_fraction']:.4f} of the cells"
                                    for n, v in record["regions"].items()))
    print(f"base period {base} (whole series: {whole}); load {load_before[0]:.2f} -> "
          f"{record['load_average_after'][0]:.2f}; skipped {skipped or 'none'}; "
          f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
