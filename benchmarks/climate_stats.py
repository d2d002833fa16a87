"""climate-stats vs CDO vs xarray+Dask vs the I/O floor, end to end, cold and warm, one run.

    bash benchmarks/setup-baselines.sh          # CDO, and dask in build/baselines, once
    .venv/bin/python benchmarks/climate_stats.py [--files 4] [--shape 365,721,1440]
        [--repeat 3] [--baseline-repeat N] [--cache cold,warm] [--data-dir DIR] [--skip xarray,cdo]
        [--out bench-results/climate_stats.json]

Generates the series once into --data-dir (reused when present and complete): --files
files of one year each, ERA5-size by default (365x721x1440 float32, 1.5 GB a file, ERA5's
latitudes 90..-90 and longitudes 0..359.75), years 2001, 2002, ..., each file's time in
its own units as downloads come (hours since 1900, days since its year, hours since its
year, seconds since 1970). After one untimed clusterkit run (Numba loads or compiles its
kernels), it alternates rounds, rotating the contenders' order; in each round each runs
from a cold page cache (sync, ``echo 1 > /proc/sys/vm/drop_caches``; where that is
refused the JSON says so and only warm runs are made) and then warm (the files read once
first, untimed), all computing the same statistics (global mean, zonal mean, monthly
climatology, time mean/std/min/max, trend):

- io_floor: ``clusterkit run -n R benchmarks/read_floor.py FILES`` (the same ranks and
  reads as the job, no statistics);
- clusterkit: ``clusterkit run -n R climate-stats FILES OUT``;
- xarray_dask: ``open_mfdataset`` + Dask (threaded scheduler, 2 workers), one script;
- cdo: ``cdo -P 2`` fldmean, zonmean, ymonmean, timmean, timstd, timmin, timmax, trend,
  one after another, each over ``-mergetime FILES`` (over the file itself for one file).

Every time is the wall clock of the whole command(s), start-up and I/O included; before
each, the file system is synced (untimed), so no tool pays for writing back the previous
tool's output. The JSON holds every sample, medians, ratios (cdo and xarray_dask over
clusterkit, clusterkit over io_floor) of the medians and, per round, of the runs made in
that round (same load; the baselines' rounds only, with --baseline-repeat), clusterkit's
peak memory per rank against the floor's (the same ranks holding one chunk) and the job's
own estimate (accumulators and one chunk), a profile of one
extra clusterkit run per cache state (CLUSTERKIT_PROFILE_JSON), and the agreement of the
outputs (clusterkit vs xarray on every statistic, vs CDO on global and time mean): the run
fails if they disagree, so a fast wrong answer cannot win.
"""

import argparse
import datetime
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PY = sys.executable
CK = [PY, "-m", "clusterkit.cli.main"]
CDO_OPS = ("fldmean", "zonmean", "ymonmean", "timmean", "timstd", "timmin", "timmax", "trend")
#: each file's time units (by file index modulo 4): what ERA5 and other downloads use
TIME_UNITS = ("hours since 1900-01-01 00:00:00.0", "days since {year}-01-01",
              "hours since {year}-01-01 00:00:00", "seconds since 1970-01-01")
#: the slow contenders, which --baseline-repeat may run in fewer rounds
BASELINES = ("xarray_dask", "cdo")
TIME_TYPES = ("i4", "f8", "i4", "i8")
FIRST_YEAR = 2001

XARRAY = r"""
import sys, numpy as np, xarray as xr, dask
out, n, files = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
dask.config.set(scheduler="threads", num_workers=n)
ds = xr.open_mfdataset(files, engine="h5netcdf", chunks={"time": 73})
x = ds["tas"].astype("f8")
w = np.cos(np.deg2rad(ds["lat"]))
years = (ds["time"] - ds["time"][0]) / np.timedelta64(1, "D") / 365.25
tc = years - years.mean()
trend = (x * tc).sum("time") / (tc * tc).sum()
out_ds = xr.Dataset({"global_mean": x.weighted(w).mean(("lat", "lon")),
                     "zonal_mean": x.mean("lon"),
                     "climatology": x.groupby("time.month").mean("time"),
                     "time_mean": x.mean("time"), "time_std": x.std("time"),
                     "time_min": x.min("time"), "time_max": x.max("time"), "trend": trend})
out_ds.to_netcdf(out, engine="h5netcdf")
"""


