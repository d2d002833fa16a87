"""What a file switch costs: climate-stats on one file vs the same data split into many files.

    .venv/bin/python benchmarks/multifile.py [--files 65] [--steps 12] [--grid 181,360]
        [--ranks 2] [--repeat 5] [--data DIR] [--out bench-results/multifile.json]
        [-- CLIMATE-STATS OPTIONS]

Generates the series once (FILES x STEPS time steps of a float32 GRID, ``clusterkit
make-dataset``) and splits it into FILES NetCDF-4 files of STEPS steps each (every file's
time in its own units, as downloads come), then alternates, per round: climate-stats on
the one file and on the FILES files (given as a glob), both launched by ``clusterkit run``
on --ranks ranks. It records the wall clock of each command and the job's own time (its
"in X s" line, start-up excluded), their medians, the ratio many/one (the issue's goal:
within 1.5x) and the cost per file switch ((many - one) / (FILES - 1)), checks that the
two outputs are equal, and writes JSON with the machine.
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PY = sys.executable
CK = [PY, "-m", "clusterkit.cli.main"]


def split(src, folder, files, steps):
    """Write steps ``i*steps:(i+1)*steps`` of ``src`` to ``folder/part-XXX.nc``, file i's
    time in days since its own first day (raw values and attributes otherwise)."""
    import cftime
    import netCDF4
    with netCDF4.Dataset(src) as a:
        a.set_auto_maskandscale(False)
        t = a["time"]
        cal = t.getncattr("calendar")
        dates = cftime.num2date(t[:], t.units, calendar=cal)
        for i in range(files):
            lo, hi = i * steps, (i + 1) * steps
            units = f"days since {dates[lo].strftime('%Y-%m-%d')}"
            with netCDF4.Dataset(os.path.join(folder, f"part-{i:03d}.nc"), "w") as b:
                for name, dim in a.dimensions.items():
                    b.createDimension(name, steps if name == "time" else len(dim))
                for name, var in a.variables.items():
                    attrs = {k: var.getncattr(k) for k in var.ncattrs()}
                    out = b.createVariable(name, var.dtype, var.dimensions,
                                           fill_value=attrs.pop("_FillValue", None))
                    out.set_auto_maskandscale(False)
                    if name == "time":
                        attrs["units"] = units
                        out.setncatts(attrs)
                        out[:] = cftime.date2num(dates[lo:hi], units, calendar=cal)
                        continue
                    out.setncatts(attrs)
                    out[...] = var[lo:hi] if var.dimensions[:1] == ("time",) else var[...]


def run(inputs, out, ranks, extra, env):
    """Wall-clock seconds of one climate-stats command and the job's own seconds."""
    cmd = [*CK, "run", "-n", str(ranks), "climate-stats", *inputs, out, "--overwrite", *extra]
    os.sync()
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1800)
    wall = time.perf_counter() - t0
    if proc.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed: {proc.stderr[-2000:]}")
    job = float(re.search(r" in ([0-9.]+) s", proc.stdout).group(1))
    return wall, job, proc.stdout.splitlines()[0]


def same_outputs(a, b):
    import h5py
    import numpy as np
    with h5py.File(a, "r") as x, h5py.File(b, "r") as y:
        return all(np.array_equal(x[k][...], y[k][...], equal_nan=True)
                   for k in x if isinstance(x[k], h5py.Dataset))


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    argv = argv[:argv.index("--")] if "--" in argv else argv
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--files", type=int, default=65)
    p.add_argument("--steps", type=int, default=12, help="time steps per file")
    p.add_argument("--grid", default="181,360", help="latitudes,longitudes")
    p.add_argument("--ranks", type=int, default=2)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--data", default=os.path.join(ROOT, "build", "bench-data"))
    p.add_argument("--out", default="bench-results/multifile.json")
    args = p.parse_args(argv)
    ny, nx = (int(v) for v in args.grid.split(","))
    nt = args.files * args.steps
    folder = os.path.join(args.data, f"multifile-{args.files}x{args.steps}x{ny}x{nx}")
    one = os.path.join(folder, "one.nc")
    parts = os.path.join(folder, "parts")
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    if not os.path.exists(os.path.join(parts, f"part-{args.files - 1:03d}.nc")):
        os.makedirs(parts, exist_ok=True)
        subprocess.run([*CK, "make-dataset", one, "--shape", f"{nt},{ny},{nx}",
                        "--step-days", "30", "--land-mask", "--overwrite"], check=True,
                       env=env, capture_output=True)
        split(one, parts, args.files, args.steps)
    outs = {k: os.path.join(folder, f"out-{k}.nc") for k in ("one", "many")}
    inputs = {"one": [one], "many": [os.path.join(parts, "part-*.nc")]}
    wall = {k: [] for k in outs}
    job = {k: [] for k in outs}
    lines = {}
    for _ in range(args.repeat):
        for k in outs:
            w, j, lines[k] = run(inputs[k], outs[k], args.ranks, extra, env)
            wall[k].append(w)
            job[k].append(j)
    med = {f"{what}_{k}": statistics.median(v[k]) for what, v in (("wall", wall), ("job", job))
           for k in outs}
    ratio = {w: med[f"{w}_many"] / med[f"{w}_one"] for w in ("wall", "job")}
    per_switch = {w: (med[f"{w}_many"] - med[f"{w}_one"]) / max(1, args.files - 1)
                  for w in ("wall", "job")}
    from clusterkit.bench.describe import host_info
    record = {"benchmark": "multifile", "files": args.files, "steps_per_file": args.steps,
              "grid": [ny, nx], "dtype": "float32", "ranks": args.ranks,
              "climate_stats_options": extra, "samples_s": {"wall": wall, "job": job},
              "median_s": med, "many_over_one": ratio, "seconds_per_file_switch": per_switch,
              "outputs_equal": same_outputs(outs["one"], outs["many"]),
              "job_lines": lines, "machine": host_info(),
              "command": " ".join([sys.executable] + sys.argv)}
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(record, f, indent=2)
    for w in ("wall", "job"):
        print(f"{w:5s} one file {med[f'{w}_one']:.3f} s, {args.files} files "
              f"{med[f'{w}_many']:.3f} s: {ratio[w]:.2f}x, "
              f"{per_switch[w] * 1e3:.2f} ms per file switch")
    print(f"outputs equal: {record['outputs_equal']}; wrote {args.out}")
    return 0 if record["outputs_equal"] else 1


if __name__ == "__main__":
    sys.exit(main())
