"""climate-stats' period options (issue 18) in the calendars the other period tests leave
out, against the issue's xarray expressions: all_leap, julian, proleptic_gregorian and a
gregorian series across October 1582 (daily-ish steps, starting mid-year, the range
ending in February, a range or base period ending on a date only that calendar has),
with --time-range, --base-period, --seasonal, --annual, --monthly, --percentiles and
--anomalies together, at 1, 2 and 4 ranks across the calendars; a monthly series (one
step a month, at mid-month); a 3-file series whose range lies in the middle file only,
bitwise the 1-file run."""

import os

import numpy as np
import pytest

from clusterkit.testing import run_mpi

from ncfiles import write_time_series
from periods_common import (CODER, JOB, WARNINGS, cftime, check, check_monthly, outputs,
                            select, xr)

pytestmark = pytest.mark.filterwarnings(*WARNINGS)

#: name: (calendar, time origin, ranks, --time-range, --base-period); the series has a
#: step on 2002-02-29 (all_leap), 1900-02-29 (julian), 1582-10-04 then 1582-10-18
#: (gregorian)
CASES = {
    "all_leap": ("all_leap", "2000-07-02", 1, "2000-08-03,2002-02-29", "2001,2001"),
    "julian": ("julian", "1898-07-01", 2, "1898-08,1900-02-29", "1899-03,1900-02-29"),
    "gregorian-1582": ("gregorian", "1581-07-01", 4, "1581-08,1583-02", "1582,1582"),
    "proleptic_gregorian": ("proleptic_gregorian", "1581-07-01", 2, "1581-08,1583-02",
                            "1581-10-10,1582-10-10"),
}


def daily_series(folder, calendar, origin):
    """160 steps of 4 days, at noon, from ``origin`` (early July) to the March or April
    after next."""
    return write_time_series(os.path.join(folder, f"{calendar}.nc"),
                             np.arange(160) * 4.0 + 0.5, f"days since {origin}", calendar)


def run_all_options(tmp_path, inputs, nranks, time_range, base, name="stats"):
    """climate-stats on ``inputs`` with every period option: the paths of its output,
    anomalies and monthly files."""
    out, anom, mon = (str(tmp_path / f"{name}-{k}.nc") for k in ("out", "anom", "mon"))
    res = run_mpi(nranks, JOB, [*inputs, out, "--time-range", time_range, "--base-period",
                                base, "--seasonal", "--annual", "--monthly", mon,
                                "--percentiles", "5,95", "--anomalies", anom,
                                "--chunk-mb", "0.001"], timeout=180)
    assert res.returncode == 0, res.stderr
    return out, anom, mon


@pytest.mark.parametrize("case", list(CASES))
def test_every_period_option_matches_xarray(tmp_path, case):
    calendar, origin, nranks, time_range, base = CASES[case]
    src = daily_series(str(tmp_path), calendar, origin)
    out, anom, mon = run_all_options(tmp_path, [src], nranks, time_range, base)
    check(out, anom, src, time_range, base)
    check_monthly(mon, src, time_range)


def test_monthly_input_matches_xarray(tmp_path):
    """30 months from July 2000 (noleap, time at mid-month, CMIP's units): monthly_mean
    is the input itself, at the month starts."""
    units = "days since 1850-01-01"
    starts = cftime.date2num([cftime.datetime(2000 + (6 + i) // 12, (6 + i) % 12 + 1, 1,
                                              calendar="noleap") for i in range(31)],
                             units, "noleap")
    src = write_time_series(str(tmp_path / "monthly.nc"), (starts[:-1] + starts[1:]) / 2,
                            units, "noleap")
    time_range, base = "2000-08,2002-02", "2001,2001"
    out, anom, mon = run_all_options(tmp_path, [src], 2, time_range, base)
    check(out, anom, src, time_range, base)
    want = check_monthly(mon, src, time_range)
    x = xr.open_dataset(src, engine="h5netcdf", decode_times=CODER)["tas"]
    x = select(x, time_range)
    got = xr.open_dataset(mon, engine="h5netcdf", decode_times=CODER)["monthly_mean"]
    assert want.sizes["time"] == x.sizes["time"] == 19
    np.testing.assert_array_equal(got.values, x.values.astype(np.float64))


def test_three_files_range_in_the_middle_one_is_the_one_file_bitwise(tmp_path):
    """Steps 60..109 (2000-08-29 .. 2001-03-13) in the middle file hold the range and
    the base period; the files given out of time order, each in its own time units."""
    from test_multifile import UNITS, assert_same, shuffled, split
    src = daily_series(str(tmp_path), "noleap", "2000-01-01")
    parts = split(src, str(tmp_path / "parts"), [0, 60, 110], units=UNITS)
    time_range, base = "2000-09,2001-02", "2000-09-10,2001-02-20"
    one = run_all_options(tmp_path, [src], 2, time_range, base, "one")
    three = run_all_options(tmp_path, shuffled(parts), 2, time_range, base, "three")
    for got, want in zip(three, one):
        assert_same(outputs(got, ()), outputs(want, ()))
