"""``--region LAT0,LAT1,LON0,LON1`` against a file's 1-D latitudes and longitudes: the
index runs to read, the output's longitude order and the region's coordinates (pure).

A cell belongs to the region when its centre does: ``LAT0 <= lat <= LAT1`` and its
longitude lies on the arc that runs east from LON0 to LON1, both ends included
(``350,10`` and ``-10,10`` are the same 20° across the 0 meridian, ``170,-170`` the same
20° across the dateline; ``0,360`` and ``-180,180`` the whole circle). Longitudes may be
0..360 or -180..180 in the file, starting anywhere; the region's longitudes keep the
file's values and run east from LON0 (increasing across the seam), so a region that
crosses the seam of the file's longitude array is read as two runs of longitudes.
Latitudes keep the file's order (ascending or descending).
"""

import re
from typing import NamedTuple

import numpy as np

from ..errors import InputError

__all__ = ["Region", "parse_region", "select_region"]

_NUMBER = r"\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*"
_TEXT = re.compile(r"^" + ",".join([_NUMBER] * 4) + r"$")
_VALID = ("LAT0,LAT1,LON0,LON1 in degrees (-90 <= LAT0 <= LAT1 <= 90; the region runs "
          "east from LON0 to LON1, each in [-360, 360], e.g. 350,10 or -10,10 across 0)")


class Region(NamedTuple):
    """Where a region is in a variable's latitude and longitude dimensions.

    Attributes
    ----------
    lat : slice
        The latitude indices to read (file order, step 1).
    lon_runs : tuple of slice
        The longitude index runs to read (step 1), in output order: one, or two when
        the region crosses the seam of the file's longitude array (more only for
        longitudes that do not increase eastward in the file).
    lat_values, lon_values : numpy.ndarray
        The region's coordinates, in the file's dtype: latitudes in file order,
        longitudes (the file's values) running east from LON0.
    cells, total_cells : int
        Latitude × longitude cells in the region and in the whole grid.
    """

    lat: slice
    lon_runs: tuple
    lat_values: np.ndarray
    lon_values: np.ndarray
    cells: int
    total_cells: int

    def read_bytes(self, whole_bytes):
        """Bytes of a variable of ``whole_bytes`` that the region's hyperslabs hold."""
        return int(whole_bytes) * self.cells // max(1, self.total_cells)


def parse_region(text, option="--region"):
    """``"LAT0,LAT1,LON0,LON1"`` → four floats.

    Raises
    ------
    InputError
        Not four comma-separated numbers, a latitude outside [-90, 90], LAT0 > LAT1, or
        a longitude outside [-360, 360]; one line naming ``option`` and the text.
    """
    m = _TEXT.match(str(text))
    if not m:
        raise InputError(f"{option} {text!r}: expected {_VALID}")
    lat0, lat1, lon0, lon1 = (float(g) for g in m.groups())
    for v in (lat0, lat1):
        if not -90.0 <= v <= 90.0:
            raise InputError(f"{option} {text!r}: latitude {v:g} is outside [-90, 90]")
    if lat0 > lat1:
        raise InputError(f"{option} {text!r}: LAT0 {lat0:g} is north of LAT1 {lat1:g}; "
                         "give the southern latitude first")
    for v in (lon0, lon1):
        if not -360.0 <= v <= 360.0:
            raise InputError(f"{option} {text!r}: longitude {v:g} is outside [-360, 360]")
    return lat0, lat1, lon0, lon1


def _runs(index):
    """Maximal runs of consecutive increasing indices of ``index``, as slices."""
    if index.size == 0:
        return ()
    cut = np.flatnonzero(np.diff(index) != 1) + 1
    return tuple(slice(int(r[0]), int(r[-1]) + 1) for r in np.split(index, cut))


def select_region(text, lat, lon, option="--region"):
    """The part of a grid with 1-D ``lat`` and ``lon`` that ``--region text`` selects.

    Parameters
    ----------
    text : str or tuple
        ``LAT0,LAT1,LON0,LON1`` (see :func:`parse_region`), or the four numbers.
    lat, lon : array_like
        The file's latitude (monotonic, ascending or descending) and longitude values
        in degrees.
    option : str
        The option's name, for messages.

    Returns
    -------
    Region

    Raises
    ------
    InputError
        Bad text (see :func:`parse_region`), latitudes that are not monotonic, or a
        region that contains no cell centre (the line gives the grid's extent).
    """
    lat0, lat1, lon0, lon1 = parse_region(text, option) if isinstance(text, str) \
        else tuple(float(v) for v in text)
    lat_in, lon_in = np.asarray(lat).reshape(-1), np.asarray(lon).reshape(-1)
    lat, lon = lat_in.astype(np.float64), lon_in.astype(np.float64)
    span = 360.0 if lon1 != lon0 and (lon1 - lon0) % 360.0 == 0.0 else (lon1 - lon0) % 360.0
    east = (lon - lon0) % 360.0                  # how far east of LON0 each centre is
    lon_index = np.flatnonzero(east <= span)
    lon_index = lon_index[np.argsort(east[lon_index], kind="stable")]
    lat_index = np.flatnonzero((lat >= lat0) & (lat <= lat1))
    if lat_index.size and lat_index[-1] - lat_index[0] + 1 != lat_index.size:
        raise InputError(f"{option} {text!r}: the file's latitudes are not monotonic, so "
                         "the region is not one run of latitudes")
    if lat_index.size == 0 or lon_index.size == 0:
        raise InputError(f"{option} {text!r} contains no cell centre of the grid (latitudes "
                         f"{lat.min():g} to {lat.max():g}, longitudes {lon.min():g} to "
                         f"{lon.max():g}, {lat.size} x {lon.size}); give a region that "
                         "contains at least one")
    lat_sel = slice(int(lat_index[0]), int(lat_index[-1]) + 1)
    return Region(lat_sel, _runs(lon_index), lat_in[lat_sel].copy(), lon_in[lon_index],
                  int(lat_index.size * lon_index.size), int(lat.size * lon.size))
