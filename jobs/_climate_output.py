"""Writing climate-stats results: the statistics file and the anomalies file (NetCDF-4)."""

import numpy as np

from clusterkit.io.cf import attr_str
from clusterkit.io.ncwrite import NO_FILL, NCWriter
from clusterkit.kernels import climate_anomalies

__all__ = ["write_statistics", "write_monthly", "write_anomalies"]

_COORD_SKIP = {"_FillValue", "bounds"}


def _coord(w, layout, dim):
    """Define dimension ``dim`` with the input's coordinate variable, or without one
    where the input has none (``layout.index_dims``). Collective."""
    values, attrs = layout.coords[dim]
    if dim in layout.index_dims:
        w.index_dimension(dim, len(values))
    else:
        w.dimension(dim, values, {k: v for k, v in attrs.items() if k not in _COORD_SKIP})


def _point_attrs(layout):
    """Attributes of every output variable on the horizontal grid: the 2-D coordinates
    of a curvilinear grid (``coordinates``) and the input's ``grid_mapping``."""
    out = {}
    if layout.curvilinear is not None:
        out["coordinates"] = " ".join(layout.curvilinear.names)
    mapping = layout.grid_mapping
    if mapping is not None:
        out["grid_mapping"] = mapping[0]
    return out


def _define_horizontal(w, layout):
    """Define what georeferences the grid beyond its dimensions: the 2-D coordinates
    (and bounds) of a curvilinear grid and the grid-mapping variables. Collective."""
    if layout.curvilinear is not None:
        _define_curvilinear(w, layout)
    mapping = layout.grid_mapping
    for name, attrs in ({} if mapping is None else mapping[1]).items():
        w.scalar(name, np.int32(0), attrs)


def _curvilinear_attrs(layout):
    """Global attributes of an output on a curvilinear grid: why there is no zonal mean."""
    curv = layout.curvilinear
    if curv is None:
        return {}
    return {"zonal_mean_omitted": (
        f"{layout.name} is on a curvilinear grid (2-D latitude {curv.names[0]} and "
        f"longitude {curv.names[1]} on ({layout.lat_dim}, {layout.lon_dim})): its rows are "
        "not circles of latitude, so a mean over longitude (zonal_mean) is not defined; "
        "regrid to a latitude-longitude grid for zonal means")}


def _define_curvilinear(w, layout):
    """Define the 2-D latitude/longitude (and their bounds) of a curvilinear grid on
    (rows, columns), with the input's attributes and no _FillValue (they are checked
    finite); the bounds' vertex dimension has no coordinate variable. Collective."""
    curv = layout.curvilinear
    dims = (layout.lat_dim, layout.lon_dim)
    vertices = {}
    for name, attrs in zip(curv.names, curv.attrs):
        keep = {k: v for k, v in attrs.items() if k not in _COORD_SKIP}
        if name in curv.bounds:
            bounds, vertex = curv.bounds[name]
            if vertex not in vertices:
                vertices[vertex] = curv.bounds_values[name].shape[-1]
                w.index_dimension(vertex, vertices[vertex])
            keep["bounds"] = bounds.rsplit("/", 1)[-1]
            w.variable(keep["bounds"], dims + (vertex,), "f8", {}, fill_value=NO_FILL,
                       prefill=False)
        w.variable(name, dims, "f8", keep, fill_value=NO_FILL, prefill=False)


def _write_curvilinear(w, grid, layout):
    """Write this rank's block of the 2-D coordinates (and bounds). Collective."""
    curv = layout.curvilinear
    rows, cols = grid.local_slices[-2], grid.local_slices[-1]
    start = (grid.local_start[-2], grid.local_start[-1])
    for name, values in zip(curv.names, (curv.lat, curv.lon)):
        w.write(name, values[rows, cols], start)
        if name in curv.bounds:
            w.write(curv.bounds[name][0].rsplit("/", 1)[-1],
                    curv.bounds_values[name][rows, cols], start + (0,))


def _only_if(cond, block):
    """``block`` if ``cond`` else an empty block of the same rank (for replicated results)."""
    return block if cond else block[tuple(slice(0, 0) for _ in block.shape)]


def _global_mean_spec(area_source):
    """long_name, cell_methods and extra attributes of global_mean: cos-latitude
    weighted, or (``area_source``: where the areas came from) cell-area weighted."""
    if area_source is None:
        return ("area-weighted (cos latitude) mean over lat and lon",
                "area: mean (weights: cos(latitude))", {})
    return ("area-weighted (cell area) mean over lat and lon",
            f"area: mean (weights: cell area from {area_source})",
            {"weights": f"cell area from {area_source}"})


