"""Time as CF allows it, and variables in NetCDF-4 groups, through climate-stats at 1, 2
and 4 ranks: NEMO-style time (``time_counter`` without units, or without a coordinate
variable, and the auxiliary ``time_centered``) gives the result of the same data with a
plain time coordinate, the output's time carrying the auxiliary's values and units, also
split over several files; "months since" in the 360_day calendar agrees with xarray's
(cftime's) decoding; ``--var /group/name`` gives the result of the same variable at the
root. Bad input (months in the gregorian calendar, years, two auxiliary times that differ
with none chosen, a name that is only inside a group) is one line, exit 2, no output."""

import os

import h5py
import numpy as np
import pytest

from clusterkit.testing import run_mpi

from ncfiles import in_group, nemo_style
from test_multifile import compare_with_xarray, make, outputs, shuffled

netCDF4 = pytest.importorskip("netCDF4")
xr = pytest.importorskip("xarray")
CODER = xr.coders.CFDatetimeCoder(use_cftime=True)
JOB = "clusterkit.jobs.climate_stats"
pytestmark = pytest.mark.filterwarnings("ignore:All-NaN slice:RuntimeWarning")
Q = "5,50,95"
STATS = ("global_mean", "zonal_mean", "climatology", "time_mean", "time_std", "time_min",
         "time_max", "trend", "percentile")


@pytest.fixture(scope="module")
def src(tmp_path_factory):
    """A plain (time, lat, lon) file: float32 with land, descending latitude."""
    return make(str(tmp_path_factory.mktemp("src")), "float-land-desc")


@pytest.fixture(scope="module")
def plain(src, tmp_path_factory):
    """``plain(nranks)``: climate-stats' statistics and anomalies of ``src`` (computed once
    per rank count: the reductions' order depends on the decomposition)."""
    done = {}

    def run(nranks):
        if nranks not in done:
            done[nranks] = _run(nranks, [src], tmp_path_factory.mktemp("plain"))
        return done[nranks]
    return run


def _run(nranks, inputs, folder, *extra):
    out, anom = os.path.join(folder, "out.nc"), os.path.join(folder, "anom.nc")
    res = run_mpi(nranks, JOB, [*inputs, out, "--percentiles", Q, "--anomalies", anom,
                                *extra], timeout=180)
    assert res.returncode == 0, res.stderr
    return outputs(out), outputs(anom)


def _same_results(got, want, time_dim="time"):
    """Every statistic and the anomalies bitwise equal; ``got``'s time coordinate
    ``time_dim`` holds ``want``'s time values; the same coordinates otherwise."""
    (stats, anom), (ref, ref_anom) = got, want
    for name in STATS:
        np.testing.assert_array_equal(stats[name], ref[name], err_msg=name)
    np.testing.assert_array_equal(anom["anomaly"], ref_anom["anomaly"])
    for out, base in ((stats, ref), (anom, ref_anom)):
        np.testing.assert_array_equal(out[time_dim], base["time"])
        for d in ("lat", "lon"):
            np.testing.assert_array_equal(out[d], base[d])


def _time_attrs(path, dim):
    with h5py.File(path, "r") as f:
        return {k: (v.decode() if isinstance(v, bytes) else v)
                for k, v in f[dim].attrs.items() if k in ("units", "calendar",
                                                          "standard_name")}


@pytest.mark.parametrize("nranks", [1, 2, 4])
@pytest.mark.parametrize("counter", ["no-units", "none"])
def test_nemo_time_is_the_plain_time_result(src, plain, tmp_path, nranks, counter):
    """``time_counter`` without units (or without a coordinate variable) beside
    ``time_centered``: the results of the plain file, and the output's ``time_counter``
    carries ``time_centered``'s values, units and calendar (so it decodes)."""
    nemo = nemo_style(src, str(tmp_path / "nemo.nc"), counter=counter)
    out = tmp_path / "out"
    out.mkdir()
    _same_results(_run(nranks, [nemo], out), plain(nranks), "time_counter")
    attrs = _time_attrs(str(out / "out.nc"), "time_counter")
    with netCDF4.Dataset(src) as f:
        assert attrs == {"units": f["time"].units, "calendar": f["time"].calendar,
                         "standard_name": "time"}
    with xr.open_dataset(out / "out.nc", engine="h5netcdf", decode_times=CODER) as ds, \
            xr.open_dataset(src, engine="h5netcdf", decode_times=CODER) as s:
        assert list(ds["time_counter"].values) == list(s["time"].values)


