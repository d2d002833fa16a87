"""Joining the time axes of several open NetCDF files: which dimension, in what order, checked
for a common calendar and for overlaps, re-encoded in the first file's units."""

import numpy as np

from ..errors import InputError
from . import cf

__all__ = ["TimeAxis", "join_time", "reencode_time"]


def _in(path, exc):
    """``exc``'s message prefixed with the input file it is about."""
    return InputError(f"input {path!r}: {exc}")


def _is_time_dimension(ds, dim):
    """Whether ``dim`` has a time coordinate variable or an auxiliary time variable."""
    return (ds.has_coordinate(dim) and cf.axis_kind(ds.attrs(dim)) == "time") or \
        bool(ds.auxiliary_times(dim))


def time_dimension(ds):
    """The time dimension of the open dataset ``ds``: the dimension of its time coordinate
    variable, or of its auxiliary time variable (NEMO's ``time_centered`` on
    ``time_counter``).

    Raises
    ------
    InputError
        Naming the file, if it has no time dimension or several (none named ``time``).
    """
    found = []
    for n in ds.names():
        dims = ds.dims(n) if len(ds.shape(n)) == 1 else ()
        if dims and dims[0] not in found and _is_time_dimension(ds, dims[0]):
            found.append(dims[0])
    if len(found) == 1:
        return found[0]
    if "time" in found:
        return "time"
    if not found:
        raise InputError(f"input {ds.path!r} has no time coordinate (a variable of its own "
                         "dimension with units '<unit> since <date>', standard_name time or "
                         "axis T, or an auxiliary variable on one dimension with "
                         "standard_name time and such units); several input files are "
                         "joined along their time axis")
    raise InputError(f"input {ds.path!r} has several time coordinates ({', '.join(found)}) "
                     "and none is named 'time': cannot tell which one joins the files")


class TimeAxis:
    """The time axis of one input file: its dataset, the time variable's name (the
    coordinate, or an auxiliary time variable: see ``Dataset.time_coordinate``), values
    as stored, attributes, calendar, and its first, earliest and latest steps as dates."""

    def __init__(self, ds, dim):
        self.ds, self.path = ds, ds.path
        values, self.attrs, self.name = ds.time_coordinate(dim, strict=False)
        self.values = np.asarray(values)
        if self.values.size == 0:
            raise InputError(f"input {self.path!r} has no time steps (dimension {dim!r} "
                             "has length 0)")
        try:
            cf.check_time_values(self.values, dim)
            self.calendar = cf.calendar_of(self.attrs)
            v = self.values
            self.first, self.start, self.end = cf.decode_time(
                np.array([v[0], v.min(), v.max()]), self.attrs, dim)
        except InputError as exc:
            raise _in(self.path, exc) from None

    def __len__(self):
        return self.values.size


def join_time(datasets):
    """The time axes of ``datasets`` (one file each), ordered by their first time step.

    Returns
    -------
    dim : str
        The time dimension (the same in every file).
    axes : list of TimeAxis
        In time order.

    Raises
    ------
    InputError
        Naming the file: no time coordinate, another time dimension than the first
        file's, no time steps, time values that do not decode, another calendar than
        the first file's; naming both files: two files that overlap in time or share a
        time step.
    """
    dim = time_dimension(datasets[0])
    axes = []
    for ds in datasets:
        other = dim if _is_time_dimension(ds, dim) else time_dimension(ds)
        if other != dim:
            raise InputError(f"input {ds.path!r} has time dimension {other!r} but "
                             f"{datasets[0].path!r} has {dim!r}; every input file must "
                             "hold the same variable along the same time dimension")
        axes.append(TimeAxis(ds, dim))
        if axes[-1].calendar != axes[0].calendar:
            raise InputError(f"input {ds.path!r} has calendar {axes[-1].calendar!r} but "
                             f"{axes[0].path!r} has {axes[0].calendar!r}; every input file "
                             "must use the same calendar")
    axes.sort(key=lambda a: a.first)
    latest = axes[0]
    for a in axes[1:]:
        if a.start <= latest.end:
            raise InputError(f"input files {latest.path!r} and {a.path!r} overlap in time: "
                             f"{latest.path!r} has steps from {latest.start} to "
                             f"{latest.end}, {a.path!r} from {a.start} to {a.end}; each "
                             "time step must be in one file only")
        if a.end > latest.end:
            latest = a
    return dim, axes


def reencode_time(values, attrs, units, calendar, name, path):
    """``values`` (time in ``attrs``' units) as numbers in ``units`` (float64), or
    ``values`` themselves when their units are ``units`` already."""
    if cf.attr_str(attrs, "units").strip() == units:
        return np.asarray(values)
    import cftime
    try:
        dates = cf.decode_time(np.asarray(values).ravel(), attrs, name)
    except InputError as exc:
        raise _in(path, exc) from None
    out = cftime.date2num(dates, units, calendar=calendar)
    return np.asarray(out, dtype=np.float64).reshape(np.shape(values))
