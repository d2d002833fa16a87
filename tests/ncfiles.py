"""A small (time, lat, lon) NetCDF file for the tests of the reading, writing and xarray
APIs: prime sizes, a 5-step time axis, descending latitude, a noleap calendar, a float32
variable with a fill region, an int16 packed one with _FillValue, a uint8 one."""

import numpy as np

NT, NY, NX = 5, 7, 11  # primes; the time axis is shorter than 4 ranks' blocks would like


def write_small_climate(path, seed=0):
    """A (time, lat, lon) file: ``tas`` float32 with a NaN _FillValue region, ``pr``
    int16 packed (scale/offset float32, _FillValue -32767), ``flag`` uint8 without
    attributes, latitude descending, a noleap calendar."""
    import netCDF4
    rng = np.random.default_rng(seed)
    with netCDF4.Dataset(path, "w") as f:
        for name, n in (("time", NT), ("lat", NY), ("lon", NX)):
            f.createDimension(name, n)
        t = f.createVariable("time", "f8", ("time",))
        t.units, t.calendar = "days since 2001-01-01", "noleap"
        t[:] = np.arange(NT) * 30.0 + 0.5
        lat = f.createVariable("lat", "f8", ("lat",))
        lat.units, lat[:] = "degrees_north", np.linspace(90, -90, NY)
        lon = f.createVariable("lon", "f8", ("lon",))
        lon.units, lon[:] = "degrees_east", np.arange(NX) * 360.0 / NX
        tas = f.createVariable("tas", "f4", ("time", "lat", "lon"), fill_value=np.float32(1e20))
        data = rng.normal(280, 10, (NT, NY, NX)).astype("f4")
        data[:, 2:4, 3:6] = np.float32(1e20)  # land: stored fill
        f.set_auto_maskandscale(False)
        tas[:] = data
        pr = f.createVariable("pr", "i2", ("time", "lat", "lon"), fill_value=np.int16(-32767))
        pr.scale_factor, pr.add_offset = np.float32(0.01), np.float32(5.0)
        raw = rng.integers(-30000, 30000, (NT, NY, NX)).astype("i2")
        raw[1, :, 0] = -32767
        pr[:] = raw
        flag = f.createVariable("flag", "u1", ("time", "lat", "lon"))
        flag[:] = rng.integers(0, 255, (NT, NY, NX)).astype("u1")


def write_transposed(src, dst, order, *, fmt="NETCDF4", chunks=None):
    """Copy the NetCDF file ``src`` to ``dst`` with every variable on all the dimensions
    in ``order`` (names) stored in that order instead (raw values and attributes as they
    are; contiguous, or HDF5 ``chunks`` in ``order``). The copy holds the same data
    transposed: a reader that follows the dimension names sees the same values."""
    import netCDF4
    with netCDF4.Dataset(src) as a, netCDF4.Dataset(dst, "w", format=fmt) as b:
        a.set_auto_maskandscale(False)
        b.setncatts({k: a.getncattr(k) for k in a.ncattrs()})
        for name, dim in a.dimensions.items():
            b.createDimension(name, len(dim))
        for name, var in a.variables.items():
            attrs = {k: var.getncattr(k) for k in var.ncattrs()}
            dims, values = var.dimensions, var[...]
            if sorted(dims) == sorted(order) and len(dims) > 1:
                values = np.transpose(values, [dims.index(d) for d in order])
                dims = tuple(order)
            out = b.createVariable(name, var.dtype, dims,
                                   fill_value=attrs.pop("_FillValue", None),
                                   chunksizes=chunks if dims == tuple(order) else None)
            out.set_auto_maskandscale(False)
            out.setncatts(attrs)
            out[...] = values
    return dst


