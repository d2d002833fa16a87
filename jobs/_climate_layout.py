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

    Raises :class:`InputError` for a variable that is not (time, [extra dims...],
    latitude, longitude), an empty dimension, NaN or out-of-range latitudes,
    non-finite longitudes, and time values that are non-finite or cannot be decoded.
    """

    def __init__(self, ds, var):
        self.var = var
        self.dims = ds.dims(var)
        kinds = ds.axis_kinds(var)
        order = [kinds[d] for d in self.dims]
        if (len(self.dims) < 3 or order[0] != "time" or order[-2] != "lat"
                or order[-1] != "lon" or {"time", "lat", "lon"} & set(order[1:-2])):
            raise InputError(f"variable {var!r} has dimensions {self.dims} ({order}); "
                             "expected (time, [extra dims...], latitude, longitude)")
        self.shape = ds.shape(var)
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
        self.time_attrs = ds.attrs(self.time_dim)
        self.calendar = cf.calendar_of(self.time_attrs)
        self.time = ds.coordinate(self.time_dim)
        self.months = np.array([d.month for d in cf.decode_time(self.time, self.time_attrs,
                                                                 self.time_dim)],
                               dtype=np.int64) - 1
        self.tyears = cf.days_since_first(self.time, self.time_attrs) / \
            cf.YEAR_DAYS[self.calendar]
        self.lat = ds.coordinate(self.lat_dim).astype(np.float64)
        cf.check_latitudes(self.lat, self.lat_dim)
        cf.check_longitudes(ds.coordinate(self.lon_dim), self.lon_dim)
        self.coords = {d: (ds.coordinate(d) if ds.has_coordinate(d) else np.arange(n),
                           ds.attrs(d) if d in ds else {})
                       for d, n in zip(self.dims, self.shape)}
