"""clusterkit.io.timesel against xarray on cftime axes in every calendar: the time range of
``x.sel(time=slice(START, END))``, and the groups of ``groupby("time.season")``,
``groupby("time.year")``, ``groupby("time.month")`` and ``resample(time="1MS")``."""

import warnings

import cftime
import numpy as np
import pytest

from clusterkit.errors import InputError
from clusterkit.io import cf, timesel

xr = pytest.importorskip("xarray")

CALENDARS = ["360_day", "noleap", "all_leap", "julian", "standard", "proleptic_gregorian"]


def _axis(calendar, freq, start_year=2000):
    """Decoded times as climate-stats gets them (encoded, then cf.decode_time): from mid-
    July of ``start_year`` to February two and a half years later; the standard calendar
    crosses the Julian/Gregorian switch of October 1582."""
    if calendar == "standard":
        start_year = 1581
    units = f"days since {start_year}-01-01"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        noon = "T12:00:00" if freq == "D" else ""
        dates = xr.date_range(f"{start_year}-07-16{noon}", f"{start_year + 3}-02-20",
                              freq=freq, calendar=calendar, use_cftime=True)
        values = cftime.date2num(list(dates), units, calendar=calendar)
    attrs = {"units": units, "calendar": calendar}
    return cf.decode_time(values, attrs), values, attrs


def _series(dates, seed=0):
    rng = np.random.default_rng(seed)
    v = rng.standard_normal(len(dates))
    return xr.DataArray(v, dims="time", coords={"time": xr.CFTimeIndex(list(dates))})


def _texts(y):
    """Ranges (whole years, months, days, open ends, partial both sides) around year y+1."""
    a, b = y + 1, y + 2
    return [f"{a},{a}", f"{a},{b}", f"{a}-02,{a}-03", f"{a}-02-28,{a}-03-01",
            f",{a}-06", f"{b}-01,", f"{a}-12-31,{b}-01-01", f"{a}-02-15,{a}-02",
            f"{a},{a}-02", f"{y},{y + 9}", f"{y - 5},{a}-01-05", f"{a}-03-01,{a}-03-01"]


@pytest.mark.parametrize("freq", ["D", "MS"])
@pytest.mark.parametrize("calendar", CALENDARS)
def test_time_range_is_xarrays_slice(calendar, freq):
    dates, _, _ = _axis(calendar, freq)
    x = _series(dates)
    y = dates[0].year
    texts = _texts(y) + (["1582-10-04,1582-10-15", "1582-10,1582-10", "1582-10-15,"]
                         if calendar == "standard" else [])
    checked = 0
    for text in texts:
        start, end = (s or None for s in text.split(","))
        try:
            want = x.sel(time=slice(start, end)).values
        except ValueError:    # a day the calendar lacks (12-31 in 360_day): both refuse
            with pytest.raises(InputError, match="is not a date of the"):
                timesel.time_range(text, dates)
            continue
        if want.size == 0:
            continue          # refused (tested below)
        got = timesel.time_range(text, dates)
        np.testing.assert_array_equal(x.values[got], want, err_msg=text)
        checked += 1
    assert checked >= len(texts) - 3


def test_partial_dates_cover_the_whole_period_and_sub_daily_steps():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dates = list(xr.date_range("2001-01-01", periods=40, freq="6h", calendar="noleap",
                                   use_cftime=True))
    assert timesel.time_range("2001-01-02,2001-01-03", dates) == slice(4, 12)
    assert timesel.time_range("2001,2001", dates) == slice(0, 40)


def test_day_30_of_february_exists_in_360_day_only():
    d360, _, _ = _axis("360_day", "D")
    x = _series(d360)
    got = timesel.time_range("2001-02-30,2001-02-30", d360)
    np.testing.assert_array_equal(x.values[got],
                                  x.sel(time=slice("2001-02-30", "2001-02-30")).values)
    assert got.stop - got.start == 1
    for cal in ("noleap", "proleptic_gregorian", "julian", "all_leap"):
        dates, _, _ = _axis(cal, "D")
        with pytest.raises(ValueError):          # xarray refuses it too
            _series(dates).sel(time=slice("2001-02-30", None))
        with pytest.raises(InputError, match=r"2001-02-30 is not a date of the"):
            timesel.time_range("2001-02-30,", dates)


