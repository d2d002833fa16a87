"""CF conventions, as pure functions: find time/lat/lon by attributes, decode time and packing."""

import re

import numpy as np
from ..errors import InputError

__all__ = ["ENCODING_ATTRS", "CALENDARS", "YEAR_DAYS", "AXIS_NEEDS", "attr_str", "axis_kind",
           "axis_refusal", "describe_axis", "check_latitudes", "check_longitudes",
           "check_time_values", "calendar_of", "has_time_units", "decode_time",
           "days_since_first", "unpack",
           "fill_values", "raw_decoding", "decoded_dtype", "converts_exactly",
           "decode_in_place"]

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
#: units that go with a latitude/longitude standard_name (CF: grid_latitude is in degrees)
_PLAIN_DEGREES = {"", "degree", "degrees"}
_LAT_NAMES = ("latitude", "grid_latitude")
_LON_NAMES = ("longitude", "grid_longitude")
_TIME_UNITS = re.compile(r"^\s*(seconds?|secs?|s|minutes?|mins?|hours?|hrs?|h|days?|d"
                         r"|months?|years?|yrs?|common_years?)\s+since\s+\S", re.I)
_DAY_FACTOR = {"s": 1 / 86400, "sec": 1 / 86400, "secs": 1 / 86400, "second": 1 / 86400,
               "seconds": 1 / 86400, "min": 1 / 1440, "mins": 1 / 1440, "minute": 1 / 1440,
               "minutes": 1 / 1440, "h": 1 / 24, "hr": 1 / 24, "hrs": 1 / 24, "hour": 1 / 24,
               "hours": 1 / 24, "d": 1.0, "day": 1.0, "days": 1.0}
#: ``months``/``common_years`` (as cftime spells them) → {calendar: days}: the calendars in
#: which cftime decodes them, where that unit has a fixed length
_CALENDAR_UNITS = {"month": {"360_day": 30.0}, "common_year": {"noleap": 365.0}}


def attr_str(attrs, name, default=""):
    """Attribute ``name`` as a str (HDF5 attributes come back as bytes or arrays)."""
    value = attrs.get(name, default)
    if isinstance(value, np.ndarray) and value.size == 1:
        value = value.reshape(()).item()
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return str(value)


def _axis_attrs(attrs):
    return (attr_str(attrs, "standard_name").strip().lower(),
            attr_str(attrs, "units").strip().lower(), attr_str(attrs, "axis").strip().upper())


def axis_kind(attrs):
    """Return ``"time"``, ``"lat"``, ``"lon"`` or ``None`` for a coordinate's attributes.

    Decided by CF attributes only, never by the variable's name. Time: ``standard_name``
    time, units ``<unit> since <date>`` or ``axis`` T. Latitude: units degrees_north (or
    one of CF's other spellings: degree_north, degree_N, degrees_N, degreeN, degreesN),
    or ``standard_name`` latitude/grid_latitude with units degrees or none; longitude
    likewise with east. ``axis`` Y/X alone is not enough: projected (metres) and index
    coordinates carry it too, and treating them as degrees gives wrong area weights.
    """
    std, units, axis = _axis_attrs(attrs)
    if std == "time" or _TIME_UNITS.match(units) or axis == "T":
        return "time"
    if units in _LAT_UNITS or (std in _LAT_NAMES and units in _PLAIN_DEGREES):
        return "lat"
    if units in _LON_UNITS or (std in _LON_NAMES and units in _PLAIN_DEGREES):
        return "lon"
    return None


def describe_axis(attrs):
    """The CF attributes that identify an axis, as text: ``"axis 'Y', units 'm'"``."""
    parts = [f"{k} {attr_str(attrs, k).strip()!r}"
             for k in ("standard_name", "axis", "units") if attr_str(attrs, k).strip()]
    return ", ".join(parts) if parts else "no standard_name, axis or units"


def axis_refusal(attrs):
    """``"lat"``/``"lon"`` for a coordinate that looks horizontal (``axis`` Y/X, a
    latitude, longitude or projection ``standard_name``, or degree-like units) but that
    :func:`axis_kind` does not accept as latitude/longitude in degrees; else ``None``."""
    if axis_kind(attrs) is not None:
        return None
    std, units, axis = _axis_attrs(attrs)
    if axis == "Y" or std in _LAT_NAMES or std == "projection_y_coordinate" \
            or units.endswith("north") or units.endswith("_n"):
        return "lat"
    if axis == "X" or std in _LON_NAMES or std == "projection_x_coordinate" \
            or units.endswith("east") or units.endswith("_e"):
        return "lon"
    return None


