"""climate-stats --monthly PATH (issue 18) at 1, 2 and 4 ranks against the issue's xarray
expression ``x.resample(time="1MS").mean()`` in its own file, time the month starts in
the input's units and calendar: a series starting mid-year and ending in February in the
noleap, 360_day and standard calendars, together with --time-range, --base-period,
--seasonal, --annual, --percentiles and --anomalies; months without steps; the other
outputs unchanged; a 2-file input; an output path that is an input or another output
refused with one line, exit 2 and no output."""

import os

import numpy as np
import pytest

from clusterkit.testing import run_mpi

from periods_common import (JOB, RANGE, SOURCES, WARNINGS, assert_refused, check_monthly,
                            full_series, h5py, mid_year_series, outputs)

pytestmark = pytest.mark.filterwarnings(*WARNINGS)


@pytest.mark.parametrize("nranks", [1, 2, 4])
@pytest.mark.parametrize("calendar", list(SOURCES))
def test_monthly_matches_xarray_with_every_option(tmp_path, calendar, nranks):
    src = mid_year_series(str(tmp_path), calendar)
    out, anom, mon = (str(tmp_path / n) for n in ("stats.nc", "anom.nc", "mon.nc"))
    res = run_mpi(nranks, JOB, [src, out, "--time-range", RANGE, "--monthly", mon,
                                "--base-period", "2000-07,2001-03", "--seasonal",
                                "--annual", "--percentiles", "5,95", "--anomalies", anom,
                                "--chunk-mb", "0.001"], timeout=180)
    assert res.returncode == 0, res.stderr
    want = check_monthly(mon, src, RANGE)
    assert want.sizes["time"] == 7     # August .. February
    with h5py.File(out, "r") as f:
        assert "monthly_mean" not in f


def test_months_without_steps_are_nan_and_kept(tmp_path):
    from test_multifile import copy_nc
    full = full_series(str(tmp_path), "standard")
    src = copy_nc(full, str(tmp_path / "sparse.nc"), slice(0, None, 9))   # 45-day steps
    out, mon = str(tmp_path / "stats.nc"), str(tmp_path / "mon.nc")
    res = run_mpi(2, JOB, [src, out, "--monthly", mon, "--chunk-mb", "0.001"], timeout=180)
    assert res.returncode == 0, res.stderr
    want = check_monthly(mon, src)
    assert np.isnan(want.values).all(axis=(1, 2)).any()    # some months have no step


def test_other_outputs_are_those_without_monthly_bitwise(tmp_path):
    src = mid_year_series(str(tmp_path), "noleap")
    args = ["--time-range", RANGE, "--annual", "--chunk-mb", "0.001"]
    a, b, mon = (str(tmp_path / n) for n in ("a.nc", "b.nc", "mon.nc"))
    for out, extra in ((a, []), (b, ["--monthly", mon])):
        res = run_mpi(2, JOB, [src, out, *args, *extra], timeout=180)
        assert res.returncode == 0, res.stderr
    got, want = outputs(b, ()), outputs(a, ())
    assert sorted(got) == sorted(want)
    for name in want:
        np.testing.assert_array_equal(got[name], want[name], err_msg=name)


def test_two_file_input_is_the_one_file_bitwise(tmp_path):
    from test_multifile import UNITS, split
    src = full_series(str(tmp_path), "noleap")
    parts = split(src, str(tmp_path / "parts"), [0, 50], units=UNITS)
    mons = [str(tmp_path / "one.nc"), str(tmp_path / "two.nc")]
    for inputs, mon, n in (([src], mons[0], 0), (parts[::-1], mons[1], 1)):
        res = run_mpi(2, JOB, [*inputs, str(tmp_path / f"s{n}.nc"), "--monthly", mon],
                      timeout=180)
        assert res.returncode == 0, res.stderr
    got, want = outputs(mons[1], ()), outputs(mons[0], ())
    assert sorted(got) == sorted(want) and "monthly_mean" in want
    for name in want:
        np.testing.assert_array_equal(got[name], want[name], err_msg=name)


@pytest.mark.parametrize("which", ["input", "output", "anomalies", "exists"])
def test_bad_monthly_path_is_one_line_exit_2_and_no_output(tmp_path, which):
    src = mid_year_series(str(tmp_path), "noleap")
    out, anom = str(tmp_path / "out.nc"), str(tmp_path / "anom.nc")
    existing = tmp_path / "old.nc"
    existing.write_bytes(b"keep")
    mon = {"input": src, "output": out, "anomalies": anom, "exists": str(existing)}[which]
    before = open(src, "rb").read()
    res = run_mpi(2, JOB, [src, out, "--anomalies", anom, "--monthly", mon], timeout=120)
    needle = "exists; pass --overwrite" if which == "exists" else "is the same file as"
    assert_refused(res, f"output {mon!r}", needle)
    assert not os.path.exists(out) and not os.path.exists(anom)
    assert open(src, "rb").read() == before and existing.read_bytes() == b"keep"