@pytest.mark.parametrize("calendar,text,day", [
    ("noleap", "2001-02-29,2001-03", "2001-02-29"),
    ("standard", "2001,2001-02-29", "2001-02-29"),
    ("proleptic_gregorian", "2001-02-29,", "2001-02-29"),
    ("360_day", "2001-02-31,", "2001-02-31"),
    ("standard", "1582-10-10,1583", "1582-10-10"),     # in the Julian/Gregorian gap
])
def test_days_the_calendar_lacks_are_refused(calendar, text, day):
    dates, _, _ = _axis(calendar, "D")
    with pytest.raises(InputError) as err:
        timesel.time_range(text, dates, option="--base-period")
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith(f"--base-period {text!r}: {day} is not a date")


def test_julian_has_no_year_zero():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dates = cf.decode_time(np.arange(3.0), {"units": "days since 0001-01-01",
                                                "calendar": "julian"})
    with pytest.raises(InputError, match="year 0 does not exist in the 'julian' calendar"):
        timesel.time_range("0000,0001", dates)
    assert timesel.time_range("0001,0001", dates) == slice(0, 3)


@pytest.mark.parametrize("text,why", [
    ("2001", "expected START,END"),
    ("2001,2002,2003", "expected START,END"),
    (",", "give at least one of START and END"),
    ("2001/02,2002", "'2001/02' is not a date"),
    ("2001-2,2002", "'2001-2' is not a date"),
    ("01,2002", "'01' is not a date"),
    ("2001-01-01T00,", "is not a date"),
    ("abcd,", "'abcd' is not a date"),
    ("2001-13,", "month 13"),
    ("2001-00,", "month 0"),
    ("2001-01-32,", "day 32"),
    ("2001-01-00,", "day 0"),
])
def test_malformed_text_is_one_line(text, why):
    dates, _, _ = _axis("noleap", "D")
    with pytest.raises(InputError) as err:
        timesel.time_range(text, dates)
    msg = str(err.value)
    assert why in msg and msg.startswith(f"--time-range {text!r}") and "\n" not in msg
    assert "YYYY" in msg or "month" in msg or "day" in msg


@pytest.mark.parametrize("text", ["2002,2001", "2001-03-02,2001-03-01", "2001-03,2001-02-28"])
def test_reversed_dates_are_refused(text):
    dates, _, _ = _axis("noleap", "D")
    with pytest.raises(InputError, match=r"is after END .*increasing order"):
        timesel.time_range(text, dates)


@pytest.mark.parametrize("text", ["1990,1991", "2010,", ",1999-12", "2000-03-01,2000-06"])
def test_a_range_that_selects_nothing_is_refused(text):
    dates, _, _ = _axis("noleap", "D")
    assert _series(dates).sel(time=slice(*(s or None for s in text.split(",")))).size == 0
    with pytest.raises(InputError) as err:
        timesel.time_range(text, dates)
    msg = str(err.value)
    assert "selects no time step" in msg and "2000-07-16" in msg and "2003-02-19" in msg


def test_times_out_of_order_are_refused():
    dates, _, _ = _axis("noleap", "D")
    dates = list(dates)
    dates[5], dates[6] = dates[6], dates[5]
    with pytest.raises(InputError, match="increasing order; time step 6"):
        timesel.time_range("2001,", dates)


def _group_means(groups, v):
    return np.bincount(groups.ids, weights=v, minlength=len(groups.labels)) / groups.steps