def write_grid_file(path, lat, lon, *, nt=6, lat_bounds=None, lon_bounds=None, area=None,
                    area_name="areacella", cell_measures=None, nan_fraction=0.0, levels=0,
                    seed=0):
    """A (time, [plev,] lat, lon) float32 ``tas`` on the given 1-D coordinates (any order,
    any spacing), for the cell-area tests: with ``lat_bounds``/``lon_bounds`` ((n, 2),
    named by the coordinates' ``bounds``), an ``area`` variable ``area_name`` (lat, lon)
    named by ``cell_measures`` (default ``"area: AREA_NAME"`` when ``area`` is given),
    ``nan_fraction`` of the values missing (_FillValue), a strong pole-to-equator
    gradient (so the weights matter). Written by netCDF-C (netCDF4)."""
    import netCDF4
    rng = np.random.default_rng(seed)
    lat, lon = np.asarray(lat, float), np.asarray(lon, float)
    shape = (nt,) + ((levels,) if levels else ()) + (lat.size, lon.size)
    with netCDF4.Dataset(path, "w") as f:
        f.createDimension("time", nt)
        if levels:
            f.createDimension("plev", levels)
        f.createDimension("lat", lat.size)
        f.createDimension("lon", lon.size)
        f.createDimension("bnds", 2)
        t = f.createVariable("time", "f8", ("time",))
        t.units, t.calendar = "days since 2000-01-01", "standard"
        t[:] = np.arange(nt) * 10.0
        if levels:
            p = f.createVariable("plev", "f8", ("plev",))
            p.units, p[:] = "Pa", np.linspace(100000, 50000, levels)
        for name, values, units, bounds in (("lat", lat, "degrees_north", lat_bounds),
                                            ("lon", lon, "degrees_east", lon_bounds)):
            v = f.createVariable(name, "f8", (name,))
            v.units, v[:] = units, values
            if bounds is not None:
                v.bounds = f"{name}_bnds"
                f.createVariable(f"{name}_bnds", "f8", (name, "bnds"))[:] = bounds
        dims = ("time",) + (("plev",) if levels else ()) + ("lat", "lon")
        tas = f.createVariable("tas", "f4", dims, fill_value=np.float32(1e20))
        tas.units = "K"
        if area is not None or cell_measures is not None:
            tas.cell_measures = cell_measures or f"area: {area_name}"
        data = (250 + 50 * np.cos(np.deg2rad(lat))[:, None] + 0.05 * lon[None, :]
                + rng.normal(0, 3, shape)).astype("f4")
        data[rng.random(shape) < nan_fraction] = np.float32(1e20)
        f.set_auto_maskandscale(False)
        tas[:] = data
        if area is not None:
            a = f.createVariable(area_name, "f8", ("lat", "lon"))
            a.standard_name, a.units = "cell_area", "m2"
            a[:] = area


def write_area_file(path, lat, lon, area, name="areacella", dims=("lat", "lon")):
    """A CMIP-style separate area file: ``name(lat, lon)`` (or ``dims`` (lon, lat), with
    ``area`` given in that order) with its coordinates and standard_name cell_area."""
    import netCDF4
    values = {"lat": np.asarray(lat, float), "lon": np.asarray(lon, float)}
    units = {"lat": "degrees_north", "lon": "degrees_east"}
    with netCDF4.Dataset(path, "w") as f:
        for d in dims:
            f.createDimension(d, values[d].size)
            v = f.createVariable(d, "f8", (d,))
            v.units, v[:] = units[d], values[d]
        a = f.createVariable(name, "f8", dims)
        a.standard_name, a.units = "cell_area", "m2"
        a[:] = area


def _copy_var(a, group, name, dims=None, values=None, attrs=None):
    """Copy variable ``name`` of the open netCDF4 file ``a`` into ``group`` (raw values and
    attributes), on ``dims`` (default its own), with ``values``/``attrs`` if given."""
    var = a.variables[name]
    attrs = {k: var.getncattr(k) for k in var.ncattrs()} if attrs is None else dict(attrs)
    out = group.createVariable(name, var.dtype, dims or var.dimensions,
                               fill_value=attrs.pop("_FillValue", None))
    out.set_auto_maskandscale(False)
    out.setncatts(attrs)
    out[...] = var[...] if values is None else values
    return out