def series_paths(data_dir, files, shape):
    """The directory and the files of the generated series."""
    folder = os.path.join(data_dir, f"climate-series-{files}x{'x'.join(map(str, shape))}")
    return folder, [os.path.join(folder, f"tas-{FIRST_YEAR + k}.nc") for k in range(files)]


def _complete(path, k, shape):
    """Whether ``path`` is file ``k`` of the series as this script writes it."""
    import netCDF4
    try:
        with netCDF4.Dataset(path) as f:
            return (f.getncattr("bench_series") == f"{k} {shape}"
                    and f["tas"].shape == tuple(shape)
                    and f["time"].units == TIME_UNITS[k % 4].format(year=FIRST_YEAR + k))
    except (OSError, KeyError, AttributeError):
        return False


def write_year(path, k, shape, slab=16):
    """Write file ``k`` of the series (year FIRST_YEAR + k) to ``path``, via a temporary
    renamed when complete; values from :func:`clusterkit.io.synth.synthetic_values` of
    the days since the series' start, so the years continue one another."""
    import cftime
    import netCDF4
    from clusterkit.io.synth import synthetic_values
    nt, ny, nx = shape
    year = FIRST_YEAR + k
    lat = np.linspace(90.0, -90.0, ny)
    lon = np.arange(nx) * (360.0 / nx)
    start = cftime.datetime(year, 1, 1, calendar="standard")
    dates = [start + datetime.timedelta(days=i) for i in range(nt)]
    units = TIME_UNITS[k % 4].format(year=year)
    days = cftime.date2num(dates, f"days since {FIRST_YEAR}-01-01", calendar="standard")
    tmp = path + ".tmp"
    with netCDF4.Dataset(tmp, "w", format="NETCDF4") as f:
        f.setncatts({"title": "clusterkit benchmark series", "bench_series": f"{k} {shape}"})
        for name, n in (("time", nt), ("lat", ny), ("lon", nx)):
            f.createDimension(name, n)
        t = f.createVariable("time", TIME_TYPES[k % 4], ("time",))
        t.setncatts({"units": units, "calendar": "standard", "standard_name": "time",
                     "axis": "T"})
        t[:] = cftime.date2num(dates, units, calendar="standard")
        for name, values, u in (("lat", lat, "degrees_north"), ("lon", lon, "degrees_east")):
            v = f.createVariable(name, "f8", (name,))
            v.setncatts({"units": u, "standard_name": "latitude" if name == "lat"
                         else "longitude", "axis": "Y" if name == "lat" else "X"})
            v[:] = values
        v = f.createVariable("tas", "f4", ("time", "lat", "lon"), fill_value=np.float32(1e20),
                             contiguous=True)
        v.setncatts({"units": "K", "standard_name": "air_temperature"})
        for a in range(0, nt, slab):
            b = min(nt, a + slab)
            v[a:b] = synthetic_values(days[a:b], 365.25, lat, lon).astype(np.float32)
    os.replace(tmp, path)


def make_series(data_dir, files, shape):
    """Generate the series' files that are missing or incomplete; return their paths."""
    folder, paths = series_paths(data_dir, files, shape)
    os.makedirs(folder, exist_ok=True)
    for k, path in enumerate(paths):
        if not _complete(path, k, shape):
            t0 = time.perf_counter()
            write_year(path, k, shape)
            print(f"generated {path} in {time.perf_counter() - t0:.0f} s", flush=True)
    return paths


def drop_caches():
    """Empty the page cache (after a sync); return None, or why it was refused."""
    os.sync()
    try:
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("1\n")
        return None
    except OSError as e:
        return f"{type(e).__name__}: {e}"


