"""Where time, the extra dimensions, latitude and longitude are in climate-stats' variable."""

import numpy as np

from clusterkit.errors import InputError
from clusterkit.io import cf, timesel
from clusterkit.io.horizontal import grid_mapping, horizontal_coordinates
from clusterkit.io.region import select_region
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

    On a curvilinear grid (2-D latitude/longitude named by the variable's
    ``coordinates``, or a rotated pole) "lat" and "lon" are the grid's rows and columns
    (the 2-D coordinates' first and second dimensions), ``curvilinear`` holds the 2-D
    coordinates and ``lat`` is None; else ``curvilinear`` is None.

    ``time_range`` (``START,END`` text of ``--time-range``) restricts every statistic to
    the steps ``x.sel(time=slice(START, END))`` selects: ``shape[0]``, ``months``,
    ``tyears`` and the time coordinate are the selection's, and ``t0`` is its first step
    in the file (what the reads add). ``base_period`` (``START,END`` of
    ``--base-period``) takes the climatology from its steps only: every calendar month of
    the selection must have base steps. The pass reads ``window``, the file steps from the
    first to the last step of the selection and the base period (the selection itself
    without a base period). ``seasonal`` and ``annual`` ask for the groupings
    ``groupings`` (name → ``timesel.Groups`` over the selected steps: labels, steps per
    group); the base period is the grouping ``"base"`` (calendar months over its steps),
    and ``monthly`` asks for ``"month"`` (``resample(time="1MS")`` of the selection:
    labels the month starts encoded in the time coordinate's units). A grouping whose
    groups are unions of whole calendar months of the selection is ``derived`` (name →
    ``(calendar-month sets, extremes)``: its means come from the time statistics'
    monthly sums); the others are in ``groups`` (name → ``(Groups, their ids over the
    window (-1 outside the selection), extremes)``), fed by one pass beside the time
    statistics. All are empty when none is asked. ``clim_months`` are the months (0..11) the climatology
    has: those of the selection, or of the base period.

    ``index_dims`` are the dimensions but time without a coordinate variable in the input
    (written without one: curvilinear (j, i), unnamed levels); ``grid_mapping`` is
    :func:`clusterkit.io.horizontal.grid_mapping` of the variable (its ``grid_mapping``
    attribute and the grid-mapping variables to copy) or None.

    ``region`` (``LAT0,LAT1,LON0,LON1`` text of ``--region``) restricts the grid to the
    cells whose centres are inside (:func:`clusterkit.io.region.select_region`):
    ``shape``, ``lat`` and the latitude/longitude coordinates are the region's, and
    ``region`` says where it is in the file (read it through
    :func:`clusterkit.io.subgrid.subgrid`); else ``region`` is None.

    Raises :class:`InputError` for a variable without exactly one time, one latitude and
    one longitude dimension, an empty dimension, NaN or out-of-range latitudes,
    non-finite longitudes, time values that are non-finite or cannot be decoded, a time
    range or base period that is not a range of the file's calendar or selects no step,
    a base period missing a calendar month of the selection, and a region on a
    curvilinear grid or holding no cell centre.
    """

    def __init__(self, ds, var, *, time_range=None, base_period=None, seasonal=False,
                 annual=False, monthly=False, region=None):
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
        dates = cf.decode_time(self.time, self.time_attrs, time_name)
        self.steps = slice(0, self.shape[0])
        if time_range is not None:       # every rank decodes the same times: same outcome
            self.steps = timesel.time_range(time_range, dates, "--time-range")
        base = None
        if base_period is not None:
            base = timesel.time_range(base_period, dates, "--base-period")
            timesel.check_base_months(dates[base], dates[self.steps])
        self.base_period = base_period
        lo, hi = self.steps.start, self.steps.stop
        if base is not None:
            lo, hi = min(lo, base.start), max(hi, base.stop)
        self.window = slice(lo, hi)
        base_dates = None if base is None else dates[base]
        if time_range is not None:
            dates, self.time = dates[self.steps], self.time[self.steps]
            self.shape = (len(dates),) + self.shape[1:]
        self.t0 = self.steps.start
        self.months = np.array([d.month for d in dates], dtype=np.int64) - 1
        self.clim_months = np.unique(self.months)
        self.groups, self.groupings, self.derived = {}, {}, {}
        if seasonal:
            self._group("season", timesel.season_ids(dates), self.steps, False)
        if annual:
            self._group("year", timesel.year_ids(dates), self.steps, True)
        if monthly:
            self._group("month", timesel.month_start_ids(
                dates, cf.attr_str(self.time_attrs, "units"), self.calendar,
                self.time.dtype), self.steps, False)
        if base is not None:
            g = timesel.month_ids(base_dates)
            self._group("base", g, base, False)
            self.clim_months = np.flatnonzero(g.steps > 0)
        self.tyears = cf.days_since_first(self.time, self.time_attrs) / \
            cf.YEAR_DAYS[self.calendar]
        self.curvilinear = _Curvilinear(ds, var) if horizontal_coordinates(ds, var) \
            else None
        if self.curvilinear is None:
            self.lat = ds.coordinate(self.lat_dim).astype(np.float64)
            cf.check_latitudes(self.lat, self.lat_dim)
            cf.check_longitudes(ds.coordinate(self.lon_dim), self.lon_dim)
        else:
            self.lat = None    # rows are not latitudes: see self.curvilinear.lat
        self.coords = {d: (ds.coordinate(d) if ds.has_coordinate(d) else np.arange(n),
                           ds.attrs(d) if d in ds else {})
                       for d, n in zip(self.dims, self.shape)}
        self.coords[self.time_dim] = (self.time, self.time_attrs)   # the values decoded
        self.index_dims = tuple(d for d in self.dims[1:] if not ds.has_coordinate(d))
        self.grid_mapping = grid_mapping(ds, var)
        self.region = None
        if region is not None:
            self._restrict(region)

    def _restrict(self, text):
        """Make the grid the part ``--region text`` selects."""
        if self.curvilinear is not None:
            raise InputError(f"--region {text!r}: {self.var!r} is on a curvilinear grid "
                             f"(2-D latitude {self.curvilinear.names[0]!r}), where a "
                             "latitude-longitude box is not a block of the grid; --region "
                             "needs 1-D latitude and longitude coordinates")
        lon, lon_attrs = self.coords[self.lon_dim]
        lat_attrs = self.coords[self.lat_dim][1]
        self.region = select_region(text, self.coords[self.lat_dim][0], lon)
        r = self.region
        self.lat = self.lat[r.lat]
        self.shape = self.shape[:-2] + (r.lat_values.size, r.lon_values.size)
        self.coords[self.lat_dim] = (r.lat_values, lat_attrs)
        self.coords[self.lon_dim] = (r.lon_values, lon_attrs)

    def _group(self, name, groups, steps, extremes):
        """Add the grouping ``name``: ``groups`` of the file steps ``steps``, their ids
        placed in the window (-1 on the window's other steps); or, when its means follow
        from the time statistics' monthly sums, a derived grouping (:meth:`_month_sets`)."""
        self.groupings[name] = groups
        sets = self._month_sets(groups, steps, extremes)
        if sets is not None:
            self.derived[name] = (sets, extremes)
            return
        ids = np.full(self.window.stop - self.window.start, -1, dtype=np.int64)
        ids[steps.start - self.window.start:steps.stop - self.window.start] = groups.ids
        self.groups[name] = (groups, ids, extremes)

    def _month_sets(self, groups, steps, extremes):
        """The calendar months (0..11) of each group, when every step of the selection
        is in a group and no calendar month is in two groups: each group's mean is then
        the mean over its calendar months of the selection, which the time statistics'
        monthly sums give (``TimeStats.pooled_means``) without feeding the pass
        (seasons always; a base period that is the selection; ``--monthly`` or
        ``--annual`` over at most a year). Extremes follow only for one group (the time
        minimum and maximum). Else None."""
        if steps != self.steps or groups.ids.size != self.months.size or \
                np.any(groups.ids < 0):
            return None
        sets = [tuple(int(m) for m in np.unique(self.months[groups.ids == g]))
                for g in range(len(groups.labels))]
        taken = [m for months in sets for m in months]
        if len(taken) != len(set(taken)) or (extremes and len(sets) != 1):
            return None
        return sets

    def reader(self, ds, elements, start=None):
        """``(decode, read)`` of ``ds.chunk_reader`` for the variable, ``read`` taking
        selections whose time slice counts steps from the file step ``start`` (default
        ``t0``, the first selected step; ``window.start`` for the pass over the window)."""
        decode, read = ds.chunk_reader(self.var, elements)
        t0 = self.t0 if start is None else start
        if not t0:
            return decode, read

        def shifted(selection):
            t = selection[0]
            return read((slice(t.start + t0, t.stop + t0),) + tuple(selection[1:]))
        return decode, shifted


class _Curvilinear:
    """The 2-D latitude and longitude of a variable on a curvilinear grid (see
    :func:`clusterkit.io.horizontal.horizontal_coordinates`), read whole on every rank and
    checked: ``lat``, ``lon`` (rows, columns) float64 degrees; ``names`` and ``attrs`` of
    the two variables (plain names, for the outputs); ``bounds``: ``{name: (bounds
    variable, its vertex dimension)}`` for those whose ``bounds`` is a (rows, columns,
    vertices) variable.

    Raises :class:`InputError` for latitudes that are NaN or beyond ±90 and non-finite
    longitudes (fill values included), and, for several files, 2-D coordinates that
    differ between them.
    """

    def __init__(self, ds, var):
        lat, lon, self.dims = horizontal_coordinates(ds, var)
        whole = (slice(None), slice(None))
        self.paths = (lat, lon)
        self.names = tuple(n.rsplit("/", 1)[-1] for n in self.paths)
        self.attrs = tuple(ds.attrs(n) for n in self.paths)
        check_fits_in_memory(16 * int(np.prod(ds.shape(lat))), f"the 2-D coordinates "
                             f"{lat!r}, {lon!r} of {var!r}", ds.comm)
        self.lat, self.lon = (np.asarray(ds.read(n, whole, dtype=np.float64), np.float64)
                              for n in self.paths)
        cf.check_latitudes(self.lat, lat)
        cf.check_longitudes(self.lon, lon)
        for other in getattr(ds, "files", [ds])[1:]:   # several files: one grid
            for n, want in zip(self.paths, (self.lat, self.lon)):
                got = other.read(n, whole, dtype=np.float64) if n in other else None
                if got is None or not np.array_equal(np.asarray(got, np.float64), want):
                    raise InputError(f"the 2-D coordinate {n!r} of input {other.path!r} "
                                     f"{'is missing' if got is None else 'differs'} from "
                                     f"{ds.paths[0]!r}; every input file must have the "
                                     "same grid")
        self.bounds, self.bounds_values = {}, {}
        for n, name, attrs in zip(self.paths, self.names, self.attrs):
            b = _resolve_bounds(ds, n, cf.attr_str(attrs, "bounds").strip())
            shape = tuple(ds.shape(b)) if b else ()
            if len(shape) == 3 and shape[:2] == tuple(ds.shape(n)) and \
                    tuple(ds.dims(b))[:2] == tuple(ds.dims(n)):
                self.bounds[name] = (b, str(ds.dims(b)[2]))
                self.bounds_values[name] = np.asarray(
                    ds.read(b, whole + (slice(None),), dtype=np.float64), np.float64)

    @property
    def nbytes(self):
        """Bytes held: the coordinates and their bounds."""
        return self.lat.nbytes + self.lon.nbytes + \
            sum(b.nbytes for b in self.bounds_values.values())


def _resolve_bounds(ds, coord, name):
    """The path of the bounds variable ``name`` of coordinate ``coord`` (in its group),
    or None if it names none or the file lacks it."""
    if not name:
        return None
    group = coord.rsplit("/", 1)[0] if "/" in coord else ""
    path = f"{group}/{name}" if group else name
    return path if path in ds else None


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