def nemo_style(src, dst, *, steps=slice(None), units=None, counter="no-units",
               instant=None, coordinates="time_centered"):
    """Copy time steps ``steps`` of a (time, lat, lon) file ``src`` with variable ``tas``
    to ``dst`` as NEMO writes time: dimension ``time_counter``; the times (in ``units``,
    default the source's) in the auxiliary variable ``time_centered(time_counter)``;
    ``time_counter`` a coordinate variable without units (``counter="no-units"``: axis
    T, values in seconds) or no variable at all (``"none"``); ``instant``: also
    ``time_instant`` = the times + ``instant`` (units); ``tas`` with the attribute
    ``coordinates`` (None: without)."""
    import cftime
    import netCDF4
    with netCDF4.Dataset(src) as a, netCDF4.Dataset(dst, "w") as b:
        a.set_auto_maskandscale(False)
        t = a.variables["time"]
        tattrs = {k: t.getncattr(k) for k in t.ncattrs()}
        values = np.asarray(t[steps], dtype=np.float64)
        if units is not None:
            dates = cftime.num2date(values, tattrs["units"], calendar=tattrs["calendar"])
            values = cftime.date2num(dates, units, calendar=tattrs["calendar"])
            tattrs["units"] = units
        b.createDimension("time_counter", values.size)
        for d in ("lat", "lon"):
            b.createDimension(d, len(a.dimensions[d]))
            _copy_var(a, b, d)
        if counter == "no-units":
            c = b.createVariable("time_counter", "f8", ("time_counter",))
            c.axis, c.long_name = "T", "Time axis"
            c[:] = values * 86400.0
        tattrs.update(standard_name="time", long_name="Time axis centred in the interval")
        _copy_var(a, b, "time", ("time_counter",), values, tattrs)
        b.renameVariable("time", "time_centered")
        if instant is not None:
            _copy_var(a, b, "time", ("time_counter",), values + instant, tattrs)
            b.renameVariable("time", "time_instant")
        tas = a.variables["tas"]
        attrs = {k: tas.getncattr(k) for k in tas.ncattrs()}
        if coordinates is not None:
            attrs["coordinates"] = coordinates
        _copy_var(a, b, "tas", ("time_counter", "lat", "lon"), tas[steps], attrs)
    return dst


def in_group(src, dst, where):
    """Copy the (time, lat, lon) file ``src`` with ``tas`` to ``dst`` with ``tas`` inside a
    group. ``where="/g"``: ``/g`` defines its own lat and lon (coordinate variables),
    which hide the root's decoy lat and lon of other sizes, and takes time from the root.
    ``where="/a/b"``: every dimension from the root, and a sibling group ``/x`` defines a
    decoy lat."""
    import netCDF4
    with netCDF4.Dataset(src) as a, netCDF4.Dataset(dst, "w") as b:
        a.set_auto_maskandscale(False)
        b.createDimension("time", len(a.dimensions["time"]))
        _copy_var(a, b, "time")
        if where == "/g":
            for d in ("lat", "lon"):   # decoys at the root
                b.createDimension(d, 3)
                v = b.createVariable(d, "f8", (d,))
                v.units = {"lat": "degrees_north", "lon": "degrees_east"}[d]
                v[:] = [-10.0, 0.0, 10.0]
            g = b.createGroup("g")
        else:
            for d in ("lat", "lon"):
                b.createDimension(d, len(a.dimensions[d]))
                _copy_var(a, b, d)
            x = b.createGroup("x")
            x.createDimension("lat", 2)
            x.createVariable("lat", "f8", ("lat",))[:] = [1.0, 2.0]
            g = b.createGroup("a").createGroup("b")
        if where == "/g":
            for d in ("lat", "lon"):
                g.createDimension(d, len(a.dimensions[d]))
                _copy_var(a, g, d)
        _copy_var(a, g, "tas")
    return dst