#: what a latitude/longitude coordinate needs, for error messages
AXIS_NEEDS = {"lat": "latitude needs units degrees_north (or degree_north, degree_N, "
                     "degrees_N, degreeN, degreesN) or standard_name latitude/grid_latitude "
                     "in degrees",
              "lon": "longitude needs units degrees_east (or degree_east, degree_E, "
                     "degrees_E, degreeE, degreesE) or standard_name longitude/grid_longitude "
                     "in degrees"}


def _first_bad(bad):
    """``(index of the first true value, how many)``; the index is a tuple for 2-D and
    higher arrays (a curvilinear grid's coordinates)."""
    i = int(np.flatnonzero(bad)[0])
    where = i if bad.ndim <= 1 else tuple(int(k) for k in np.unravel_index(i, bad.shape))
    return where, int(np.count_nonzero(bad))


def check_latitudes(values, name):
    """Raise :class:`InputError` unless every latitude is finite and within [-90, 90]."""
    v = np.asarray(values, dtype=np.float64)
    bad = ~(np.abs(v) <= 90.0)          # NaN compares false
    if bad.any():
        i, n = _first_bad(bad)
        raise InputError(f"latitude {name!r} has {n} value(s) that are NaN or outside "
                         f"[-90, 90] degrees (first: {float(v[i])!r} at index {i}); "
                         "latitudes must be finite degrees north")


def check_longitudes(values, name):
    """Raise :class:`InputError` unless every longitude is finite."""
    v = np.asarray(values, dtype=np.float64)
    bad = ~np.isfinite(v)
    if bad.any():
        i, n = _first_bad(bad)
        raise InputError(f"longitude {name!r} has {n} non-finite value(s) (first: "
                         f"{float(v[i])!r} at index {i}); longitudes must be finite "
                         "degrees east")


def check_time_values(values, name="time"):
    """Raise :class:`InputError` unless every time value is a finite number."""
    v = np.asarray(values)
    if v.dtype.kind not in "fiu":
        raise InputError(f"time coordinate {name!r} has dtype {v.dtype}; it must be numeric "
                         "(<unit> since <date>)")
    bad = ~np.isfinite(v.astype(np.float64))
    if bad.any():
        i, n = _first_bad(bad)
        raise InputError(f"time coordinate {name!r} has {n} non-finite value(s) (first: "
                         f"{float(v[i])!r} at index {i}); every time step needs a finite "
                         "time")


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


def has_time_units(attrs):
    """Whether ``attrs`` has units of the form ``<unit> since <date>``."""
    return bool(_TIME_UNITS.match(attr_str(attrs, "units")))


def _unit_refusal(units, unit, cal):
    """Why ``units`` (whose unit is ``unit``) cannot be decoded in calendar ``cal``."""
    if unit.startswith("month"):
        why = (f"a month has no fixed length in the {cal!r} calendar (only 360_day has "
               "30-day months)")
    elif unit.startswith("common_year"):
        why = (f"common_years are 365-day years, which only the noleap calendar has, not "
               f"{cal!r}")
    elif cal in ("standard", "proleptic_gregorian", "julian"):
        why = f"a year has no fixed length in the {cal!r} calendar"
    else:
        why = ("CF's year is the UDUNITS year of 365.242198781 days, not a whole number of "
               f"days of the {cal!r} calendar")
    return InputError(f"time units {units!r} with calendar {cal!r} cannot be decoded: {why}; "
                      "give times in days (or hours, minutes, seconds) since <date>")


def _units(attrs):
    """``(units, days per unit)`` of a time coordinate's attributes.

    ``months since`` are decoded in the 360_day calendar and ``common_years since`` in
    the noleap calendar (as cftime decodes them), fixed-length units in every calendar.

    Raises
    ------
    InputError
        Units that are not ``<unit> since <date>``; months or years in a calendar where
        they have no fixed length (naming the units and calendar).
    """
    units = attr_str(attrs, "units").strip()
    m = _TIME_UNITS.match(units)
    if not m:
        raise InputError(f"time units {units!r} are not '<days|hours|minutes|seconds> since "
                         "<date>' (or months since <date> in the 360_day calendar)")
    unit = m.group(1).lower()
    if unit in _DAY_FACTOR:
        return units, _DAY_FACTOR[unit]
    cal = calendar_of(attrs)
    days = _CALENDAR_UNITS.get(unit.rstrip("s"), {}).get(cal)
    if days is None:
        raise _unit_refusal(units, unit, cal)
    return units, days


