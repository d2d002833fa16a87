"""The worked example of docs/climate-stats.md (IPCC-style anomalies of a region against
1981-2010), run literally as printed on a generated archive of daily files named as CMIP
names them, against the issue's xarray expressions on the region cut beforehand."""

import os
import pathlib
import re
import shlex
import subprocess
import sys

import numpy as np
import pytest

from periods_common import CODER, check_monthly, reference, xr

DOC = pathlib.Path(__file__).resolve().parent.parent / "docs" / "climate-stats.md"
MODEL = "tas_day_MPI-ESM1-2-HR_historical_r1i1p1f1_gn"


def _command():
    text = DOC.read_text()
    section = text[text.index("### A worked example"):]
    block = re.search(r"```sh\n(.*?)```", section, re.S).group(1)
    argv = shlex.split(block.replace("\\\n", " "))
    assert argv[:4] == ["clusterkit", "run", "-n", "4"], argv
    return [str(pathlib.Path(sys.executable).with_name("clusterkit"))] + argv[1:]


def _archive(folder):
    """Daily noleap tas 1950-2014 on a 12 x 18 grid, in 5-year files named as CMIP's;
    returns the whole series as one file too (for the reference)."""
    from ncfiles import write_time_series
    from test_multifile import split
    whole = write_time_series(os.path.join(folder, "whole.nc"),
                              np.arange(65 * 365) + 0.5, "days since 1950-01-01",
                              "noleap", ny=12, nx=18)
    starts = list(range(0, 65 * 365, 5 * 365))
    for i, path in enumerate(split(whole, os.path.join(folder, "tmp"), starts,
                                   units=[None] * len(starts))):
        y = 1950 + 5 * i
        os.rename(path, os.path.join(folder, f"{MODEL}_{y}0101-{y + 4}1231.nc"))
    return whole


def test_the_worked_example_runs_as_printed_and_matches_xarray(tmp_path):
    from test_climate_region import cut, expected_indices
    argv = _command()
    opts = dict(zip(argv, argv[1:]))
    whole = _archive(str(tmp_path))
    res = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert "region 3x4 cells" in res.stdout and "from 13 files" in res.stdout, res.stdout
    box = [float(v) for v in opts["--region"].split(",")]
    rows, cols = expected_indices(whole, *box)
    region = cut(whole, str(tmp_path / "region.nc"), rows, cols)
    time_range, base = opts["--time-range"], opts["--base-period"]
    ref, anomaly, times, seasons = reference(region, time_range, base)
    out = xr.open_dataset(tmp_path / argv[6], engine="h5netcdf", decode_times=CODER)
    assert list(out["time"].values) == list(times)
    assert list(out["season"].values) == seasons == ["DJF", "MAM", "JJA", "SON"]
    assert out["climatology"].attrs["base_period"] == base
    np.testing.assert_array_equal(out["lon"].values, [340.0, 0.0, 20.0, 40.0])
    for name, want in ref.items():
        if name == "percentile":       # not asked for in the example
            continue
        got, want = out[name].values, np.asarray(getattr(want, "values", want), np.float64)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6, err_msg=name)
        assert np.array_equal(np.isnan(got), np.isnan(want)), name
    anom = xr.open_dataset(tmp_path / opts["--anomalies"], engine="h5netcdf",
                           decode_times=CODER)["anomaly"]
    np.testing.assert_allclose(anom.values, anomaly.values, rtol=1e-5, atol=1e-4)
    check_monthly(str(tmp_path / opts["--monthly"]), region, time_range)
