"""CF conventions, as pure functions: find time/lat/lon by attributes, decode time and packing."""

import re

import numpy as np
from ..errors import InputError

__all__ = ["CALENDARS", "YEAR_DAYS", "attr_str", "axis_kind", "calendar_of", "decode_time",
           "days_since_first", "unpack", "fill_values", "raw_decoding"]

#: supported CF calendars → canonical name
CALENDARS = {
    "standard": "standard", "gregorian": "standard",
    "proleptic_gregorian": "proleptic_gregorian", "julian": "julian",
    "noleap": "noleap", "365_day": "noleap", "all_leap": "all_leap", "366_day": "all_leap",
    "360_day": "360_day",
}

#: days per year used for trends (per canonical calendar)
YEAR_DAYS = {"standard": 365.25, "proleptic_gregorian": 365.25, "julian": 365.25,
             "noleap": 365.0, "all_leap": 366.0, "360_day": 360.0}

_LAT_UNITS = {"degrees_north", "degree_north", "degree_n", "degrees_n", "degreen", "degreesn"}
_LON_UNITS = {"degrees_east", "degree_east", "degree_e", "degrees_e", "degreee", "degreese"}
_TIME_UNITS = re.compile(r"^\s*(seconds?|secs?|s|minutes?|mins?|hours?|hrs?|h|days?|d)"
                         r"\s+since\s+\S", re.I)
_DAY_FACTOR = {"s": 1 / 86400, "sec": 1 / 86400, "secs": 1 / 86400, "second": 1 / 86400,
               "seconds": 1 / 86400, "min": 1 / 1440, "mins": 1 / 1440, "minute": 1 / 1440,
               "minutes": 1 / 1440, "h": 1 / 24, "hr": 1 / 24, "hrs": 1 / 24, "hour": 1 / 24,
               "hours": 1 / 24, "d": 1.0, "day": 1.0, "days": 1.0}


def attr_str(attrs, name, default=""):
    """Attribute ``name`` as a str (HDF5 attributes come back as bytes or arrays)."""
    value = attrs.get(name, default)
    if isinstance(value, np.ndarray) and value.size == 1:
        value = value.reshape(()).item()
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return str(value)


def axis_kind(attrs):
    """Return ``"time"``, ``"lat"``, ``"lon"`` or ``None`` for a coordinate's attributes.

    Decided by CF attributes only (``standard_name``, ``units``, ``axis``), never
    by the variable's name.
    """
    std = attr_str(attrs, "standard_name").strip().lower()
    units = attr_str(attrs, "units").strip().lower()
    axis = attr_str(attrs, "axis").strip().upper()
    if std == "time" or _TIME_UNITS.match(units) or axis == "T":
        return "time"
    if std in ("latitude", "grid_latitude") or units in _LAT_UNITS or axis == "Y":
        return "lat"
    if std in ("longitude", "grid_longitude") or units in _LON_UNITS or axis == "X":
        return "lon"
    return None


def calendar_of(attrs):
    """Canonical calendar name of a time coordinate.

    Raises
    ------
    ValueError
        For a calendar clusterkit does not support, listing the supported ones.
    """
    cal = attr_str(attrs, "calendar", "standard").strip().lower() or "standard"
    if cal not in CALENDARS:
        raise InputError(f"unsupported calendar {cal!r}; supported: "
                         f"{', '.join(sorted(CALENDARS))}")
    return CALENDARS[cal]


def _units(attrs):
    units = attr_str(attrs, "units").strip()
    m = _TIME_UNITS.match(units)
    if not m:
        raise InputError(f"time units {units!r} are not '<seconds|minutes|hours|days> since "
                         "<date>'")
    return units, _DAY_FACTOR[m.group(1).lower()]


def decode_time(values, attrs):
    """Decode numeric time values to cftime datetimes with the file's units and calendar."""
    import cftime
    units, _ = _units(attrs)
    cal = calendar_of(attrs)
    try:
        return cftime.num2date(np.asarray(values), units, calendar=cal,
                               only_use_cftime_datetimes=True)
    except (ValueError, TypeError) as exc:
        raise InputError(f"cannot decode time units {units!r} with calendar {cal!r}: "
                         f"{exc}") from None


def days_since_first(values, attrs):
    """Days elapsed since the first time step (float64), from the numeric time values."""
    _, factor = _units(attrs)
    v = np.asarray(values, dtype=np.float64)
    return (v - v[0]) * factor if v.size else v


def fill_values(attrs):
    """The raw values that mean "missing": ``_FillValue`` and ``missing_value`` (as a list)."""
    out = []
    for name in ("_FillValue", "missing_value"):
        if name in attrs:
            out.extend(np.atleast_1d(np.asarray(attrs[name])).tolist())
    return out


def unpack(raw, attrs, dtype=None):
    """Decode a raw block: missing values → NaN, then ``raw * scale_factor + add_offset``.

    Parameters
    ----------
    raw : numpy.ndarray
        Values as stored.
    attrs : mapping
        The variable's attributes.
    dtype : dtype-like, optional
        Result dtype; by default float32 for float32 data without float64
        packing attributes (as xarray), float64 otherwise.

    Returns
    -------
    numpy.ndarray
        Floating-point values with NaN where data are missing.
    """
    scale = attrs.get("scale_factor")
    offset = attrs.get("add_offset")
    if dtype is None:
        kinds = [np.asarray(a).dtype for a in (scale, offset) if a is not None]
        small = raw.dtype == np.float32 or (raw.dtype.kind in "iu" and raw.dtype.itemsize <= 2)
        dtype = np.float32 if small and all(k == np.float32 for k in kinds) else np.float64
        if raw.dtype.kind in "iu" and not kinds:
            dtype = np.float64
    out = raw.astype(dtype, copy=raw.dtype != np.dtype(dtype))
    missing = fill_values(attrs)
    if missing:
        mask = np.zeros(raw.shape, bool)
        for m in missing:
            mask |= np.isnan(raw) if np.isnan(m) else (raw == np.asarray(m, raw.dtype))
        out[mask] = np.nan
    if scale is not None:
        out *= np.asarray(scale).reshape(()).astype(dtype)
    if offset is not None:
        out += np.asarray(offset).reshape(()).astype(dtype)
    return out


def raw_decoding(attrs, max_missing=2):
    """``(scale, offset, missing_values)`` to decode raw values on the fly in float64.

    ``None`` when that would not match :func:`unpack`: float32 packing attributes
    (decoded in float32, as xarray does) or more than ``max_missing`` missing values.
    """
    missing = fill_values(attrs)
    packing = [np.asarray(attrs[k]) for k in ("scale_factor", "add_offset") if k in attrs]
    if len(missing) > max_missing or (packing and all(a.dtype == np.float32
                                                      for a in packing)):
        return None
    return (float(np.asarray(attrs.get("scale_factor", 1.0)).reshape(())),
            float(np.asarray(attrs.get("add_offset", 0.0)).reshape(())), missing)
