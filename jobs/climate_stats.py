"""climate-stats: area-weighted, zonal, monthly and per-point statistics of a CF dataset.

    clusterkit run -n N climate-stats INPUT [INPUT ...] OUTPUT [--var NAME]
                                      [--percentiles 5,95] [--anomalies PATH] [--overwrite]
                                      [--weights coslat|area] [--area FILE]
                                      [--time-range START,END] [--base-period START,END]
                                      [--seasonal] [--annual] [--monthly PATH]
                                      [--region LAT0,LAT1,LON0,LON1]
    mpirun -n N python -m clusterkit.jobs.climate_stats INPUT [INPUT ...] OUTPUT ...

Several INPUTs (files or quoted glob patterns) are one time series split across files
(clusterkit.io.multifile): same variable, grid and calendar, in any order.

For x with one time, one latitude and one longitude dimension and any others, stored in
any order (processed, and written, as (time, extra..., lat, lon): clusterkit.io.reorder;
a variable in a group as --var /group/name), OUTPUT (NetCDF-4) holds global_mean
(cos-latitude or, with --weights area, cell-area weighted; NaN-skipping), zonal_mean,
climatology (per calendar month present), time_mean, time_std (ddof 0), time_min,
time_max, trend (OLS slope per year of the file's calendar) and, with --percentiles,
percentile; with --seasonal, seasonal_climatology(season, ...) (DJF, MAM, JJA, SON); with
--annual, annual_mean/min/max(year, ...) and annual_count(year). --time-range START,END
restricts every statistic to x.sel(time=slice(START, END)); --base-period START,END takes
climatology (and the anomalies) from x.sel(time=slice(START, END)) only. --monthly PATH
writes monthly_mean(time, ...) = x.resample(time="1MS").mean() to its own file, time the
month starts in the input's units and calendar. --region LAT0,LAT1,LON0,LON1 computes
every statistic over the cells whose centres are inside (longitudes may cross the seam:
350,10), reading only the region's hyperslabs; outputs hold the region's coordinates.
On a curvilinear grid (2-D latitude/longitude named by the variable's coordinates
attribute, or a rotated pole) the statistics are on the native grid with the 2-D
coordinates copied, global_mean is weighted by the cell measure or cos of the 2-D
latitude, and zonal_mean is omitted.
The ranks split lat/lon (and extra dims), keep time whole, and stream the
variable through in time chunks, so memory per rank stays bounded.
"""

import argparse
import math
import sys

import numba
import numpy as np

from clusterkit.comm import MPI
from clusterkit.errors import InputError
from clusterkit.grid import Grid
from clusterkit.io import cf, timesel
from clusterkit.io.cellmeasures import cell_area_weights
from clusterkit.io.dataset import open_dataset
from clusterkit.io.inputs import expand_inputs
from clusterkit.io.multifile import OPEN_FILE_BYTES
from clusterkit.io.output_path import check_output_path
from clusterkit.io.region import parse_region
from clusterkit.io.reorder import reordered
from clusterkit.io.subgrid import Subgrid, subgrid
from clusterkit.io.view import copy_bytes
from clusterkit.memory import check_fits_in_memory
from clusterkit.kernels import GroupStats, TimeStats, accumulate_time_stats, nan_percentiles
from clusterkit.log import rprint
from clusterkit.options import positive_number
from clusterkit.runtime import JobArgumentParser, exit_job, run_job
from clusterkit.trace import region

from ._climate_layout import Layout
from ._climate_output import write_anomalies, write_monthly, write_statistics
from ._progress import Progress

__all__ = ["main", "parse_percentiles", "Layout"]


def parse_percentiles(text):
    """``"5,95"`` → array([5., 95.]); every value must lie in [0, 100]."""
    try:
        q = np.array([float(s) for s in text.split(",")])
    except ValueError:
        q = np.array([np.nan])
    if q.size == 0 or np.any(~np.isfinite(q)) or q.min() < 0 or q.max() > 100:
        raise InputError(f"--percentiles must be comma-separated numbers in [0, 100], "
                         f"got {text!r}")
    return q


