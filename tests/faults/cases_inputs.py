"""Input files for the bad-input table: small NetCDF-4 files, each wrong in one way.

Written with h5py as netCDF-C lays them out (coordinate variables are dimension
scales), so clusterkit's reader sees them as it sees real files. Every builder
takes a path and returns it.
"""

import h5py
import numpy as np

__all__ = ["BUILDERS", "write_nc", "good_coords"]

NT, NY, NX = 12, 9, 16
TIME_ATTRS = {"units": "days since 2000-01-01 00:00:00", "calendar": "standard",
              "standard_name": "time", "axis": "T"}
LAT_ATTRS = {"units": "degrees_north", "standard_name": "latitude", "axis": "Y"}
LON_ATTRS = {"units": "degrees_east", "standard_name": "longitude", "axis": "X"}
TAS_ATTRS = {"units": "K", "standard_name": "air_temperature"}


def _attrs(obj, attrs):
    for k, v in attrs.items():
        obj.attrs[k] = np.bytes_(v.encode()) if isinstance(v, str) else v


def write_nc(path, coords, variables):
    """Write ``coords`` (``[(name, values, attrs)]``: 1-D coordinate variables, each its
    own dimension) and ``variables`` (``[(name, dims, data, attrs)]``; ``data`` an
    array, or ``(shape, dtype)`` for a chunked variable left unwritten)."""
    with h5py.File(path, "w") as f:
        for name, values, attrs in coords:
            ds = f.create_dataset(name, data=np.asarray(values, dtype=np.float64))
            ds.make_scale(name)
            _attrs(ds, attrs)
        for name, dims, data, attrs in variables:
            if isinstance(data, tuple):
                shape, dtype = data
                chunks = tuple(min(n, 64) or 1 for n in shape)
                ds = f.create_dataset(name, shape=shape, dtype=dtype, chunks=chunks,
                                      fillvalue=np.array(1e20, dtype))
            else:
                ds = f.create_dataset(name, data=data)
            for i, d in enumerate(dims):
                ds.dims[i].attach_scale(f[d])
            _attrs(ds, attrs)
    return path


def good_coords(nt=NT, ny=NY, nx=NX):
    """``(time, lat, lon)`` values of a plain 30-day-step global grid."""
    return (np.arange(nt) * 30.0, np.linspace(-80.0, 80.0, ny),
            np.arange(nx) * (360.0 / nx))


def _field(shape):
    rng = np.random.default_rng(7)
    return (280.0 + rng.normal(0.0, 5.0, shape)).astype(np.float32)


def _grid_file(path, time=None, lat=None, lon=None, time_attrs=None, lat_attrs=None,
               lon_attrs=None, names=("time", "lat", "lon")):
    t, y, x = good_coords()
    t = t if time is None else np.asarray(time, dtype=np.float64)
    y = y if lat is None else np.asarray(lat, dtype=np.float64)
    x = x if lon is None else np.asarray(lon, dtype=np.float64)
    coords = [(names[0], t, TIME_ATTRS if time_attrs is None else time_attrs),
              (names[1], y, LAT_ATTRS if lat_attrs is None else lat_attrs),
              (names[2], x, LON_ATTRS if lon_attrs is None else lon_attrs)]
    data = _field((t.size, y.size, x.size))
    return write_nc(path, coords, [("tas", names, data, TAS_ATTRS)])


def projected(path):
    """A projected grid: ``tas(time, y, x)`` with y/x in metres (axis Y/X) and 2-D
    ``lat(y, x)``/``lon(y, x)`` in degrees that ``tas`` does not name in a ``coordinates``
    attribute (named, the grid is curvilinear and valid)."""
    y = np.arange(NY) * 25000.0 - 100000.0
    x = np.arange(NX) * 25000.0 - 200000.0
    _grid_file(path, lat=y, lon=x, names=("time", "y", "x"),
               lat_attrs={"units": "m", "axis": "Y",
                          "standard_name": "projection_y_coordinate"},
               lon_attrs={"units": "m", "axis": "X",
                          "standard_name": "projection_x_coordinate"})
    with h5py.File(path, "a") as f:
        yy, xx = np.meshgrid(y, x, indexing="ij")
        for name, values, attrs in (("lat", 50.0 + yy / 111e3, LAT_ATTRS),
                                    ("lon", 10.0 + xx / 70e3, LON_ATTRS)):
            ds = f.create_dataset(name, data=values)
            ds.dims[0].attach_scale(f["y"])
            ds.dims[1].attach_scale(f["x"])
            _attrs(ds, {k: v for k, v in attrs.items() if k != "axis"})
    return path


def index_axes(path):
    """Index dimensions ``j``/``i`` (0, 1, 2, ...) that carry only ``axis`` Y/X."""
    return _grid_file(path, lat=np.arange(NY), lon=np.arange(NX), names=("time", "j", "i"),
                      lat_attrs={"axis": "Y", "long_name": "row index"},
                      lon_attrs={"axis": "X", "long_name": "column index"})