def test_nemo_time_with_two_auxiliary_times_uses_the_one_the_variable_names(src, tmp_path):
    """``time_instant`` (half a step later) beside ``time_centered``: ``tas``' coordinates
    attribute names ``time_instant``, so the months and trend are those of its times:
    the result of a plain file whose time is ``time_instant``'s."""
    shifted = str(tmp_path / "shifted.nc")
    with netCDF4.Dataset(src) as a, netCDF4.Dataset(shifted, "w") as b:
        from ncfiles import _copy_var
        a.set_auto_maskandscale(False)
        for d in ("time", "lat", "lon"):
            b.createDimension(d, len(a.dimensions[d]))
            _copy_var(a, b, d, values=a[d][...] + (5.0 if d == "time" else 0.0))
        _copy_var(a, b, "tas")
    (tmp_path / "ref").mkdir()
    want = _run(2, [shifted], tmp_path / "ref")
    nemo = nemo_style(src, str(tmp_path / "nemo.nc"), counter="none", instant=5.0,
                      coordinates="time_instant nav_lat nav_lon")
    (tmp_path / "got").mkdir()
    _same_results(_run(2, [nemo], tmp_path / "got"), want, "time_counter")


@pytest.mark.parametrize("nranks", [1, 3])
def test_a_nemo_series_over_several_files(src, plain, tmp_path, nranks):
    """Three NEMO-style files, out of order, ``time_centered`` in other units in each:
    ordered and joined by ``time_centered``, the output in the earliest file's units."""
    with netCDF4.Dataset(src) as f:
        nt, units = len(f.dimensions["time"]), f["time"].units
    bounds = [0, 13, 14, nt]
    steps = [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:])]
    parts = [nemo_style(src, str(tmp_path / f"n{2 - i}.nc"), steps=s, units=u)
             for i, (s, u) in enumerate(zip(steps, [None, "hours since 1999-12-01",
                                                    "seconds since 2000-01-01"]))]
    out = tmp_path / "out"
    out.mkdir()
    _same_results(_run(nranks, shuffled(parts), out), plain(nranks), "time_counter")
    assert _time_attrs(str(out / "out.nc"), "time_counter")["units"] == units


@pytest.mark.parametrize("nranks", [1, 2, 4])
def test_months_since_in_the_360_day_calendar(tmp_path, nranks):
    """"months since" (360_day) agrees with xarray's cftime decoding, and equals the same
    times in days (a month is 30 days there)."""
    days = str(tmp_path / "days.nc")
    from clusterkit.comm import MPI
    from clusterkit.io.synth import make_dataset
    make_dataset(days, (27, 5, 8), calendar="360_day", step_days=15, land_mask=True,
                 comm=MPI.COMM_SELF)
    months = str(tmp_path / "months.nc")
    with netCDF4.Dataset(days) as a, netCDF4.Dataset(months, "w") as b:
        from ncfiles import _copy_var
        a.set_auto_maskandscale(False)
        for d in ("time", "lat", "lon"):
            b.createDimension(d, len(a.dimensions[d]))
            _copy_var(a, b, d)
        _copy_var(a, b, "tas")
        b["time"].units = "months since 2000-01-01 00:00:00"
        b["time"][:] = a["time"][...] / 30.0   # steps of half a month
        b["time"].calendar = "360_day"
    got = tmp_path / "got"
    got.mkdir()
    result = _run(nranks, [months], got)
    compare_with_xarray(str(got / "out.nc"), [months], [5, 50, 95])
    with xr.open_dataset(got / "out.nc", engine="h5netcdf", decode_times=CODER) as ds:
        assert ds["time"].values[1] == ds["time"].values[1].__class__(2000, 1, 16)
    ref = tmp_path / "ref"
    ref.mkdir()
    shifted = _run(nranks, [days], ref)
    for name in ("climatology", "time_mean", "time_std", "time_min", "time_max"):
        np.testing.assert_array_equal(result[0][name], shifted[0][name], err_msg=name)
    np.testing.assert_allclose(result[0]["trend"], shifted[0]["trend"], rtol=1e-12)