@pytest.mark.parametrize("freq", ["D", "MS"])
@pytest.mark.parametrize("calendar", CALENDARS)
def test_groups_are_xarrays(calendar, freq):
    dates, values, attrs = _axis(calendar, freq)
    x = _series(dates, seed=1)
    v = x.values

    seasons = timesel.season_ids(dates)
    want = x.groupby("time.season").mean("time")
    order = [s for s in timesel.SEASONS if s in want.season.values]
    assert list(seasons.labels) == order
    np.testing.assert_allclose(_group_means(seasons, v), want.sel(season=order).values,
                               rtol=1e-13)

    years = timesel.year_ids(dates)
    want = x.groupby("time.year").mean("time")
    np.testing.assert_array_equal(years.labels, want.year.values)
    assert years.labels.dtype.kind == "i"
    np.testing.assert_allclose(_group_means(years, v), want.values, rtol=1e-13)
    np.testing.assert_array_equal(years.steps, x.groupby("time.year").count().values)

    months = timesel.month_ids(dates)
    want = x.groupby("time.month").mean("time")
    present = months.steps > 0
    np.testing.assert_array_equal(months.labels[present], want.month.values)
    np.testing.assert_allclose(_group_means(months, v)[present], want.values, rtol=1e-13)

    monthly = timesel.month_start_ids(dates, attrs["units"], calendar)
    want = x.resample(time="1MS").mean()
    stamps = cftime.num2date(monthly.labels, attrs["units"], calendar=calendar,
                             only_use_cftime_datetimes=True)
    assert [str(d) for d in stamps] == [str(d) for d in want.time.values]
    with np.errstate(invalid="ignore"):
        np.testing.assert_allclose(_group_means(monthly, v), want.values, rtol=1e-13)


def test_the_groups_of_a_range_are_those_of_the_selection():
    dates, _, attrs = _axis("julian", "D")
    x = _series(dates, seed=2)
    steps = timesel.time_range("2000-12-10,2002-02-03", dates)
    sub = x.sel(time=slice("2000-12-10", "2002-02-03"))
    seasons = timesel.season_ids(dates[steps])
    want = sub.groupby("time.season").mean("time").sel(season=list(seasons.labels))
    np.testing.assert_allclose(_group_means(seasons, x.values[steps]), want.values,
                               rtol=1e-13)
    monthly = timesel.month_start_ids(dates[steps], attrs["units"], "julian")
    np.testing.assert_allclose(_group_means(monthly, x.values[steps]),
                               sub.resample(time="1MS").mean().values, rtol=1e-13)


def test_monthly_means_keep_empty_months_as_xarray_does():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = xr.date_range("2001-01-15", periods=10, freq="D", calendar="noleap",
                          use_cftime=True)
        b = xr.date_range("2001-04-03", periods=3, freq="D", calendar="noleap",
                          use_cftime=True)
    dates = list(a) + list(b)
    x = _series(dates, seed=3)
    monthly = timesel.month_start_ids(dates, "hours since 2001-01-01", "noleap",
                                      dtype=np.int64)
    want = x.resample(time="1MS").mean()
    assert monthly.labels.dtype == np.int64
    np.testing.assert_array_equal(monthly.labels, [0, 744, 1416, 2160])
    np.testing.assert_array_equal(monthly.steps, [10, 0, 0, 3])
    with np.errstate(invalid="ignore"):
        np.testing.assert_allclose(_group_means(monthly, x.values), want.values, rtol=1e-13)
    frac = timesel.month_start_ids(dates, "days since 2000-12-31 12:00", "noleap",
                                   dtype=np.int32)
    assert frac.labels.dtype == np.float64 and frac.labels[0] == 0.5


def test_within_masks_the_steps_outside():
    ids = np.arange(6)
    np.testing.assert_array_equal(timesel.within(ids, slice(2, 4)), [-1, -1, 2, 3, -1, -1])
    np.testing.assert_array_equal(ids, np.arange(6))            # not modified


def test_a_base_period_must_cover_the_series_months():
    dates, _, _ = _axis("noleap", "D")
    base = dates[timesel.time_range("2001-03,2001-05", dates)]
    with pytest.raises(InputError) as err:
        timesel.check_base_months(base, dates)
    msg = str(err.value)
    assert msg.startswith("--base-period: the base period has no steps in month(s) Jan, "
                          "Feb, Jun,") and "Dec" in msg and "\n" not in msg
    timesel.check_base_months(base, dates[timesel.time_range("2002-04,2002-05", dates)])