def write_statistics(path, overwrite, grid, layout, results, zonal, glob, q,
                     area_source=None):
    """Write every statistic of one climate-stats run to ``path``. Collective.

    ``area_source`` (None: cos-latitude weights) names where the cell areas weighting
    global_mean came from; it goes into its cell_methods and a ``weights`` attribute.
    """
    local = grid.local_shape
    extra_local = tuple(local[1:-2])
    start = grid.local_start
    e0, y0, x0 = tuple(start[1:-2]), start[-2], start[-1]
    coords = grid.topology.coords
    units = attr_str(layout.attrs, "units")
    name = layout.name
    E, lat, lon, time = layout.extra, layout.lat_dim, layout.lon_dim, layout.time_dim
    months = layout.clim_months
    g_long, g_methods, g_extra = _global_mean_spec(area_source)
    if layout.curvilinear is not None:
        g_long = g_long.replace("over lat and lon", f"over {lat} and {lon}")

    def field(a, lead=()):
        return a.reshape(tuple(lead) + extra_local + tuple(local[-2:]))

    curv = layout.curvilinear
    point = _point_attrs(layout)
    with NCWriter(path, comm=grid.comm, overwrite=overwrite,
                  attrs={"title": f"clusterkit climate-stats of {name}",
                         "source_variable": layout.var, **_curvilinear_attrs(layout)}) as w:
        for d in (time,) + E + (lat, lon):
            _coord(w, layout, d)
        _define_horizontal(w, layout)
        w.dimension("month", (months + 1).astype(np.int32),
                    {"long_name": "calendar month", "units": "1"})
        specs = [
            ("global_mean", (time,) + E, g_long, units, g_methods),
            ("zonal_mean", (time,) + E + (lat,), "mean over longitude", units,
             f"{lon}: mean"),
            ("climatology", ("month",) + E + (lat, lon), "mean per calendar month" + (
                f" over the base period {layout.base_period}" if layout.base_period else ""),
             units, "time: mean within months"),
            ("time_mean", E + (lat, lon), "mean over time", units, "time: mean"),
            ("time_std", E + (lat, lon), "standard deviation over time (ddof 0)", units,
             "time: standard_deviation"),
            ("time_min", E + (lat, lon), "minimum over time", units, "time: minimum"),
            ("time_max", E + (lat, lon), "maximum over time", units, "time: maximum"),
            ("trend", E + (lat, lon), f"least-squares slope per year ({layout.calendar} "
             "calendar)", f"{units} year-1".strip(), "time: linear trend"),
        ]
        if curv is not None:   # not defined on a curvilinear grid: see zonal_mean_omitted
            specs = [spec for spec in specs if spec[0] != "zonal_mean"]
        groups = _define_groups(w, layout, units, point)
        if q is not None:
            # the coordinate cannot share the data variable's name in netCDF: "pct"
            w.dimension("pct", q, {"long_name": "percentile", "units": "percent"})
            specs.append(("percentile", ("pct",) + E + (lat, lon),
                          "percentile over time (linear interpolation)", units,
                          "time: percentile"))
        for var, dims, long_name, u, methods in specs:
            extra = g_extra if var == "global_mean" else \
                point if lat in dims and lon in dims else {}
            if var == "climatology" and layout.base_period:
                extra = {**extra, "base_period": layout.base_period}
            w.variable(var, dims, "f8", {"long_name": f"{name} {long_name}", "units": u,
                                         "cell_methods": methods, **extra}, prefill=False)
        nt = layout.shape[0]
        w.write("global_mean", _only_if(coords[-2] == 0 and coords[-1] == 0,
                                        glob.reshape((nt,) + extra_local)), (0,) + e0)
        if curv is None:
            w.write("zonal_mean", _only_if(coords[-1] == 0,
                                           zonal.reshape((nt,) + extra_local + (local[-2],))),
                    (0,) + e0 + (y0,))
        else:
            _write_curvilinear(w, grid, layout)
        clim = results["climatology"]
        clim = clim if months.size == 12 else clim[months]   # all months: no 12-field copy
        w.write("climatology", field(clim, (months.size,)), (0,) + e0 + (y0, x0))
        for var in ("time_mean", "time_std", "time_min", "time_max", "trend"):
            w.write(var, field(results[var]), e0 + (y0, x0))
        if q is not None:
            w.write("percentile", field(results["percentile"], (q.size,)),
                    (0,) + e0 + (y0, x0))
        first = coords[-2] == 0 and coords[-1] == 0 and all(c == 0 for c in coords[1:-2])
        for var, values, point_field in groups:
            if point_field:
                values = results["groups"][values[0]][values[1]]
                w.write(var, field(values, (values.shape[0],)), (0,) + e0 + (y0, x0))
            else:                   # a coordinate or a count per group: written once
                w.write(var, _only_if(first, values), (0,) * values.ndim)