@pytest.mark.parametrize("nranks", [1, 2, 4])
@pytest.mark.parametrize("where", ["/g", "/a/b"])
def test_a_variable_in_a_group_is_the_same_variable_at_the_root(src, plain, tmp_path,
                                                                nranks, where):
    """``--var /g/tas`` (its lat and lon in /g, hiding the root's decoys; time from the
    root) and ``--var /a/b/tas`` (every dimension from the root): the root's results, the
    output's dimensions named by their plain names."""
    grouped = in_group(src, str(tmp_path / "grouped.nc"), where)
    out = tmp_path / "out"
    out.mkdir()
    _same_results(_run(nranks, [grouped], out, "--var", f"{where}/tas"), plain(nranks))
    with h5py.File(out / "out.nc", "r") as f:
        assert sorted(k for k in f if isinstance(f[k], h5py.Dataset)) == sorted(
            STATS + ("time", "lat", "lon", "month", "pct"))


def _months_gregorian(src, dst):
    with netCDF4.Dataset(dst, "w") as b, netCDF4.Dataset(src) as a:
        from ncfiles import _copy_var
        a.set_auto_maskandscale(False)
        for d in ("time", "lat", "lon"):
            b.createDimension(d, len(a.dimensions[d]))
            _copy_var(a, b, d)
        _copy_var(a, b, "tas")
        b["time"].units = "months since 2000-01-01"
        b["time"].calendar = "gregorian"
        b["time"][:] = np.arange(len(a.dimensions["time"]), dtype=float)
    return dst


def _years_360(src, dst):
    _months_gregorian(src, dst)
    with netCDF4.Dataset(dst, "a") as b:
        b["time"].units, b["time"].calendar = "years since 2000-01-01", "360_day"
    return dst


BAD = {  # case: (make the input, extra arguments, fragments of the one line)
    "months-gregorian": (_months_gregorian, [], [
        "time units 'months since 2000-01-01' with calendar 'standard' cannot be decoded",
        "a month has no fixed length in the 'standard' calendar"]),
    "years-360_day": (_years_360, [], [
        "time units 'years since 2000-01-01' with calendar '360_day' cannot be decoded",
        "CF's year is the UDUNITS year"]),
    "two-auxiliary-times": (lambda s, d: nemo_style(s, d, counter="none", instant=5.0,
                                                    coordinates=None), [], [
        "dimension 'time_counter'", "several auxiliary time variables with different "
        "values (time_centered, time_instant)", "variable 'tas' names none of them"]),
    "only-in-a-group": (lambda s, d: in_group(s, d, "/g"), ["--var", "tas"], [
        "variable 'tas' not found", "it is inside a group: use its path, '/g/tas'"]),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_time_or_group_is_one_line_exit_2_no_output(src, tmp_path, case):
    build, extra, fragments = BAD[case]
    folder = tmp_path / "in"
    folder.mkdir()
    path = build(src, str(folder / "in.nc"))
    res = run_mpi(2, JOB, [path, str(tmp_path / "out.nc"), "--anomalies",
                           str(tmp_path / "a.nc"), *extra], timeout=120)
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("climate-stats: error:"), res.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    assert sorted(os.listdir(tmp_path)) == ["in"]