def decode_time(values, attrs, name="time"):
    """Decode numeric time values to cftime datetimes with the file's units and calendar.

    ``months since`` (360_day calendar) and ``common_years since`` (noleap) decode as
    cftime decodes them; other months or years are refused (see :func:`days_since_first`).

    Raises
    ------
    InputError
        Non-finite values, units that are not ``<unit> since <date>``, months or years in
        a calendar where they have no fixed length, an unsupported calendar, or values
        the calendar cannot represent (overflow), naming ``name``.
    """
    import cftime
    check_time_values(values, name)
    cal = calendar_of(attrs)
    try:
        units, _ = _units(attrs)
    except InputError as exc:
        raise InputError(f"time coordinate {name!r}: {exc}") from None
    try:
        return cftime.num2date(np.asarray(values), units, calendar=cal,
                               only_use_cftime_datetimes=True)
    except OverflowError:
        v = np.asarray(values, dtype=np.float64)
        raise InputError(f"time coordinate {name!r}: values from {v.min():g} to {v.max():g} "
                         f"{units} are out of the range of dates the {cal!r} calendar can "
                         "represent") from None
    except (ValueError, TypeError) as exc:
        raise InputError(f"cannot decode time units {units!r} with calendar {cal!r}: "
                         f"{exc}") from None


def days_since_first(values, attrs):
    """Days elapsed since the first time step (float64), from the numeric time values.

    A month is 30 days (``months since`` is decoded in the 360_day calendar only), a
    common_year 365 (noleap only): the lengths cftime gives them there.
    """
    _, factor = _units(attrs)
    v = np.asarray(values, dtype=np.float64)
    return (v - v[0]) * factor if v.size else v


#: attributes of a stored variable that describe how it is stored, not its decoded values
ENCODING_ATTRS = frozenset({"_FillValue", "missing_value", "scale_factor", "add_offset",
                            "valid_range", "valid_min", "valid_max"})


def fill_values(attrs):
    """The raw values that mean "missing": ``_FillValue`` and ``missing_value`` (as a list)."""
    out = []
    for name in ("_FillValue", "missing_value"):
        if name in attrs:
            out.extend(np.atleast_1d(np.asarray(attrs[name])).tolist())
    return out


def decoded_dtype(raw_dtype, attrs):
    """The dtype values stored as ``raw_dtype`` decode to: float32 for float32 data, and
    for integers of at most 2 bytes packed with float32 attributes (as xarray); float64
    otherwise."""
    raw_dtype = np.dtype(raw_dtype)
    kinds = [np.asarray(attrs[k]).dtype for k in ("scale_factor", "add_offset") if k in attrs]
    if raw_dtype.kind in "iu":
        small = raw_dtype.itemsize <= 2 and bool(kinds)
    else:
        small = raw_dtype == np.float32
    return np.dtype(np.float32 if small and all(k == np.float32 for k in kinds)
                    else np.float64)


def converts_exactly(raw_dtype, dtype):
    """Whether every value of ``raw_dtype`` is exactly a value of the float ``dtype`` (so
    HDF5 may convert while reading, and missing values still compare equal after)."""
    raw_dtype, dtype = np.dtype(raw_dtype), np.dtype(dtype)
    if raw_dtype == dtype:
        return True
    if dtype.kind != "f":
        return False
    if raw_dtype.kind == "f":
        return raw_dtype.itemsize < dtype.itemsize
    mantissa = {4: 24, 8: 53}.get(dtype.itemsize, 0)
    return raw_dtype.kind in "iu" and raw_dtype.itemsize * 8 <= mantissa


def decode_in_place(x, raw_dtype, attrs):
    """Decode values read from ``raw_dtype`` into the float array ``x`` (which holds
    them exactly, see :func:`converts_exactly`) in place, as :func:`unpack` would:
    missing values → NaN, then ``* scale_factor + add_offset``. Works one slab of the
    first axis at a time, so its temporaries are one slab's size."""
    missing = fill_values(attrs)
    scale, offset = attrs.get("scale_factor"), attrs.get("add_offset")
    if not missing and scale is None and offset is None:
        return x
    if missing and x.dtype.kind != "f":
        raise InputError(f"values with missing values decode to floats, not {x.dtype}")
    raw_dtype = np.dtype(raw_dtype)
    marks = [np.asarray(m, raw_dtype).astype(x.dtype) for m in missing]
    for slab in (x if x.ndim > 1 else [x]):
        for m in marks:
            np.copyto(slab, np.nan, where=np.isnan(slab) if np.isnan(m) else slab == m)
        if scale is not None:
            slab *= np.asarray(scale).reshape(()).astype(x.dtype)
        if offset is not None:
            slab += np.asarray(offset).reshape(()).astype(x.dtype)
    return x


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
        dtype = decoded_dtype(raw.dtype, attrs)
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