def axis_only(path):
    """Latitude and longitude in degrees, but identified by ``axis`` alone (no units,
    no standard_name)."""
    return _grid_file(path, lat_attrs={"axis": "Y"}, lon_attrs={"axis": "X"})


def lat_radians(path):
    """Latitude and longitude with standard names but in radians."""
    _, y, x = good_coords()
    return _grid_file(path, lat=np.deg2rad(y), lon=np.deg2rad(x),
                      lat_attrs={"standard_name": "latitude", "units": "radians"},
                      lon_attrs={"standard_name": "longitude", "units": "radians"})


def nan_lat(path):
    lat = good_coords()[1].copy()
    lat[3] = np.nan
    return _grid_file(path, lat=lat)


def lat_95(path):
    lat = good_coords()[1].copy()
    lat[-1] = 95.0
    return _grid_file(path, lat=lat)


def nan_lon(path):
    lon = good_coords()[2].copy()
    lon[5] = np.nan
    return _grid_file(path, lon=lon)


def inf_lon(path):
    lon = good_coords()[2].copy()
    lon[0] = -np.inf
    return _grid_file(path, lon=lon)


def nan_time(path):
    t = good_coords()[0].copy()
    t[4] = np.nan
    return _grid_file(path, time=t)


def time_1e300(path):
    t = good_coords()[0].copy()
    t[-1] = 1e300
    return _grid_file(path, time=t)


def empty_time(path):
    return _grid_file(path, time=np.zeros(0))


def empty_lat(path):
    return _grid_file(path, lat=np.zeros(0))


def time_no_units(path):
    return _grid_file(path, time_attrs={"standard_name": "time", "axis": "T"})


def time_bad_epoch(path):
    return _grid_file(path, time_attrs={**TIME_ATTRS, "units": "days since the big bang"})


def martian(path):
    return _grid_file(path, time_attrs={**TIME_ATTRS, "calendar": "martian"})


def one_dim(path):
    """Only a 1-D data variable ``tas(time)`` beside the lat/lon coordinates."""
    t, y, x = good_coords()
    coords = [("time", t, TIME_ATTRS), ("lat", y, LAT_ATTRS), ("lon", x, LON_ATTRS)]
    return write_nc(path, coords, [("tas", ("time",), _field((NT,)), TAS_ATTRS)])


def two_vars(path):
    """Two data variables over (time, lat, lon): the job cannot choose without --var."""
    _grid_file(path)
    with h5py.File(path, "a") as f:
        ds = f.create_dataset("pr", data=_field((NT, NY, NX)))
        for i, d in enumerate(("time", "lat", "lon")):
            ds.dims[i].attach_scale(f[d])
    return path


def two_lats(path):
    """``tas(lat, lon, time, lat2)``: any dimension order is read, but two latitude
    dimensions are not a grid."""
    t, y, x = good_coords()
    coords = [("time", t, TIME_ATTRS), ("lat", y, LAT_ATTRS), ("lon", x, LON_ATTRS),
              ("lat2", y[:2], LAT_ATTRS)]
    return write_nc(path, coords, [("tas", ("lat", "lon", "time", "lat2"),
                                    _field((NY, NX, NT, 2)), TAS_ATTRS)])


def huge(path):
    """``tas`` of 100000 x 1000000 x 100000 float32 (40 PB), chunked and never written: a
    few MB on disk. Each of its arrays on a rank (even on 4 ranks) is larger than RAM, so
    a job that allocates them before checking fails at once instead of filling memory."""
    nt, ny, nx = 100_000, 1_000_000, 100_000
    coords = [("time", np.arange(nt) * 1.0, TIME_ATTRS),
              ("lat", np.linspace(-90.0, 90.0, ny), LAT_ATTRS),
              ("lon", np.arange(nx) * (360.0 / nx), LON_ATTRS)]
    return write_nc(path, coords, [("tas", ("time", "lat", "lon"), ((nt, ny, nx), np.float32),
                                    TAS_ATTRS)])


def netcdf3(path):
    """A damaged NetCDF-3 classic file: the signature, then bytes no header has."""
    with open(path, "wb") as f:
        f.write(b"CDF\x01" + b"\xff" * 60)
    return path


def text(path):
    with open(path, "w") as f:
        f.write("hello\n")
    return path


def empty_file(path):
    open(path, "wb").close()
    return path


#: file name -> builder
BUILDERS = {
    "projected.nc": projected, "index.nc": index_axes, "axisonly.nc": axis_only,
    "radians.nc": lat_radians,
    "nanlat.nc": nan_lat, "lat95.nc": lat_95, "nanlon.nc": nan_lon, "inflon.nc": inf_lon,
    "nantime.nc": nan_time, "time1e300.nc": time_1e300, "emptytime.nc": empty_time,
    "emptylat.nc": empty_lat, "timenounits.nc": time_no_units,
    "timebadepoch.nc": time_bad_epoch, "martian.nc": martian, "onedim.nc": one_dim,
    "twovars.nc": two_vars, "twolats.nc": two_lats, "huge.nc": huge,
    "netcdf3.nc": netcdf3, "text.nc": text, "empty.nc": empty_file,
}