def read_through(paths):
    """Read the files once so that they are in the page cache."""
    for path in paths:
        with open(path, "rb", buffering=0) as f:
            while f.read(1 << 26):
                pass


def timed(cmds, env=None, timeout=3600):
    """Wall-clock seconds of running ``cmds`` one after another, and their stdout; the
    process group of a command that hangs past ``timeout`` is killed."""
    out = []
    t0 = time.perf_counter()
    for cmd in cmds:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, env=env, start_new_session=True)
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise RuntimeError(f"{' '.join(cmd[:6])} ... timed out after {timeout} s")
        if proc.returncode:
            raise RuntimeError(f"{' '.join(cmd[:6])} ... failed: {stderr[-2000:]}")
        out.append(stdout)
    return time.perf_counter() - t0, "".join(out)


def contenders(args, paths, outdir, skip):
    """name → list of commands, run one after another and timed together."""
    run = [*CK, "run", "-n", str(args.ranks)]
    cases = {
        "io_floor": [[*run, os.path.join(ROOT, "benchmarks", "read_floor.py"), *paths]],
        "clusterkit": [[*run, "climate-stats", *paths, os.path.join(outdir, "ck.nc"),
                        "--overwrite"]],
    }
    if "xarray" not in skip:
        cases["xarray_dask"] = [[args.baseline_python, "-c", XARRAY,
                                 os.path.join(outdir, "xr.nc"), "2", *paths]]
    if "cdo" not in skip and shutil.which("cdo"):
        source = ["-mergetime", *paths] if len(paths) > 1 else paths
        cases["cdo"] = [["cdo", "-s", "-O", "-P", "2", op, *source,
                         *[os.path.join(outdir, f"cdo-{op}{s}.nc")
                           for s in (("-a", "-b") if op == "trend" else ("",))]]
                        for op in CDO_OPS]
    return cases


def _read(path, name):
    import h5py
    with h5py.File(path, "r") as f:
        return f[name][...].astype(np.float64).squeeze()


def compare_outputs(outdir, names):
    """Largest relative difference of each statistic: clusterkit vs xarray (every one) and
    vs CDO (global mean and time mean; CDO weights by cell area, not cos(latitude))."""
    ck = os.path.join(outdir, "ck.nc")
    diff = {}

    def rel(a, b):
        with np.errstate(invalid="ignore", divide="ignore"):
            return float(np.nanmax(np.abs(a - b) / np.maximum(np.abs(b), 1e-300)))
    if "xarray_dask" in names:
        xr_out = os.path.join(outdir, "xr.nc")
        for v in ("global_mean", "zonal_mean", "climatology", "time_mean", "time_std",
                  "time_min", "time_max"):
            diff[f"xarray_{v}"] = rel(_read(ck, v), _read(xr_out, v))
        # the trend is near zero in places: compare against its largest value
        a, b = _read(ck, "trend"), _read(xr_out, "trend")
        diff["xarray_trend"] = float(np.nanmax(np.abs(a - b)) / np.nanmax(np.abs(b)))
    if "cdo" in names:
        diff["cdo_global_mean"] = rel(_read(ck, "global_mean"),
                                      _read(os.path.join(outdir, "cdo-fldmean.nc"), "tas"))
        diff["cdo_time_mean"] = rel(_read(ck, "time_mean"),
                                    _read(os.path.join(outdir, "cdo-timmean.nc"), "tas"))
    return diff


#: (numerator, denominator) of the ratios reported
RATIOS = (("cdo", "clusterkit"), ("xarray_dask", "clusterkit"), ("clusterkit", "io_floor"))
#: the issue's goals, end to end: (ratio, comparison, bound)
GOALS = (("cdo_over_clusterkit", ">=", 5.0), ("xarray_dask_over_clusterkit", ">=", 10.0),
         ("clusterkit_over_io_floor", "<=", 1.3))
