"""Where time, the extra dimensions, latitude and longitude are in climate-stats' variable."""

import numpy as np

from clusterkit.errors import InputError
from clusterkit.io import cf
from clusterkit.memory import check_fits_in_memory

__all__ = ["Layout"]


#: bytes per step of the time coordinate while it is decoded (values, cftime objects,
#: months, years)
_TIME_STEP_BYTES = 256


class Layout:
    """Where time, the extra dimensions, latitude and longitude are in the variable.

    The variable may store its dimensions in any order: one time, one latitude and one
    longitude dimension (by their CF attributes) and any number of others ("extra", e.g.
    pressure levels), anywhere. climate-stats processes it in the canonical order
    (time, extra..., lat, lon), the extra dimensions in their file order: ``dims`` and
    ``shape`` are in that order, ``file_dims`` in the file's, and ``axes`` says where
    each canonical axis is in the file (axis ``i`` is file axis ``axes[i]``; see
    :func:`clusterkit.io.reorder.reordered`).

    Raises :class:`InputError` for a variable without exactly one time, one latitude and
    one longitude dimension, an empty dimension, NaN or out-of-range latitudes,
    non-finite longitudes, and time values that are non-finite or cannot be decoded.
    """

    def __init__(self, ds, var):
        self.var = var
        self.name = var.rsplit("/", 1)[-1]     # without its group path (/group/name)
        self.file_dims = tuple(ds.dims(var))
        self.axes = _canonical_axes(var, self.file_dims, ds.axis_kinds(var))
        self.dims = tuple(self.file_dims[a] for a in self.axes)
        self.shape = tuple(ds.shape(var)[a] for a in self.axes)
        self.time_dim, self.lat_dim, self.lon_dim = self.dims[0], self.dims[-2], self.dims[-1]
        if self.shape[0] == 0:
            raise InputError(f"the time axis {self.time_dim!r} of variable {var!r} is empty "
                             "(0 steps): there is nothing to compute")
        for d, n in zip(self.dims[1:], self.shape[1:]):
            if n == 0:
                raise InputError(f"dimension {d!r} of variable {var!r} is empty (length 0): "
                                 "there is nothing to compute")
        check_fits_in_memory(self.shape[0] * _TIME_STEP_BYTES, f"decoding the "
                             f"{self.shape[0]} time steps of {var!r}", ds.comm)
        self.extra = self.dims[1:-2]
        self.attrs = ds.attrs(var)
        # the time coordinate's values, or those of an auxiliary time variable on the same
        # dimension when the coordinate has no units (NEMO's time_centered)
        self.time, self.time_attrs, time_name = ds.time_coordinate(self.time_dim, var)
        self.calendar = cf.calendar_of(self.time_attrs)
        self.months = np.array([d.month for d in cf.decode_time(self.time, self.time_attrs,
                                                                 time_name)],
                               dtype=np.int64) - 1
        self.tyears = cf.days_since_first(self.time, self.time_attrs) / \
            cf.YEAR_DAYS[self.calendar]
        self.lat = ds.coordinate(self.lat_dim).astype(np.float64)
        cf.check_latitudes(self.lat, self.lat_dim)
        cf.check_longitudes(ds.coordinate(self.lon_dim), self.lon_dim)
        self.coords = {d: (ds.coordinate(d) if ds.has_coordinate(d) else np.arange(n),
                           ds.attrs(d) if d in ds else {})
                       for d, n in zip(self.dims, self.shape)}
        self.coords[self.time_dim] = (self.time, self.time_attrs)   # the values decoded


_KIND_NAMES = {"time": "time", "lat": "latitude", "lon": "longitude"}


def _canonical_axes(var, dims, kinds):
    """The file axes of ``var`` in the order (time, extra..., lat, lon), the extra
    dimensions (those that are neither time, latitude nor longitude) in file order.

    Raises
    ------
    InputError
        If ``var`` has no time, latitude or longitude dimension, or several of one kind.
    """
    where = {k: [i for i, d in enumerate(dims) if kinds[d] == k] for k in _KIND_NAMES}
    wrong = [k for k in _KIND_NAMES if len(where[k]) != 1]
    if wrong:
        found = "; ".join(_count(k, [dims[i] for i in where[k]]) for k in wrong)
        raise InputError(f"variable {var!r} has dimensions {tuple(dims)}: {found}; expected "
                         "exactly one time, one latitude and one longitude dimension (in "
                         "any order, identified by CF attributes standard_name, units or "
                         "axis) and any number of others")
    extra = [i for i, d in enumerate(dims) if kinds[d] not in _KIND_NAMES]
    return (where["time"][0], *extra, where["lat"][0], where["lon"][0])


def _count(kind, names):
    """``"2 latitude dimensions ('lat', 'lat2')"``, ``"no time dimension"``."""
    what = f"{_KIND_NAMES[kind]} dimension"
    if not names:
        return f"no {what}"
    return f"{len(names)} {what}s ({', '.join(repr(n) for n in names)})"
