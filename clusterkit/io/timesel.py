"""Time selection and time groups, as pure functions on decoded (cftime) dates: the
``--time-range``/``--base-period`` index range and the season, year and month ids of steps.

The range is xarray's ``x.sel(time=slice(START, END))`` on a cftime index: a partial date
stands for its whole year, month or day (``slice("1981", "2010")`` runs from 1981-01-01
00:00 to the last instant of 2010-12-31), both ends are inclusive, and a day that the
calendar does not have (2001-02-30 outside 360_day, 2001-02-29 in noleap, 1582-10-10 in
the standard calendar) is refused, as xarray refuses it. The group ids are those of
``groupby("time.season")`` (seasons pooled over the years), ``groupby("time.year")`` and
``resample(time="1MS")`` (every month from the first step's to the last step's, empty
ones included), numbered for a grouped accumulator (``kernels.groups``).
"""

import bisect
import datetime
import re
from typing import NamedTuple

import numpy as np

from ..errors import InputError

__all__ = ["SEASONS", "Groups", "parse_range", "time_range", "season_ids", "year_ids",
           "month_ids", "month_start_ids", "within", "check_base_months"]

#: the seasons in output order, and the month (1..12) → season index
SEASONS = ("DJF", "MAM", "JJA", "SON")
_SEASON_OF_MONTH = np.array([-1, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 0])

_DATE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")
_VALID = "START,END with dates YYYY, YYYY-MM or YYYY-MM-DD (either side may be empty)"


class Groups(NamedTuple):
    """The group of every time step and what each group is.

    Attributes
    ----------
    ids : numpy.ndarray
        (T,) int64 group index of each step, 0..G-1 (-1: the step is in no group).
    labels : numpy.ndarray
        (G,) the groups' coordinate values: season names, years, or encoded month starts.
    steps : numpy.ndarray
        (G,) int64 number of time steps in each group (``annual_count``).
    """

    ids: np.ndarray
    labels: np.ndarray
    steps: np.ndarray


def _groups(ids, labels):
    ids = np.asarray(ids, dtype=np.int64)
    return Groups(ids, np.asarray(labels), np.bincount(ids[ids >= 0], minlength=len(labels)))


def parse_range(text, option="--time-range"):
    """Parse ``START,END`` into two ``(year, month, day)`` tuples (month, day or the whole
    side None where not given).

    Only the text is checked here (usable as an argparse ``type``); whether the dates
    exist in a calendar is checked by :func:`time_range`.

    Raises
    ------
    InputError
        Text that is not two dates ``YYYY[-MM[-DD]]`` separated by one comma, months
        outside 1..12, days outside 1..31, or both sides empty.
    """
    parts = str(text).split(",")
    if len(parts) != 2:
        raise InputError(f"{option} {text!r}: expected {_VALID}")
    ends = []
    for side in parts:
        side = side.strip()
        if not side:
            ends.append(None)
            continue
        m = _DATE.match(side)
        if not m:
            raise InputError(f"{option} {text!r}: {side!r} is not a date; expected {_VALID}")
        y, mo, d = (int(g) if g else None for g in m.groups())
        if mo is not None and not 1 <= mo <= 12:
            raise InputError(f"{option} {text!r}: month {mo} in {side!r} is not 1..12")
        if d is not None and not 1 <= d <= 31:
            raise InputError(f"{option} {text!r}: day {d} in {side!r} is not 1..31")
        ends.append((y, mo, d))
    if ends == [None, None]:
        raise InputError(f"{option} {text!r}: give at least one of START and END; "
                         f"expected {_VALID}")
    return tuple(ends)


def _date(ymd, template, option, text):
    """The first instant of the period ``ymd`` (year, month or day) in ``template``'s
    calendar, and the first instant after it."""
    import cftime
    y, mo, d = ymd
    cal, zero = template.calendar, template.has_year_zero
    label = "-".join(f"{v:02d}" if i else f"{v:04d}" for i, v in enumerate(ymd) if v is not None)
    if y == 0 and not zero:
        raise InputError(f"{option} {text!r}: year 0 does not exist in the {cal!r} calendar "
                         "(1 BC is followed by AD 1)")
    try:
        start = cftime.datetime(y, mo or 1, d or 1, calendar=cal, has_year_zero=zero)
        if d is not None:
            stop = start + datetime.timedelta(days=1)
        elif mo is not None:
            stop = cftime.datetime(y + mo // 12, mo % 12 + 1, 1, calendar=cal,
                                   has_year_zero=zero)
        else:
            stop = cftime.datetime(y + 1, 1, 1, calendar=cal, has_year_zero=zero)
    except ValueError:
        raise InputError(f"{option} {text!r}: {label} is not a date of the {cal!r} "
                         "calendar; give a day that exists in it") from None
    return start, stop


def _check_increasing(dates, option):
    for i in range(1, len(dates)):
        if dates[i] < dates[i - 1]:
            raise InputError(f"{option} needs time steps in increasing order; time step {i} "
                             f"({dates[i]}) is before step {i - 1} ({dates[i - 1]})")