#: curvilinear test grids: (time, row, column) dimension names and what the grid is
CURVILINEAR_KINDS = {"tripolar": ("time", "j", "i"), "nemo": ("time_counter", "y", "x"),
                     "rotated": ("time", "rlat", "rlon"), "projected": ("time", "y", "x")}


def _rotated_to_geographic(rlat, rlon, pole_lat, pole_lon):
    """True latitude/longitude (degrees) of rotated-pole coordinates (CF's
    rotated_latitude_longitude with grid_north_pole_latitude/longitude)."""
    p, rl, ro = np.deg2rad(pole_lat), np.deg2rad(rlat), np.deg2rad(rlon)
    x, y, z = np.cos(rl) * np.cos(ro), np.cos(rl) * np.sin(ro), np.sin(rl)
    # rotate about y by (90 - pole_lat), then about z by the pole's longitude + 180
    t = np.pi / 2 - p
    x2, z2 = np.cos(t) * x + np.sin(t) * z, -np.sin(t) * x + np.cos(t) * z
    lat = np.rad2deg(np.arcsin(np.clip(z2, -1, 1)))
    lon = np.rad2deg(np.arctan2(y, x2)) + pole_lon + 180.0
    return lat, (lon + 180.0) % 360.0 - 180.0


def curvilinear_grid(kind, ny, nx):
    """``(lat, lon, row values, column values)`` of a test grid: ``"tripolar"``/``"nemo"``
    (warped rows towards the north, as an ocean model's grid), ``"rotated"`` (a rotated
    pole: row/column values are rlat/rlon in degrees), ``"projected"`` (x/y in metres)."""
    j, i = np.meshgrid(np.arange(ny), np.arange(nx), indexing="ij")
    if kind == "rotated":
        rlat, rlon = np.linspace(-20, 22, ny), np.linspace(-28, 25, nx)
        lat, lon = _rotated_to_geographic(*np.meshgrid(rlat, rlon, indexing="ij"), 39.25,
                                          -162.0)
        return lat, lon, rlat, rlon
    north = (j / (ny - 1)) ** 2
    lat = -78 + 160 * j / (ny - 1) + 6 * north * np.sin(2 * np.pi * i / nx)
    lon = ((i + 0.5) * 360 / nx + 20 * north * np.cos(2 * np.pi * i / nx)) % 360
    if kind == "projected":
        return lat, lon - 180.0, np.arange(ny) * 25e3, np.arange(nx) * 25e3
    return lat, lon, np.arange(ny), np.arange(nx)


