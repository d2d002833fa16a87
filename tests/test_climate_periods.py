"""climate-stats --time-range, --seasonal and --annual (issue 18) at 1, 2 and 4 ranks,
against the issue's xarray expressions: a series starting mid-year and ending in February
in the noleap, 360_day and standard calendars, with --percentiles and --anomalies, a
2-file input, and bad ranges refused with one line, exit 2 and no output."""

import os

import pytest

from clusterkit.testing import run_mpi

from periods_common import (JOB, RANGE, SOURCES, WARNINGS, assert_refused, check, h5py,
                            mid_year_series)

pytestmark = pytest.mark.filterwarnings(*WARNINGS)


@pytest.mark.parametrize("nranks", [1, 2, 4])
@pytest.mark.parametrize("calendar", list(SOURCES))
def test_time_range_seasons_and_years_match_xarray(tmp_path, calendar, nranks):
    src = mid_year_series(str(tmp_path), calendar)
    out, anom = str(tmp_path / "stats.nc"), str(tmp_path / "anom.nc")
    res = run_mpi(nranks, JOB, [src, out, "--time-range", RANGE, "--seasonal", "--annual",
                                "--percentiles", "5,95", "--anomalies", anom,
                                "--chunk-mb", "0.001"], timeout=180)
    assert res.returncode == 0, res.stderr
    check(out, anom, src)


def test_two_file_input_is_the_one_file_bitwise(tmp_path):
    from test_multifile import UNITS, assert_same, outputs, split
    src = mid_year_series(str(tmp_path), "noleap")
    parts = split(src, str(tmp_path / "parts"), [0, 13], units=UNITS)
    args = ["--time-range", RANGE, "--seasonal", "--annual", "--percentiles", "50"]
    one, two = str(tmp_path / "one.nc"), str(tmp_path / "two.nc")
    for inputs, out in (([src], one), (parts[::-1], two)):
        res = run_mpi(2, JOB, [*inputs, out, *args], timeout=180)
        assert res.returncode == 0, res.stderr
    assert_same(outputs(two), outputs(one))


def test_without_the_options_no_new_outputs(tmp_path):
    src = mid_year_series(str(tmp_path), "360_day")
    out = str(tmp_path / "s.nc")
    res = run_mpi(2, JOB, [src, out], timeout=120)
    assert res.returncode == 0, res.stderr
    with h5py.File(out, "r") as f:
        assert not {"season", "year", "seasonal_climatology", "annual_mean"} & set(f)
        assert f["time"].shape[0] == f["global_mean"].shape[0] > 40


@pytest.mark.parametrize("value, needle", [
    ("1990,1991", "selects no time step"),
    ("2001-02,2000-09", "is after END"),
    ("2000-13,2001", "month 13"),
    ("2001-02-29,", "is not a date of the 'noleap' calendar"),
    ("2000/01,2001", "is not a date"),
    (",", "give at least one of START and END"),
])
def test_bad_time_range_is_one_line_exit_2_and_no_output(tmp_path, value, needle):
    src = mid_year_series(str(tmp_path), "noleap")
    out, anom = tmp_path / "out.nc", tmp_path / "anom.nc"
    res = run_mpi(2, JOB, [src, str(out), "--time-range", value, "--seasonal",
                           "--anomalies", str(anom)], timeout=120)
    assert_refused(res, needle, "--time-range")
    assert not out.exists() and not anom.exists()
    assert [f for f in os.listdir(tmp_path) if f.startswith(".")] == []
