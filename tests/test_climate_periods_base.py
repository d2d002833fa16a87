"""climate-stats --base-period (issue 18) at 1, 2 and 4 ranks against the issue's xarray
expressions: ``clim = x.sel(time=slice(B0, B1)).groupby("time.month").mean()`` and
``anomaly = x.groupby("time.month") - clim`` over the (--time-range) series, with base
periods before, after, around and inside the series, in the noleap, 360_day and standard
calendars, together with --time-range, --seasonal, --annual, --percentiles and
--anomalies; the other statistics unchanged; a 2-file input; bad base periods refused
with one line, exit 2 and no output."""

import os

import numpy as np
import pytest

from clusterkit.testing import run_mpi

from periods_common import (JOB, RANGE, SOURCES, WARNINGS, assert_refused, check_base,
                            full_series, mid_year_series, outputs)

pytestmark = pytest.mark.filterwarnings(*WARNINGS)


#: (series, --time-range, --base-period): the base before the range with a gap between
#: them, after it, around it on both sides, inside a series without a range
CASES = {
    "before": ("full", "2001-03,2001-07", "2000,2000"),
    "after": ("full", ",2000-06", "2000-07,2001-06"),
    "around": ("mid", RANGE, "2000-07,2001-03"),
    "inside": ("full", None, "2000-03,2001-02"),
}


def run_case(tmp_path, calendar, nranks, case, extra=()):
    kind, time_range, base = CASES[case]
    src = (full_series if kind == "full" else mid_year_series)(str(tmp_path), calendar)
    out, anom = str(tmp_path / "stats.nc"), str(tmp_path / "anom.nc")
    args = [src, out, "--base-period", base, "--anomalies", anom, "--chunk-mb", "0.001",
            *(["--time-range", time_range] if time_range else []), *extra]
    res = run_mpi(nranks, JOB, args, timeout=180)
    assert res.returncode == 0, res.stderr
    check_base(out, anom, src, time_range, base)
    return src, out, args


@pytest.mark.parametrize("nranks", [1, 2, 4])
@pytest.mark.parametrize("calendar", list(SOURCES))
def test_base_before_the_range_matches_xarray(tmp_path, calendar, nranks):
    run_case(tmp_path, calendar, nranks, "before",
             ["--seasonal", "--annual", "--percentiles", "5,95"])


@pytest.mark.parametrize("case, calendar", [("after", "360_day"), ("around", "noleap"),
                                            ("inside", "standard")])
def test_base_after_around_and_inside_match_xarray(tmp_path, case, calendar):
    run_case(tmp_path, calendar, 2, case, ["--annual"])


@pytest.mark.parametrize("case", ["before", "around"])
def test_other_statistics_are_those_without_base_period_bitwise(tmp_path, case):
    src, out, args = run_case(tmp_path, "noleap", 2, case,
                              ["--seasonal", "--annual", "--percentiles", "50"])
    plain = str(tmp_path / "plain.nc")
    i = args.index("--base-period")
    rest = [a for a in args[2:i] + args[i + 2:]]
    j = rest.index("--anomalies")
    res = run_mpi(2, JOB, [src, plain, *rest[:j], *rest[j + 2:]], timeout=180)
    assert res.returncode == 0, res.stderr
    got, want = outputs(out), outputs(plain)
    assert sorted(got) == sorted(want) and "seasonal_climatology" in want
    for name in want:
        np.testing.assert_array_equal(got[name], want[name], err_msg=name)


def test_two_file_input_is_the_one_file_bitwise(tmp_path):
    from test_multifile import UNITS, split
    src = full_series(str(tmp_path), "noleap")
    parts = split(src, str(tmp_path / "parts"), [0, 50], units=UNITS)
    _, time_range, base = CASES["before"]
    args = ["--time-range", time_range, "--base-period", base, "--seasonal"]
    one, two = str(tmp_path / "one.nc"), str(tmp_path / "two.nc")
    for inputs, out in (([src], one), (parts[::-1], two)):
        res = run_mpi(2, JOB, [*inputs, out, *args], timeout=180)
        assert res.returncode == 0, res.stderr
    got, want = outputs(two, ()), outputs(one, ())
    assert sorted(got) == sorted(want)
    for name in want:
        np.testing.assert_array_equal(got[name], want[name], err_msg=name)


@pytest.mark.parametrize("value, needle", [
    ("2000-08,2000-12", "has no steps in month(s) Jan, Feb"),
    ("1990,1991", "selects no time step"),
    ("2001-02,2000-09", "is after END"),
    ("2001-02-29,", "is not a date of the 'noleap' calendar"),
    ("2000/01,2001", "is not a date"),
])
def test_bad_base_period_is_one_line_exit_2_and_no_output(tmp_path, value, needle):
    src = mid_year_series(str(tmp_path), "noleap")
    out, anom = tmp_path / "out.nc", tmp_path / "anom.nc"
    res = run_mpi(2, JOB, [src, str(out), "--time-range", RANGE, "--base-period", value,
                           "--anomalies", str(anom)], timeout=120)
    assert_refused(res, needle, "--base-period")
    assert not out.exists() and not anom.exists()
    assert [f for f in os.listdir(tmp_path) if f.startswith(".")] == []
