"""climate-stats vs xarray+Dask vs CDO vs the I/O floor, end to end, in one run.

    bash benchmarks/setup-baselines.sh          # CDO and dask, once
    .venv/bin/python benchmarks/climate_stats.py [--shape 365,721,1440] [--repeat 3]
        [--data DIR] [--out bench-results/climate_stats.json]

Generates the dataset once (an ERA5-size year by default: 365x721x1440
float32, 1.5 GB), then alternates, per repeat: the I/O floor (the same ranks
just reading the variable), clusterkit climate-stats on --ranks ranks, xarray
+ Dask (threaded scheduler, 2 workers) computing the same statistics, and CDO
-P 2 running fldmean, zonmean, ymonmean, timmean, timstd, timmax. Every time
is wall clock of the whole command, start-up and I/O included. Before each
command the file system is synced (untimed), so no tool pays for writing back
the previous tool's output. Medians and ratios go to JSON.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PY = sys.executable

XARRAY = r"""
import sys, numpy as np, xarray as xr, dask
src, n = sys.argv[1], int(sys.argv[2])
dask.config.set(scheduler="threads", num_workers=n)
ds = xr.open_dataset(src, engine="h5netcdf", chunks={"time": 73},
                     decode_times=xr.coders.CFDatetimeCoder(use_cftime=True))
x = ds["tas"].astype("f8")
w = np.cos(np.deg2rad(ds["lat"]))
out = xr.Dataset({"global_mean": x.weighted(w).mean(("lat", "lon")),
                  "zonal_mean": x.mean("lon"),
                  "climatology": x.groupby("time.month").mean("time"),
                  "time_mean": x.mean("time"), "time_std": x.std("time"),
                  "time_min": x.min("time"), "time_max": x.max("time")})
out.to_netcdf(sys.argv[3], engine="h5netcdf")
"""


def timed(cmd, env=None):
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    dt = time.perf_counter() - t0
    if proc.returncode:
        raise RuntimeError(f"{cmd[:4]}... failed: {proc.stderr[-2000:]}")
    return dt, proc.stdout


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--shape", default="365,721,1440")
    p.add_argument("--ranks", type=int, default=2)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--data", default=os.path.join(ROOT, "build", "bench-data"))
    p.add_argument("--out", default="bench-results/climate_stats.json")
    p.add_argument("--skip", default="", help="comma list of: xarray,cdo")
    args = p.parse_args(argv)
    skip = set(filter(None, args.skip.split(",")))
    os.makedirs(args.data, exist_ok=True)
    src = os.path.join(args.data, f"climate-{args.shape.replace(',', 'x')}.nc")
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    ck = [PY, "-m", "clusterkit.cli.main"]
    if not os.path.exists(src):
        subprocess.run(["mpirun", "-n", str(args.ranks), *ck, "make-dataset", src, "--shape",
                        args.shape], check=True, env=env)
    size = os.path.getsize(src)
    tmp = os.path.join(args.data, "out")
    os.makedirs(tmp, exist_ok=True)
    cases = {
        # launched like the job (same launcher, transport and start-up)
        "io_floor": lambda: timed([*ck, "run", "-n", str(args.ranks),
                                   os.path.join(ROOT, "benchmarks", "read_floor.py"), src],
                                  env),
        "clusterkit": lambda: timed([*ck, "run", "-n", str(args.ranks), "climate-stats", src,
                                     os.path.join(tmp, "ck.nc"), "--overwrite"], env),
    }
    if "xarray" not in skip:
        cases["xarray_dask"] = lambda: timed([PY, "-c", XARRAY, src, "2",
                                              os.path.join(tmp, "xr.nc")])
    if "cdo" not in skip and shutil.which("cdo"):
        def cdo():
            total = 0.0
            for op in ("fldmean", "zonmean", "ymonmean", "timmean", "timstd", "timmax"):
                total += timed(["cdo", "-s", "-O", "-P", "2", op, src,
                                os.path.join(tmp, f"cdo-{op}.nc")])[0]
            return total, ""
        cases["cdo"] = cdo
    samples = {k: [] for k in cases}
    notes = {}
    for _ in range(args.repeat):
        for name, fn in cases.items():
            os.sync()   # the previous command's dirty pages are not this one's cost
            dt, out = fn()
            samples[name].append(dt)
            if name == "clusterkit":
                notes["clusterkit_output"] = out
    med = {k: statistics.median(v) for k, v in samples.items()}
    ratios = {f"{k}_over_clusterkit": med[k] / med["clusterkit"] for k in med
              if k != "clusterkit"}
    ratios["clusterkit_over_io_floor"] = med["clusterkit"] / med["io_floor"]
    record = {"benchmark": "climate_stats", "shape": args.shape, "file_bytes": size,
              "ranks": args.ranks, "samples_s": samples, "median_s": med, "ratios": ratios,
              "load_average": os.getloadavg(), **notes,
              "command": " ".join([sys.executable] + sys.argv)}
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(record, f, indent=2)
    for k, v in med.items():
        print(f"{k:14s} median {v:7.2f} s")
    for k, v in ratios.items():
        print(f"{k:30s} {v:6.2f}x")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    sys.exit(main())