def write_curvilinear(path, kind="tripolar", *, nt=29, ny=13, nx=17, area=True,
                      steps=slice(None), units="days since 1850-01-01", bad=None,
                      var="tos", seed=0):
    """A ``var`` (time, row, column) float32 on a curvilinear grid (``kind``, see
    :data:`CURVILINEAR_KINDS`) with 2-D latitude/longitude named by its coordinates
    attribute, land (a fixed ~20% of the cells) missing as _FillValue, a pole-to-equator
    gradient, monthly steps ``steps`` of ``nt`` (noleap, times in ``units``); with
    ``area`` an area variable ``areacello`` named by ``cell_measures``; CMIP-style
    vertex bounds for "tripolar". ``bad``: "lat-beyond-90" (one latitude 95),
    "shapes" (longitude 1-D on the columns), "missing" (coordinates names a variable
    the file lacks), "radians" (latitude in radians)."""
    import cftime
    import netCDF4
    rng = np.random.default_rng(seed)
    tdim, ydim, xdim = CURVILINEAR_KINDS[kind]
    lat, lon, yv, xv = curvilinear_grid(kind, ny, nx)
    if bad == "lat-beyond-90":
        lat = lat.copy()
        lat[ny - 1, nx // 2] = 95.0
    days = np.arange(nt) * 365.0 / 12 + 15.0
    dates = cftime.num2date(days, "days since 1850-01-01", calendar="noleap")
    times = cftime.date2num(dates, units, calendar="noleap")[steps]
    data = (270 + 30 * np.cos(np.deg2rad(lat)) + 0.01 * lon
            + rng.normal(0, 2, (nt, ny, nx)))[steps].astype("f4")
    land = np.random.default_rng(99).random((ny, nx)) < 0.2
    data[:, land] = np.float32(1e20)
    names = ("nav_lat", "nav_lon") if kind == "nemo" else ("lat", "lon")
    with netCDF4.Dataset(path, "w") as f:
        f.createDimension(tdim, times.size)
        f.createDimension(ydim, ny)
        f.createDimension(xdim, nx)
        t = f.createVariable(tdim, "f8", (tdim,))
        t.standard_name, t.units, t.calendar = "time", units, "noleap"
        t[:] = times
        if kind != "nemo":      # NEMO's y, x have no coordinate variables
            for d, values in ((ydim, yv), (xdim, xv)):
                c = f.createVariable(d, "f8", (d,))
                c[:] = values
                if kind == "rotated":
                    c.standard_name = {"rlat": "grid_latitude", "rlon": "grid_longitude"}[d]
                    c.units = "degrees"
                elif kind == "projected":
                    c.standard_name = f"projection_{d}_coordinate"
                    c.units, c.axis = "m", d.upper()
                else:
                    c.units, c.long_name = "1", f"cell index along {d}"
        nav = "f4" if kind == "nemo" else "f8"
        la = f.createVariable(names[0], nav, (ydim, xdim))
        la.standard_name, la.long_name = "latitude", "latitude"
        la.units = "radians" if bad == "radians" else "degrees_north"
        la[:] = np.deg2rad(lat) if bad == "radians" else lat
        lo = f.createVariable(names[1], nav, (xdim,) if bad == "shapes" else (ydim, xdim))
        lo.standard_name, lo.long_name, lo.units = "longitude", "longitude", "degrees_east"
        lo[:] = lon[0] if bad == "shapes" else lon
        if kind == "tripolar":
            f.createDimension("vertices", 4)
            la.bounds, lo.bounds = "vertices_latitude", "vertices_longitude"
            for name, c, step in (("vertices_latitude", lat, 80 / ny),
                                  ("vertices_longitude", lon, 180 / nx)):
                b = f.createVariable(name, "f8", (ydim, xdim, "vertices"))
                b[:] = c[:, :, None] + step * np.array([-1, -1, 1, 1])[None, None, :]
        x = f.createVariable(var, "f4", (tdim, ydim, xdim), fill_value=np.float32(1e20))
        x.units, x.standard_name = "degC" if kind != "rotated" else "K", "sea_surface_temp"
        coords = " ".join(names[::-1]) if kind == "nemo" else " ".join(names)
        x.coordinates = coords.replace("lon", "lon2") if bad == "missing" else coords
        if kind in ("rotated", "projected"):
            gm = f.createVariable("crs", "i4", ())
            if kind == "rotated":
                gm.grid_mapping_name = "rotated_latitude_longitude"
                gm.grid_north_pole_latitude, gm.grid_north_pole_longitude = 39.25, -162.0
            else:
                gm.grid_mapping_name = "lambert_conformal_conic"
                gm.standard_parallel = [30.0, 60.0]
            x.grid_mapping = "crs"
        if area:
            x.cell_measures = "area: areacello"
            a = f.createVariable("areacello", "f8", (ydim, xdim))
            a.standard_name, a.units = "cell_area", "m2"
            a[:] = 1e9 * np.cos(np.deg2rad(lat)) * rng.uniform(0.7, 1.3, (ny, nx))
        f.set_auto_maskandscale(False)
        x[:] = data
    return path


def curvilinear_corners(kind, ny, nx):
    """``(lat, lon)`` (ny, nx, 4) corners of the cells of :func:`curvilinear_grid`,
    counter-clockwise from (row − ½, column − ½) (CMIP's order): the grid's own formula
    at half indices (rlat/rlon midpoints rotated, for "rotated"); the warped grids' top
    row ends at its centres (half cells: the formula half a row further would cross the
    pole), so every cell is convex."""
    dj, di = np.array([-0.5, -0.5, 0.5, 0.5]), np.array([-0.5, 0.5, 0.5, -0.5])
    j, i = np.meshgrid(np.arange(ny), np.arange(nx), indexing="ij")
    j, i = j[:, :, None] + dj, i[:, :, None] + di
    if kind == "rotated":
        rlat = -20 + j * 42 / (ny - 1)
        rlon = -28 + i * 53 / (nx - 1)
        return _rotated_to_geographic(rlat, rlon, 39.25, -162.0)
    j = np.minimum(j, ny - 1)
    north = (j / (ny - 1)) ** 2
    lat = -78 + 160 * j / (ny - 1) + 6 * north * np.sin(2 * np.pi * i / nx)
    lon = ((i + 0.5) * 360 / nx + 20 * north * np.cos(2 * np.pi * i / nx)) % 360
    return lat, lon - 180.0 if kind == "projected" else lon


def write_curvilinear_vertices(path, kind="tripolar", **kw):
    """:func:`write_curvilinear` without an area variable, with CMIP-style vertex bounds
    ``vertices_latitude``/``vertices_longitude`` (row, column, vertices) that are the
    cells' corners (:func:`curvilinear_corners`), named by the 2-D coordinates'
    ``bounds`` attribute: the areas come from the vertices only."""
    import netCDF4
    write_curvilinear(path, kind, area=False, **kw)
    _, ydim, xdim = CURVILINEAR_KINDS[kind]
    names = ("nav_lat", "nav_lon") if kind == "nemo" else ("lat", "lon")
    with netCDF4.Dataset(path, "a") as f:
        ny, nx = f.dimensions[ydim].size, f.dimensions[xdim].size
        if "vertices" not in f.dimensions:
            f.createDimension("vertices", 4)
        for coord, name, values in zip(names, ("vertices_latitude", "vertices_longitude"),
                                       curvilinear_corners(kind, ny, nx)):
            v = f.variables.get(name) or f.createVariable(name, "f8", (ydim, xdim,
                                                                       "vertices"))
            v[:] = values
            f[coord].bounds = name
    return path


def write_ocean_levels(path, *, nt=14, levels=3, ny=11, nx=13, area_fill=True, seed=0):
    """A CMIP-ocean style ``thetao`` (time, lev, j, i) float32 (``levels=0``: (time, j,
    i)) on the tripolar test grid (:func:`curvilinear_grid`), ``j`` and ``i`` without
    coordinate variables, 2-D ``lat``/``lon`` named by its coordinates attribute, land
    missing as _FillValue (the surface land, and more of it at each deeper level),
    monthly noleap steps, and ``areacello(j, i)`` float32 named by ``cell_measures``.
    With ``area_fill`` areacello has _FillValue 1e20 over land as some CMIP area files
    do, and its mask is not quite the data's: a few land cells have an area and a few
    ocean cells have none (data but no area)."""
    import netCDF4
    rng = np.random.default_rng(seed)
    lat, lon, _, _ = curvilinear_grid("tripolar", ny, nx)
    shape = (nt,) + ((levels,) if levels else ()) + (ny, nx)
    land = np.random.default_rng(7).random((ny, nx)) < 0.25
    data = (270 + 30 * np.cos(np.deg2rad(lat)) + 0.01 * lon
            + rng.normal(0, 2, shape)).astype("f4")
    if levels:
        deeper = np.random.default_rng(8).random((levels, ny, nx)) < 0.1
        data[:, np.maximum.accumulate(land | deeper, axis=0)] = np.float32(1e20)
        data += np.arange(levels, dtype="f4")[None, :, None, None] * -2
    else:
        data[:, land] = np.float32(1e20)
    area = (1e9 * np.cos(np.deg2rad(lat)) * rng.uniform(0.7, 1.3, (ny, nx))).astype("f4")
    if area_fill:
        flip = np.random.default_rng(9).random((ny, nx)) < 0.08
        area[land ^ flip] = np.float32(1e20)
    with netCDF4.Dataset(path, "w") as f:
        f.createDimension("time", nt)
        if levels:
            f.createDimension("lev", levels)
        f.createDimension("j", ny)
        f.createDimension("i", nx)
        t = f.createVariable("time", "f8", ("time",))
        t.standard_name, t.units, t.calendar = "time", "days since 1850-01-01", "noleap"
        t[:] = np.arange(nt) * 365.0 / 12 + 15.0
        if levels:
            z = f.createVariable("lev", "f8", ("lev",))
            z.standard_name, z.units, z.positive, z.axis = "depth", "m", "down", "Z"
            z[:] = 5.0 + 10.0 * np.arange(levels)
        for name, values, units in (("lat", lat, "degrees_north"),
                                    ("lon", lon, "degrees_east")):
            c = f.createVariable(name, "f8", ("j", "i"))
            c.standard_name, c.units = {"lat": "latitude", "lon": "longitude"}[name], units
            c[:] = values
        dims = ("time",) + (("lev",) if levels else ()) + ("j", "i")
        x = f.createVariable("thetao", "f4", dims, fill_value=np.float32(1e20))
        x.standard_name, x.units = "sea_water_potential_temperature", "degC"
        x.coordinates, x.cell_measures = "lat lon", "area: areacello"
        a = f.createVariable("areacello", "f4", ("j", "i"),
                             fill_value=np.float32(1e20) if area_fill else None)
        a.standard_name, a.units = "cell_area", "m2"
        f.set_auto_maskandscale(False)
        x[:] = data
        a[:] = area
    return path


def write_time_series(path, times, units, calendar, *, ny=4, nx=6, seed=0):
    """A (time, lat, lon) float32 ``tas`` at the raw ``times`` (in ``units`` and
    ``calendar``: any origin, any spacing, e.g. a series across October 1582 or monthly
    steps at mid-month), for the tests of time selections and groupings: a seasonal cycle
    plus noise, missing values (_FillValue) over a land cell at every step, at every
    seventh step of another cell, and at the first 40 % of the steps of a third one (whole
    years and months missing there)."""
    import netCDF4
    rng = np.random.default_rng(seed)
    times = np.asarray(times, dtype=np.float64)
    nt = times.size
    lat = np.linspace(-60.0, 60.0, ny)
    data = (280 + 15 * np.cos(np.deg2rad(lat))[None, :, None]
            + 8 * np.sin(2 * np.pi * times / 365.0)[:, None, None]
            + rng.normal(0, 2, (nt, ny, nx))).astype("f4")
    data[:, 0, 0] = np.float32(1e20)
    data[::7, 1, 2] = np.float32(1e20)
    data[:int(0.4 * nt), ny - 1, nx - 1] = np.float32(1e20)
    with netCDF4.Dataset(path, "w") as f:
        for name, n in (("time", nt), ("lat", ny), ("lon", nx)):
            f.createDimension(name, n)
        t = f.createVariable("time", "f8", ("time",))
        t.standard_name, t.units, t.calendar = "time", units, calendar
        t[:] = times
        y = f.createVariable("lat", "f8", ("lat",))
        y.units, y[:] = "degrees_north", lat
        x = f.createVariable("lon", "f8", ("lon",))
        x.units, x[:] = "degrees_east", np.arange(nx) * 360.0 / nx
        tas = f.createVariable("tas", "f4", ("time", "lat", "lon"),
                               fill_value=np.float32(1e20))
        tas.units = "K"
        f.set_auto_maskandscale(False)
        tas[:] = data
    return path
