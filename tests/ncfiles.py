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