#: largest relative difference accepted per comparison
TOLERANCE = {"cdo_global_mean": 1e-4}
DEFAULT_TOLERANCE = 1e-6


def profile(cmd, env, cold):
    """One extra clusterkit run with CLUSTERKIT_PROFILE_JSON: seconds per region."""
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "profile.json")
        if cold:
            drop_caches()
        else:
            os.sync()
        wall, _ = timed([cmd], dict(env, CLUSTERKIT_PROFILE_JSON=path))
        with open(path) as f:
            prof = json.load(f)
    keep = {k: prof[k] for k in ("wall_s", "breakdown_s") if k in prof}
    keep["regions_max_s"] = {k: round(v["max_s"], 4) for k, v in prof["regions"].items()}
    return {"command_wall_s": wall, **keep}


def round_ratios(samples):
    """Per mode, each ratio of :data:`RATIOS` in every round where both were run (the
    same round's runs shared the machine's load), and their median."""
    out = {}
    for mode, s in samples.items():
        out[mode] = {}
        for num, den in RATIOS:
            if num in s and den in s:
                rounds = [a / b for a, b in zip(s[num], s[den])]
                out[mode][f"{num}_over_{den}"] = {"rounds": rounds,
                                                  "median": statistics.median(rounds)}
    return out


def _number(pattern, text):
    m = re.search(pattern, text)
    return float(m.group(1)) if m else None


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--files", type=int, default=1, help="files (years) in the series")
    p.add_argument("--shape", default="365,721,1440", help="T,Y,X of each file")
    p.add_argument("--ranks", type=int, default=2)
    p.add_argument("--repeat", type=int, default=3, help="rounds")
    p.add_argument("--baseline-repeat", type=int,
                   help="rounds that also run CDO and xarray (default: all)")
    p.add_argument("--cache", default="cold,warm", help="cold, warm or both")
    p.add_argument("--data-dir", "--data", dest="data_dir",
                   default=os.path.join(ROOT, "build", "bench-data"))
    p.add_argument("--baseline-python",
                   default=os.path.join(ROOT, "build", "baselines", "bin", "python"),
                   help="python with dask (benchmarks/setup-baselines.sh makes it)")
    p.add_argument("--out", default="bench-results/climate_stats.json")
    p.add_argument("--skip", default="", help="comma list of: xarray,cdo")
    p.add_argument("--no-profile", action="store_true")
    args = p.parse_args(argv)
    skip = set(filter(None, args.skip.split(",")))
    if args.baseline_repeat is None:
        args.baseline_repeat = args.repeat
    shape = tuple(int(v) for v in args.shape.split(","))
    if not os.path.exists(args.baseline_python):
        args.baseline_python = PY
    paths = make_series(args.data_dir, args.files, shape)
    outdir = os.path.join(os.path.dirname(paths[0]), "out")
    os.makedirs(outdir, exist_ok=True)
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    cases = contenders(args, paths, outdir, skip)
    modes = [m for m in ("cold", "warm") if m in args.cache.split(",")]
    refused = drop_caches() if "cold" in modes else None
    if refused:
        modes = ["warm"]
    from clusterkit.bench.describe import host_info
    record = {"benchmark": "climate_stats", "files": args.files, "shape_per_file": shape,
              "dtype": "float32", "bytes": sum(os.path.getsize(q) for q in paths),
              "ranks": args.ranks, "rounds": args.repeat,
              "baseline_rounds": min(args.repeat, args.baseline_repeat), "cache_modes": modes,
              "drop_caches_refused": refused,
              "commands": {k: [" ".join(c) for c in v] for k, v in cases.items()},
              "machine_before": host_info()}
    samples = {m: {k: [] for k in cases} for m in modes}
    inside = {m: {k: [] for k in ("clusterkit_job_s", "io_floor_read_s")} for m in modes}
    peaks = {"clusterkit": [], "io_floor": []}
    names = list(cases)
    timed(cases["clusterkit"], env)     # untimed: Numba compiles or caches the kernels
    for r in range(args.repeat):
        for name in names[r % len(names):] + names[:r % len(names)]:   # rotate the order
            if name in BASELINES and r >= args.baseline_repeat:
                continue
            for mode in modes:
                if mode == "cold":
                    drop_caches()
                else:
                    read_through(paths)
                    os.sync()
                dt, out = timed(cases[name], env)
                samples[mode][name].append(dt)
                print(f"round {r + 1} {mode:4s} {name:12s} {dt:8.2f} s", flush=True)
                if name == "clusterkit":
                    inside[mode]["clusterkit_job_s"].append(_number(r" in ([0-9.]+) s", out))
                    peaks["clusterkit"].append(_number(r"peak memory per rank: (\d+)", out))
                    record["clusterkit_output"] = out
                elif name == "io_floor":
                    inside[mode]["io_floor_read_s"].append(_number(r"read_floor_s=([0-9.]+)",
                                                                   out))
                    peaks["io_floor"].append(_number(r"peak_mib=(\d+)", out))
                    record["io_floor_output"] = out
    med = {m: {k: statistics.median(v) for k, v in s.items()} for m, s in samples.items()}
    ratios = {}
    for m in modes:
        c = med[m]["clusterkit"]
        ratios[m] = {f"{k}_over_clusterkit": med[m][k] / c for k in med[m]
                     if k not in ("clusterkit", "io_floor")}
        ratios[m]["clusterkit_over_io_floor"] = c / med[m]["io_floor"]
        ratios[m]["clusterkit_over_io_floor_inside_jobs"] = (
            statistics.median(inside[m]["clusterkit_job_s"])
            / statistics.median(inside[m]["io_floor_read_s"]))
    floor_out = record["io_floor_output"]
    memory = {"clusterkit_peak_mib_per_rank": max(peaks["clusterkit"]),
              "io_floor_peak_mib_per_rank": max(peaks["io_floor"]),
              "chunk_mib_per_rank": _number(r"chunk_mib=([0-9.]+)", floor_out),
              "job_estimate_mib_per_rank": _number(r"job_need_mib=(\d+)", floor_out)}
    memory["clusterkit_over_io_floor_peak"] = (memory["clusterkit_peak_mib_per_rank"]
                                               / memory["io_floor_peak_mib_per_rank"])
    memory["clusterkit_over_job_estimate"] = (memory["clusterkit_peak_mib_per_rank"]
                                              / memory["job_estimate_mib_per_rank"])
    goals = {m: {f"{k} {op} {v}": (ratios[m][k] >= v if op == ">=" else ratios[m][k] <= v)
                 for k, op, v in GOALS if k in ratios[m]} for m in modes}
    diff = compare_outputs(outdir, cases)
    bad = {k: v for k, v in diff.items() if not v <= TOLERANCE.get(k, DEFAULT_TOLERANCE)}
    record.update({"samples_s": samples, "median_s": med, "ratios": ratios,
                   "per_round_ratios": round_ratios(samples), "inside_jobs_s": inside,
                   "memory": memory, "goals_met": goals,
                   "outputs_max_relative_difference": diff, "outputs_agree": not bad})
    if not args.no_profile:
        ck_cmd = cases["clusterkit"][0]
        record["clusterkit_profile"] = {m: profile(ck_cmd, env, m == "cold") for m in modes}
    record.update(machine_after=host_info(), command=" ".join([PY] + sys.argv))
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(record, f, indent=2)
    for m in modes:
        for k, v in med[m].items():
            print(f"{m:4s} {k:12s} median {v:7.2f} s")
        for k, v in ratios[m].items():
            print(f"{m:4s} {k:38s} {v:6.2f}x")
    print(f"memory per rank: {memory}")
    print(f"outputs: {'agree' if not bad else 'DISAGREE ' + str(bad)}; wrote {args.out}")
    return 0 if not bad else 1


if __name__ == "__main__":
    sys.exit(main())