def time_range(text, dates, option="--time-range"):
    """The steps of ``dates`` that ``x.sel(time=slice(START, END))`` selects.

    Parameters
    ----------
    text : str
        ``START,END``: dates ``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD`` in the calendar of
        ``dates``; either side may be empty (open); both ends inclusive, a partial date
        standing for its whole year or month.
    dates : sequence of cftime.datetime
        The decoded time coordinate, in increasing order (repeats allowed).
    option : str
        The option's name, for messages.

    Returns
    -------
    slice
        ``slice(i0, i1)``: steps ``i0 .. i1 - 1``, at least one.

    Raises
    ------
    InputError
        Malformed text, a date the calendar does not have, START after END, times not in
        increasing order, or a range that selects no step; one line naming ``option``,
        ``text`` and what would be valid.
    """
    first, last = parse_range(text, option)
    dates = list(dates)
    if not dates:
        raise InputError(f"{option} {text!r}: the time axis is empty")
    _check_increasing(dates, option)
    lo = _date(first, dates[0], option, text) if first else None
    hi = _date(last, dates[0], option, text) if last else None
    if lo and hi and lo[0] >= hi[1]:
        start, end = (s.strip() for s in str(text).split(","))
        raise InputError(f"{option} {text!r}: START {start} is after END {end}; give "
                         "START,END in increasing order")
    i0 = bisect.bisect_left(dates, lo[0]) if lo else 0
    i1 = bisect.bisect_left(dates, hi[1]) if hi else len(dates)
    if i1 <= i0:
        raise InputError(f"{option} {text!r} selects no time step: the data run from "
                         f"{dates[0]} to {dates[-1]} ({len(dates)} steps); give a range "
                         "that overlaps them")
    return slice(i0, i1)


def within(ids, steps, n=None):
    """``ids`` with -1 for every step outside the slice ``steps`` (of ``n`` steps): the
    group ids of a statistic that uses only part of the series (a base period).

    Parameters
    ----------
    ids : array_like
        (T,) int group ids of all steps (``n`` defaults to ``T``).
    steps : slice
        The steps kept (:func:`time_range`).
    """
    ids = np.array(ids, dtype=np.int64)
    keep = np.zeros(ids.shape[0] if n is None else n, dtype=bool)
    keep[steps] = True
    ids[~keep] = -1
    return ids


def season_ids(dates):
    """Groups of ``groupby("time.season")``: DJF (December, January and February of every
    year pooled), MAM, JJA, SON; labels the seasons present, in that order (xarray sorts
    them alphabetically: reorder its result to compare).

    Returns
    -------
    Groups
        ids into the present seasons, labels as strings.
    """
    season = _SEASON_OF_MONTH[np.array([d.month for d in dates], dtype=np.int64)]
    present = np.unique(season)
    remap = np.full(len(SEASONS), -1, dtype=np.int64)
    remap[present] = np.arange(present.size)
    return _groups(remap[season], np.array([SEASONS[s] for s in present]))


def year_ids(dates):
    """Groups of ``groupby("time.year")``: one per year present, in increasing order;
    labels the years (int64)."""
    years = np.array([d.year for d in dates], dtype=np.int64)
    labels, ids = np.unique(years, return_inverse=True)
    return _groups(ids.reshape(-1), labels)


def month_ids(dates):
    """Calendar month index 0..11 of every step (``groupby("time.month")``, as the
    climatology's accumulator takes it); labels 1..12."""
    months = np.array([d.month for d in dates], dtype=np.int64) - 1
    return _groups(months, np.arange(1, 13))


def month_start_ids(dates, units, calendar, dtype=np.float64):
    """Groups of ``resample(time="1MS")``: every month from the first step's to the last
    step's (months without steps too: their means are NaN, as xarray's), each stamped at
    00:00 on its first day.

    Parameters
    ----------
    dates : sequence of cftime.datetime
        Decoded times, in increasing order.
    units, calendar : str
        The time coordinate's units and calendar: the labels are encoded in them.
    dtype : numpy dtype
        The time coordinate's dtype: the labels keep it when they are whole numbers in
        it (integer units), else float64.

    Returns
    -------
    Groups
        ids into the months; labels the month starts encoded in ``units``.
    """
    import cftime
    if not len(dates):
        return _groups(np.zeros(0, np.int64), np.zeros(0))
    _check_increasing(dates, "the monthly means")
    ym = np.array([d.year * 12 + d.month - 1 for d in dates], dtype=np.int64)
    ids = ym - ym[0]
    t0 = dates[0]
    starts = [cftime.datetime(k // 12, k % 12 + 1, 1, calendar=t0.calendar,
                              has_year_zero=t0.has_year_zero)
              for k in range(ym[0], ym[-1] + 1)]
    values = np.asarray(cftime.date2num(starts, units, calendar=calendar), dtype=np.float64)
    dtype = np.dtype(dtype)
    if dtype.kind in "iu" and np.array_equal(values, np.round(values)):
        values = values.astype(dtype)
    elif dtype.kind == "f" and np.array_equal(values.astype(dtype), values):
        values = values.astype(dtype)
    return _groups(ids, values)


def check_base_months(base_dates, series_dates, option="--base-period"):
    """Raise :class:`InputError` unless every calendar month of ``series_dates`` has a step
    in ``base_dates`` (the anomalies subtract the base period's mean of their month)."""
    have = {d.month for d in base_dates}
    missing = sorted({d.month for d in series_dates} - have)
    if missing:
        names = ", ".join(datetime.date(2000, m, 1).strftime("%b") for m in missing)
        raise InputError(f"{option}: the base period has no steps in month(s) {names}, "
                         "which the series has; give a base period that covers every "
                         "month of the year")