def _define_groups(w, layout, units, point):
    """Define the coordinates and variables of the groupings of ``layout.groupings``
    (``--seasonal``, ``--annual``); return ``[(variable, values or results key, per
    point)]`` of what :func:`write_statistics` writes. Collective."""
    E, lat, lon, name = layout.extra, layout.lat_dim, layout.lon_dim, layout.name
    out, specs = [], []
    if "season" in layout.groupings:
        g = layout.groupings["season"]
        w.label_dimension("season", g.labels, {"long_name": "season"})
        specs.append(("seasonal_climatology", "season", "mean", "mean per season (DJF, "
                      "MAM, JJA, SON; pooled over years)",
                      "time: mean (interval: season, pooled over years)"))
    if "year" in layout.groupings:
        g = layout.groupings["year"]
        w.dimension("year", g.labels.astype(np.int64), {"long_name": "year"})
        for stat, what, method in (("mean", "mean", "mean"), ("min", "minimum", "minimum"),
                                   ("max", "maximum", "maximum")):
            specs.append((f"annual_{stat}", "year", stat, f"{what} per year",
                          f"time: {method} within years"))
        w.variable("annual_count", ("year",), "i8",
                   {"long_name": "time steps per year", "units": "1"}, prefill=False)
        out.append(("annual_count", g.steps.astype(np.int64), False))
    for var, group, stat, long_name, methods in specs:
        w.variable(var, (group,) + E + (lat, lon), "f8",
                   {"long_name": f"{name} {long_name}", "units": units,
                    "cell_methods": methods, **point}, prefill=False)
        out.append((var, (group, stat), True))
    return out


def write_monthly(path, overwrite, grid, layout, means):
    """Write ``monthly_mean(time, extra..., lat, lon)``: ``means`` (G, Z, Y, X), this
    rank's block of the means per month (``layout.groupings["month"]``), its time the month
    starts in the input's time units and calendar. Collective."""
    labels = layout.groupings["month"].labels
    time_attrs = {k: v for k, v in layout.coords[layout.time_dim][1].items()
                  if k not in _COORD_SKIP}
    curv = layout.curvilinear
    with NCWriter(path, comm=grid.comm, overwrite=overwrite,
                  attrs={"title": f"clusterkit monthly means of {layout.name}",
                         "source_variable": layout.var, **_curvilinear_attrs(layout)}) as w:
        w.dimension(layout.time_dim, labels, time_attrs)
        for d in layout.extra + (layout.lat_dim, layout.lon_dim):
            _coord(w, layout, d)
        _define_horizontal(w, layout)
        w.variable("monthly_mean", layout.dims, "f8",
                   {"long_name": f"{layout.name} mean per month",
                    "units": attr_str(layout.attrs, "units"),
                    "cell_methods": f"{layout.time_dim}: mean within months",
                    **_point_attrs(layout)}, prefill=False)
        if curv is not None:
            _write_curvilinear(w, grid, layout)
        local = grid.local_shape
        w.write("monthly_mean", means.reshape((labels.size,) + tuple(local[1:])),
                (0,) + tuple(grid.local_start[1:]))


def write_anomalies(path, overwrite, ds, grid, layout, climatology, chunk, progress,
                    parallel=False):
    """Stream the variable again and write value − climatology of its month. Collective.

    Raw values are decoded inside the kernel when that is exact (see
    :meth:`clusterkit.io.dataset.Dataset.chunk_reader`); the output is float32 for unpacked float32
    input, float64 otherwise.
    """
    local = grid.local_shape
    sel = grid.local_slices
    z = int(np.prod(local[1:-2]))
    nt = layout.shape[0]
    dtype = np.float32 if layout.attrs.get("scale_factor") is None and \
        ds.dtype(layout.var) == np.float32 else np.float64
    steps = min(chunk, nt)
    decode, read = layout.reader(ds, steps * int(np.prod(local[1:])))
    anom = np.empty((steps, z) + tuple(local[-2:]), dtype)
    with NCWriter(path, comm=grid.comm, overwrite=overwrite,
                  attrs={"title": f"clusterkit anomalies of {layout.name}"}) as w:
        for d in (layout.time_dim,) + layout.extra + (layout.lat_dim, layout.lon_dim):
            _coord(w, layout, d)
        curv = layout.curvilinear
        _define_horizontal(w, layout)
        w.variable("anomaly", layout.dims, dtype,
                   {"long_name": f"{layout.name} minus its monthly climatology",
                    "units": attr_str(layout.attrs, "units"), **_point_attrs(layout)},
                   prefill=False)
        if curv is not None:
            _write_curvilinear(w, grid, layout)
        for t0 in range(0, nt, chunk):
            t1 = min(nt, t0 + chunk)
            x = read((slice(t0, t1),) + tuple(sel[1:]))
            out = anom[:t1 - t0]
            climate_anomalies(x.reshape((t1 - t0, z) + local[-2:]), layout.months[t0:t1],
                              climatology, out, decode=decode, parallel=parallel)
            w.write("anomaly", out.reshape((t1 - t0,) + tuple(local[1:])),
                    (t0,) + tuple(s.start for s in sel[1:]))
            progress.advance(t1 - t0)
