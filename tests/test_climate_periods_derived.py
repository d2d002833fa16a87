"""Groupings climate-stats derives from the time statistics' monthly sums instead of
feeding the pass (issue 18): seasons always, a base period that is the selection, and
--monthly and --annual within one year. Which path a grouping takes is checked on the
Layout; the derived results against the issue's xarray expressions at 1, 2 and 4 ranks
(the fed ones are the other period tests')."""

import pytest

from clusterkit.io.dataset import open_dataset
from clusterkit.testing import run_mpi
from clusterkit.jobs._climate_layout import Layout

from periods_common import (JOB, WARNINGS, check, check_monthly, full_series,
                            mid_year_series)

pytestmark = pytest.mark.filterwarnings(*WARNINGS)

#: inside one year: every grouping derived (the base period is the selection)
ONE_YEAR = "2000-08,2000-12"


def layout(src, **options):
    with open_dataset([src]) as ds:
        return Layout(ds, ds.find_variable(), seasonal=True, annual=True, monthly=True,
                      **options)


def test_which_groupings_are_derived(tmp_path):
    src = mid_year_series(str(tmp_path), "noleap")       # 2000-07 .. 2001-03
    one = layout(src, time_range=ONE_YEAR, base_period=ONE_YEAR)
    assert set(one.derived) == {"season", "year", "month", "base"} and not one.groups
    two = layout(src, time_range="2000-08,2001-02", base_period="2000-08,2001-03")
    assert set(two.derived) == {"season", "month"}        # 7 months: none repeats
    assert set(two.groups) == {"year", "base"}            # two years; base is longer
    assert set(layout(src).derived) == {"season", "month"}   # 2000-07 .. 2001-03
    (tmp_path / "f").mkdir()
    full = layout(full_series(str(tmp_path / "f"), "noleap"))   # 600 days: months repeat
    assert set(full.derived) == {"season"} and set(full.groups) == {"year", "month"}


@pytest.mark.parametrize("nranks", [1, 2, 4])
def test_derived_groupings_match_xarray(tmp_path, nranks):
    src = mid_year_series(str(tmp_path), "360_day")
    out, anom, mon = (str(tmp_path / f"{k}.nc") for k in ("out", "anom", "mon"))
    res = run_mpi(nranks, JOB, [src, out, "--time-range", ONE_YEAR, "--base-period",
                                ONE_YEAR, "--seasonal", "--annual", "--monthly", mon,
                                "--percentiles", "5,95", "--anomalies", anom,
                                "--chunk-mb", "0.001"], timeout=180)
    assert res.returncode == 0, res.stderr
    check(out, anom, src, ONE_YEAR, ONE_YEAR)
    check_monthly(mon, src, ONE_YEAR)

