"""A synthetic CF climate dataset (seasonal cycle, trend, noise), written in parallel.

The values are a pure function of the global indices, so any rank count writes
the same file. Options reproduce the quirks of real files: calendars, a land
mask (missing values), compression and chunking, descending latitudes,
-180..180 longitudes, pressure levels, and int16 packing.
"""

import numpy as np

from .. import comm as _comm
from ..grid import Grid
from .cf import CALENDARS, YEAR_DAYS
from .ncwrite import NCWriter
from ..errors import InputError

__all__ = ["make_dataset", "synthetic_values"]


def synthetic_values(t_days, year_days, lat, lon, level=None, *, land=None):
    """Temperature-like values (K) for the outer product of the coordinates (float64).

    Parameters
    ----------
    t_days : array
        Days since the first step. Shape (T,).
    year_days : float
        Calendar year length (seasonal cycle period and trend unit).
    lat, lon : array
        Degrees. Shapes (Y,), (X,).
    level : array, optional
        Pressure levels in hPa (Z,); adds a lapse-rate term and a level axis.
    land : array of bool, optional
        (Y, X) mask; True cells become NaN.
    """
    t = np.asarray(t_days, dtype=np.float64)[:, None, None]
    phi = np.deg2rad(np.asarray(lat, dtype=np.float64))[None, :, None]
    lam = np.deg2rad(np.asarray(lon, dtype=np.float64))[None, None, :]
    years = t / year_days
    base = 288.0 - 40.0 * np.sin(phi) ** 2 + 3.0 * np.cos(phi) * np.sin(2 * lam)
    season = 12.0 * np.sin(phi) * np.cos(2 * np.pi * years)
    trend = 0.5 * years * (1.0 + 0.3 * np.cos(lam))
    # cheap, decomposition-independent pseudo-noise from the coordinates
    h = np.sin(t * 12.9898 + phi * 78.233 * 57.3 + lam * 37.719 * 57.3) * 43758.5453
    noise = 2.0 * (h - np.floor(h) - 0.5)
    x = base + season + trend + noise
    if level is not None:
        lev = np.asarray(level, dtype=np.float64)[None, :, None, None]
        x = x[:, None] - 60.0 * np.log(1000.0 / lev)
    if land is not None:
        x = np.where(land, np.nan, x)
    return x


def _land_mask(lat, lon):
    """A blobby 'continent' mask, about 30 % of the cells."""
    phi = np.deg2rad(lat)[:, None]
    lam = np.deg2rad(lon)[None, :]
    return (np.sin(3 * lam) * np.cos(2 * phi) + 0.3 * np.cos(5 * phi)) > 0.45


def make_dataset(path, shape, *, calendar="standard", land_mask=False, compress=False,
                 descending_lat=False, levels=0, lon180=False, packed=False, var="tas",
                 step_days=1.0, overwrite=False, comm=None):
    """Write the synthetic dataset to ``path`` (NetCDF-4) on every rank of ``comm``.

    Parameters
    ----------
    shape : (T, Y, X)
        Time steps, latitudes, longitudes.
    calendar : str
        Any CF calendar clusterkit supports.
    levels : int
        Number of pressure levels (0: none).
    packed : bool
        Store as int16 with ``scale_factor``/``add_offset``.

    Raises
    ------
    InputError
        On every rank: a bad shape, calendar or level count, or an unusable ``path``
        (see :func:`~clusterkit.io.output_path.check_output_path`).
    OSError
        On every rank, naming ``path`` and the OS error, when the file system refuses
        the file on any rank (a full disk); no temporary is left
        (:class:`~clusterkit.io.ncwrite.NCWriter`).
    """
    c = _comm.resolve(comm)
    if len(shape) != 3 or min(shape) < 1:
        raise InputError(f"--shape must be three positive integers T,Y,X, got {shape}")
    if calendar not in CALENDARS:
        raise InputError(f"unsupported calendar {calendar!r}; supported: "
                         f"{', '.join(sorted(CALENDARS))}")
    if levels < 0:
        raise InputError(f"--levels must be >= 0, got {levels}")
    nt, ny, nx = shape
    dlat = 180.0 / ny
    lat = -90.0 + dlat / 2 + dlat * np.arange(ny)
    if descending_lat:
        lat = lat[::-1].copy()
    lon = np.arange(nx) * (360.0 / nx)
    if lon180:
        lon = np.where(lon >= 180.0, lon - 360.0, lon)
        lon = np.sort(lon)
    t = np.arange(nt) * float(step_days)
    plev = np.linspace(1000.0, 200.0, levels) if levels else None
    full = (nt,) + ((levels,) if levels else ()) + (ny, nx)
    grid = Grid(full, keep=(0,), comm=c, allow_empty=True)
    dims = ("time",) + (("plev",) if levels else ()) + ("lat", "lon")
    sl = dict(zip(dims, grid.local_slices))
    land = _land_mask(lat[sl["lat"]], lon[sl["lon"]]) if land_mask else None
    block = synthetic_values(t[sl["time"]], YEAR_DAYS[CALENDARS[calendar]], lat[sl["lat"]],
                             lon[sl["lon"]], plev[sl["plev"]] if levels else None, land=land)
    attrs = {"units": "K", "standard_name": "air_temperature",
             "long_name": "synthetic near-surface air temperature"}
    if packed:
        scale, offset = 0.005, 280.0
        raw = np.where(np.isnan(block), -32767, np.round((block - offset) / scale))
        block = raw.astype(np.int16)
        attrs.update(scale_factor=np.float32(scale), add_offset=np.float32(offset))
        dtype, fill = np.int16, np.int16(-32767)
    else:
        block = np.where(np.isnan(block), 1e20, block).astype(np.float32)  # real files flag
        dtype, fill = np.float32, np.float32(1e20)                           # missing values
    chunks = None
    if compress:
        chunks = tuple([1] + [min(n, 32) for n in full[1:-2]] + [min(ny, 181), min(nx, 360)])
    with NCWriter(path, comm=c, overwrite=overwrite,
                  attrs={"title": "clusterkit synthetic climate dataset",
                         "source": "clusterkit make-dataset"}) as w:
        w.dimension("time", t, {"units": "days since 2000-01-01 00:00:00",
                                "calendar": calendar, "standard_name": "time", "axis": "T"})
        if levels:
            w.dimension("plev", plev, {"units": "hPa", "standard_name": "air_pressure",
                                       "positive": "down", "axis": "Z"})
        w.dimension("lat", lat, {"units": "degrees_north", "standard_name": "latitude",
                                 "axis": "Y"})
        w.dimension("lon", lon, {"units": "degrees_east", "standard_name": "longitude",
                                 "axis": "X"})
        w.variable(var, dims, dtype, attrs, fill_value=fill, chunks=chunks,
                   compression="gzip" if compress else None, prefill=False)
        w.write(var, block, grid.local_start)
    return path