def _percentiles_arg(text):
    """argparse type of ``--percentiles`` (so a bad value is argparse's one line)."""
    try:
        return parse_percentiles(text)
    except InputError:
        raise argparse.ArgumentTypeError(f"must be comma-separated numbers in [0, 100], "
                                         f"got {text!r}") from None


def _range_arg(option):
    """argparse type of a ``START,END`` option: the text, its syntax checked (whether the
    dates exist in the file's calendar is checked once the times are decoded)."""
    def check(text):
        try:
            timesel.parse_range(text, option)
        except InputError as exc:
            raise argparse.ArgumentTypeError(str(exc).replace(f"{option} ", "", 1)) \
                from None
        return text
    return check


def _region_arg(text):
    """argparse type of ``--region``: the text, its syntax and ranges checked (whether
    it holds a cell is checked against the file's grid)."""
    try:
        parse_region(text)
    except InputError as exc:
        raise argparse.ArgumentTypeError(str(exc).replace("--region ", "", 1)) from None
    return text


def _chunk_steps(grid, layout, chunk_mb, comm):
    """Time steps per chunk, agreed by all ranks (the collective reads must pair up)."""
    per_step = max(1, int(np.prod(grid.local_shape[1:])) * 8)
    steps = max(1, int(chunk_mb * 2 ** 20) // per_step)
    window = layout.window.stop - layout.window.start
    return int(comm.allreduce(min(steps, window), op=MPI.MIN))


def _memory_needed(grid, layout, chunk, itemsize, nq, rows_mb, weighted=False):
    """Bytes this rank allocates at least: the accumulators, the results, the zonal sums
    (and, ``weighted``, the weighted row sums and the block's weights), one time chunk
    and (with ``nq`` percentiles) the percentile pass's buffers."""
    window = layout.window.stop - layout.window.start
    local = [int(n) for n in grid.local_shape]
    points = math.prod(local[1:])
    nt, z = layout.shape[0], math.prod(local[1:-2])
    ny, nx = local[-2], local[-1]
    per_point = 7 + 24 + 5 + 12           # TimeStats fields and months, results, climatology
    for groups, _, extremes in layout.groups.values():   # accumulators, then results
        per_point += len(groups.labels) * (8 if extremes else 4)
    for name, (sets, extremes) in layout.derived.items():   # results only
        per_point += len(sets) * (3 if extremes else 1)
    zonal = 5 * nt * z * ny               # zonal sums and counts, their combined copy, means
    if weighted:
        zonal += 2 * nt * z * ny + ny * nx   # weighted row sums (Σ w·x, Σ w), the weights
    need = 8 * (per_point * points + zonal) + min(chunk, window) * points * itemsize
    if nq:
        rows = min(ny, max(1, int(rows_mb * 2 ** 20) // max(1, nt * z * nx * 8)))
        need += 8 * nq * points + nt * z * rows * nx * itemsize
    return need


def _threaded():
    """Whether this rank runs several Numba threads (see clusterkit.threads)."""
    return numba.get_num_threads() > 1


def _stream(ds, grid, layout, chunk, progress, weights=None):
    """First pass: per-point statistics and zonal partial sums, chunk by chunk; with
    ``weights`` (the block's (Y, X) cell areas) also the weighted row sums
    ``(ws, wc)`` of the global mean (else None). It reads ``layout.window``: the time
    statistics take the selected steps of each chunk, the groupings their own."""
    local = grid.local_shape
    z = int(np.prod(local[1:-2]))
    nt = layout.shape[0]
    zs = np.zeros((nt, z, local[-2]))
    zc = np.zeros_like(zs)
    ws = wc = None
    if weights is not None:
        ws, wc = np.zeros_like(zs), np.zeros_like(zs)
    sel = grid.local_slices
    tc = layout.tyears - 0.5 * (layout.tyears[0] + layout.tyears[-1])  # centred time
    # raw values are decoded inside the kernel (no extra pass)
    lo, hi = layout.window.start, layout.window.stop
    s0 = layout.t0 - lo                  # the selected steps are window steps s0 .. s0+nt-1
    decode, read = layout.reader(ds, min(chunk, hi - lo) * int(np.prod(local[1:])), lo)
    parallel = _threaded()
    stats = None
    groups = None    # groupings asked for (--seasonal, --annual, --base-period, --monthly)
    if layout.groups:
        groups = GroupStats((z,) + tuple(local[-2:]), {
            k: (len(g.labels), e) for k, (g, _, e) in layout.groups.items()})
    # chunk edges at s0 + k·chunk: the selected steps are chunked as without a base period
    edges = [0, *range(s0 % chunk or chunk, hi - lo, chunk), hi - lo]
    for i, (a, b) in enumerate(zip(edges[:-1], edges[1:])):
        x = read((slice(a, b),) + tuple(sel[1:])).reshape((b - a, z) + local[-2:])
        if i + 2 < len(edges):   # the disk reads the next chunk while this one is computed
            ds.advise(layout.var, (slice(lo + b, lo + edges[i + 2]),) + tuple(sel[1:]))
        t0, t1 = max(a, s0) - s0, min(b, s0 + nt) - s0    # the chunk's selected steps
        with region("climate.kernel"):
            if t1 > t0:
                xs = x if t1 - t0 == b - a else x[t0 + s0 - a:t1 + s0 - a]
                if stats is None:
                    stats = TimeStats.from_first_chunk(xs, decode=decode)
                accumulate_time_stats(xs, layout.months[t0:t1], tc[t0:t1], stats,
                                      zs[t0:t1], zc[t0:t1], decode=decode,
                                      parallel=parallel, weights=weights,
                                      wsum=None if ws is None else ws[t0:t1],
                                      wcnt=None if wc is None else wc[t0:t1])
            if groups is not None:
                groups.feed(x, {k: ids[a:b] for k, (_, ids, _) in layout.groups.items()},
                            decode=decode, parallel=parallel)
        progress.advance(b - a)
    return stats, zs, zc, (None if ws is None else (ws, wc)), groups


def _group_results(stats, groups, layout, results):
    """name → {"mean"(, "min", "max")} of every grouping asked: those the pass fed
    (``groups``), and the derived ones from the time statistics' monthly sums (one group
    with extremes: the time minimum and maximum)."""
    out = {} if groups is None else groups.results()
    for name, (sets, extremes) in layout.derived.items():
        if sets == [(m,) for m in range(12)]:    # the calendar months: the climatology
            out[name] = {"mean": results["climatology"]}
        else:
            out[name] = {"mean": stats.pooled_means(sets)}
        if extremes:
            out[name]["min"] = results["time_min"][None]
            out[name]["max"] = results["time_max"][None]
    return out


def _grid(layout, comm):
    """Split the levels and latitudes, keeping time and longitude whole where possible:
    every rank then reads long contiguous runs, and zonal sums need no messages."""
    ndim = len(layout.shape)
    try:
        return Grid(layout.shape, keep=(0, ndim - 1), comm=comm)
    except ValueError:
        return Grid(layout.shape, keep=(0,), allow_empty=True, comm=comm)


def _zonal_and_global(grid, layout, zs, zc, weighted=None):
    """Zonal means (T, Z, Yloc) and global means (T, Z): cos-latitude weighted from the
    zonal sums, or from ``weighted`` = the weighted row sums ``(ws, wc)`` of
    :func:`_stream` (any (Y, X) weights)."""
    ndim = grid.ndim
    sums = np.stack([zs, zc])                    # one message for sums and counts
    grid.topology.sub((ndim - 1,)).Allreduce(MPI.IN_PLACE, sums, op=MPI.SUM)
    zs_all, zc_all = sums
    if weighted is not None:
        partial = np.stack([weighted[0].sum(axis=2), weighted[1].sum(axis=2)])
    elif zs.size:
        w = np.cos(np.deg2rad(layout.lat[grid.local_slices[-2]]))
        partial = np.stack([zs @ w, zc @ w])
    else:
        partial = np.zeros((2,) + zs.shape[:2])
    total = np.empty_like(partial)
    grid.topology.sub((ndim - 2, ndim - 1)).Allreduce(partial, total, op=MPI.SUM)
    with np.errstate(invalid="ignore", divide="ignore"):
        zonal = np.where(zc_all > 0, zs_all / zc_all, np.nan)
        glob = np.where(total[1] > 0, total[0] / total[1], np.nan)
    return zonal, glob


def _percentiles(ds, grid, layout, q, rows_mb):
    """Second pass: NaN-skipping linear percentiles over time, a few rows at a time
    (the kernel's results are NumPy's ``nanpercentile``)."""
    local = grid.local_shape
    z = int(np.prod(local[1:-2]))
    ny, nx, nt = local[-2], local[-1], layout.shape[0]
    out = np.full((q.size, z, ny, nx), np.nan)
    rows = max(1, int(rows_mb * 2 ** 20) // max(1, nt * z * nx * 8))
    passes = int(grid.comm.allreduce(-(-ny // rows) if ny else 0, op=MPI.MAX))
    sel = list(grid.local_slices)
    decode, read = layout.reader(ds, nt * z * min(rows, ny) * nx)
    for p in range(passes):
        y0, y1 = min(ny, p * rows), min(ny, (p + 1) * rows)
        lat = slice(sel[-2].start + y0, sel[-2].start + y1)
        x = read(tuple(sel[:-2]) + (lat, sel[-1]))
        if x.size:
            out[:, :, y0:y1] = nan_percentiles(x.reshape((nt, z, y1 - y0, nx)), q,
                                               decode=decode, parallel=_threaded())
    return out


def _weights(ds, grid, layout, args):
    """``(weights, source)`` of the global mean for this rank's (lat, lon) block: None
    (cos-latitude from the zonal sums) or cell areas and where they came from. On a
    curvilinear grid always a field: the cell areas with ``--weights area``, else (or
    without a cell-measure variable, then with a warning) cos of the 2-D latitude, and
    source None."""
    curv = layout.curvilinear
    lat = None if curv is None else curv.lat[grid.local_slices[-2], grid.local_slices[-1]]
    if args.weights != "area":
        return (None if lat is None else np.ascontiguousarray(np.cos(np.deg2rad(lat)))), None
    rows, cols = grid.local_slices[-2:]
    if isinstance(ds, Subgrid):     # --region: the areas of each longitude run's cells
        rows, runs = ds.pieces(rows, cols)
        parts = [cell_area_weights(ds.dataset, layout.var, layout.lat_dim, layout.lon_dim,
                                   rows, f, area_path=args.area) for f, _ in runs]
        return np.ascontiguousarray(np.concatenate([w for w, _ in parts], axis=1)), \
            parts[0][1]
    vertices = None     # a curvilinear grid's cell corners, if both coordinates have them
    if curv is not None and all(n in curv.bounds_values for n in curv.names):
        vertices = tuple((curv.bounds[n][0].rsplit("/", 1)[-1],
                          curv.bounds_values[n][rows, cols]) for n in curv.names)
    weights, source = cell_area_weights(ds, layout.var, layout.lat_dim, layout.lon_dim,
                                        rows, cols, area_path=args.area, curvilinear=lat,
                                        vertices=vertices)
    if source is None:
        rprint(f"climate-stats: warning: {layout.var!r} is on a curvilinear grid without "
               f"cell areas (no cell_measures variable, no --area, no vertex bounds): "
               f"global_mean is weighted by cos of the 2-D latitude {curv.names[0]!r}; "
               "cell areas are "
               "better: give the file holding them with --area FILE (CMIP's areacello) "
               "and name the variable in cell_measures (\"area: areacello\") if the "
               "file has several", file=sys.stderr, comm=grid.comm)
    return weights, source


def main(argv=None, comm=None):
    """Compute the statistics of the INPUT file(s) into OUTPUT; return 0."""
    p = JobArgumentParser(prog="climate-stats", comm=comm,
                          description=__doc__.split("\n")[0])
    p.add_argument("inputs", metavar="INPUT", nargs="+",
                   help="NetCDF file, or quoted glob pattern; several form one time series")
    p.add_argument("output", metavar="OUTPUT", help="NetCDF-4 file to write")
    p.add_argument("--var", help="variable (default: the one with time, lat and lon)")
    p.add_argument("--percentiles", type=_percentiles_arg,
                   help="e.g. 5,50,95 (NaN-skipping, linear)")
    p.add_argument("--anomalies", metavar="PATH", help="also write anomaly(time, ...)")
    p.add_argument("--time-range", metavar="START,END", type=_range_arg("--time-range"),
                   help="use only these steps (dates YYYY[-MM[-DD]] in the file's "
                   "calendar, inclusive; either side may be empty)")
    p.add_argument("--base-period", metavar="START,END", type=_range_arg("--base-period"),
                   help="climatology (and --anomalies) from these steps only (dates as "
                   "--time-range); every month of the series must have base steps")
    p.add_argument("--seasonal", action="store_true",
                   help="also seasonal_climatology(season, ...): DJF, MAM, JJA, SON means")
    p.add_argument("--annual", action="store_true",
                   help="also annual_mean, annual_min, annual_max(year, ...), annual_count")
    p.add_argument("--monthly", metavar="PATH", help="also write monthly_mean(time, ...) "
                   "(means per calendar month of each year, time the month starts)")
    p.add_argument("--region", metavar="LAT0,LAT1,LON0,LON1", type=_region_arg,
                   help="only the cells whose centres are inside, in degrees; the region "
                   "runs east from LON0 to LON1 (350,10 crosses the 0 meridian)")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    p.add_argument("--chunk-mb", type=positive_number("MiB"), default=128.0,
                   help="MiB of input per rank per time chunk (default 128)")
    p.add_argument("--weights", choices=("coslat", "area"), default="coslat",
                   help="global_mean weights: cos(latitude) (default) or cell area (from "
                   "the cell_measures variable, else the coordinates' bounds, else the "
                   "cell centres as CDO does; curvilinear: the cell-measure variable, else "
                   "the vertex bounds)")
    p.add_argument("--area", metavar="FILE", help="with --weights area: the file holding "
                   "the cell-area variable (CMIP's areacella/areacello)")
    args = p.parse_args(argv)
    q = args.percentiles
    if args.area is not None and args.weights != "area":
        raise InputError(f"--area {args.area!r} gives cell areas for --weights area; add "
                         "--weights area (the default, coslat, uses no areas)")
    # before any work: writable, and never an input or each other (also through links)
    inputs = expand_inputs(args.inputs, comm)
    check_output_path(args.output, args.overwrite, comm,
                      distinct_from=inputs + ([args.area] if args.area else []))
    if args.anomalies:
        check_output_path(args.anomalies, args.overwrite, comm,
                          distinct_from=inputs + [args.output])
    if args.monthly:
        check_output_path(args.monthly, args.overwrite, comm,
                          distinct_from=inputs + [args.output] +
                          ([args.anomalies] if args.anomalies else []))
    t0 = MPI.Wtime()
    with open_dataset(inputs, comm) as ds:
        with region("climate.layout"):
            layout = Layout(ds, ds.find_variable(args.var), time_range=args.time_range,
                            base_period=args.base_period, seasonal=args.seasonal,
                            annual=args.annual, monthly=args.monthly is not None,
                            region=args.region)
            grid = _grid(layout, comm)
        ds = reordered(ds, layout.var, layout.axes)   # seen as (time, extra..., lat, lon)
        if layout.region is not None:                 # ... on the region's cells
            ds = subgrid(ds, layout.var, layout.region.lat, layout.region.lon_runs)
        chunk = _chunk_steps(grid, layout, args.chunk_mb, comm)
        curv = layout.curvilinear
        need = _memory_needed(grid, layout, chunk, ds.dtype(layout.var).itemsize,
                              0 if q is None else q.size, args.chunk_mb,
                              weighted=args.weights == "area" or curv is not None)
        if curv is not None:      # the 2-D coordinates (and bounds), held whole
            need += curv.nbytes
        need += copy_bytes(ds, layout.var, chunk *    # chunk <= the steps read; the
                           math.prod(grid.local_shape[1:]))   # views' copies of a chunk
        need += (len(inputs) - 1) * OPEN_FILE_BYTES    # the other input files, kept open
        check_fits_in_memory(need, f"climate-stats of {layout.var}{layout.shape} on "
                             f"{comm.Get_size()} rank{'s' * (comm.Get_size() > 1)}", comm)
        passes = layout.window.stop - layout.window.start + \
            (layout.shape[0] if args.anomalies else 0)
        progress = Progress(passes, comm, label="climate-stats")
        with region("climate.weights"):
            weights, source = _weights(ds, grid, layout, args)
        stats, zs, zc, wsums, groups = _stream(ds, grid, layout, chunk, progress, weights)
        with region("climate.combine"):
            zonal, glob = _zonal_and_global(grid, layout, zs, zc, wsums)
            results = stats.results()
            results["groups"] = _group_results(stats, groups, layout, results)
            if "base" in results["groups"]:   # --base-period: its months' means
                results["climatology"] = results["groups"]["base"]["mean"]
        if q is not None:
            with region("climate.percentiles"):
                results["percentile"] = _percentiles(ds, grid, layout, q, args.chunk_mb)
        with region("climate.write"):
            write_statistics(args.output, args.overwrite, grid, layout, results, zonal, glob,
                             q, area_source=source)
            if args.monthly:
                write_monthly(args.monthly, args.overwrite, grid, layout,
                              results["groups"]["month"]["mean"])
        if args.anomalies:
            with region("climate.anomalies"):
                write_anomalies(args.anomalies, args.overwrite, ds, grid, layout,
                                results["climatology"], chunk, progress,
                                parallel=_threaded())
        progress.done()
    elapsed = comm.allreduce(MPI.Wtime() - t0, op=MPI.MAX)
    n = comm.Get_size()
    files = f" from {len(inputs)} files" if len(inputs) > 1 else ""
    weighted = f", weights: cell area from {source}" if source else ""
    if curv is not None:
        weighted += f", curvilinear grid {'/'.join(curv.names)}"
    if layout.region is not None:
        r = layout.region
        weighted += f", region {layout.shape[-2]}x{layout.shape[-1]} cells: " \
            f"{100 * r.cells / r.total_cells:.3g}% of the grid read"
    rprint(f"climate-stats: {layout.var}{layout.shape}{files} on {n} rank{'s' * (n > 1)} "
           f"(grid {grid.dims}{weighted}) -> {args.output} in {elapsed:.2f} s", comm=comm)
    _summary(layout, glob, results, comm)
    return 0


def _summary(layout, glob, results, comm):
    """Print a few headline numbers on rank 0 (first level for 4-D variables)."""
    u = cf.attr_str(layout.attrs, "units")
    g = comm.bcast(glob[:, 0] if comm.Get_rank() == 0 and glob.size else None, root=0)
    trend = results["trend"]
    part = np.array([np.nansum(trend), np.count_nonzero(~np.isnan(trend))], dtype=float)
    comm.Allreduce(MPI.IN_PLACE, part, op=MPI.SUM)
    with np.errstate(all="ignore"):
        if g is not None:
            rprint(f"  global mean: first step {g[0]:.3f} {u}, last step {g[-1]:.3f} {u}, "
                   f"over all steps {np.nanmean(g):.3f} {u}", comm=comm)
        rprint(f"  mean trend {part[0] / part[1]:+.4f} {u}/year over {int(part[1])} points; "
               f"months in climatology: {layout.clim_months.size}", comm=comm)
    import resource
    peak = comm.allreduce(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, op=MPI.MAX)
    rprint(f"  peak memory per rank: {peak / 1024:.0f} MiB", comm=comm)


if __name__ == "__main__":
    exit_job(run_job(main, prog="climate-stats"), fast=True)
