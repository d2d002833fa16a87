"""climate-stats on a variable stored in any order of its dimensions: (lat, lon, time),
(lon, lat, time), (time, lat, plev, lon), (lon, plev, time, lat) give bitwise the result
on the same data stored as (time, [plev,] lat, lon) at 1, 2 and 4 ranks (statistics,
percentiles, anomalies; several time chunks and one), agree with xarray on the transposed
file, and so does a series of files whose time axis is not first; a variable without
exactly one time, latitude and longitude dimension is one line, exit 2, no output."""

import os
import subprocess
import sys

import numpy as np
import pytest

from clusterkit.io.cf import CALENDARS, YEAR_DAYS
from clusterkit.testing import run_mpi

from ncfiles import write_transposed
from test_climate_stats import trend_reference

h5py = pytest.importorskip("h5py")
netCDF4 = pytest.importorskip("netCDF4")
xr = pytest.importorskip("xarray")
CODER = xr.coders.CFDatetimeCoder(use_cftime=True)
JOB = "clusterkit.jobs.climate_stats"
pytestmark = pytest.mark.filterwarnings("ignore:All-NaN slice:RuntimeWarning")  # xarray, land

SOURCES = {  # name: make-dataset options (prime sizes, quirks of real files)
    "float-land": ["--shape", "29,7,13", "--step-days", "13", "--land-mask",
                   "--descending-lat", "--calendar", "noleap"],
    "packed-levels": ["--shape", "31,5,11", "--step-days", "12", "--packed", "--levels",
                      "3", "--lon180", "--land-mask"],
    "sliver": ["--shape", "17,3,2", "--step-days", "23", "--calendar", "360_day"],
}
ORDERS = {  # the stored orders of each source's variable
    "float-land": [("lat", "lon", "time"), ("lon", "lat", "time")],
    "packed-levels": [("time", "lat", "plev", "lon"), ("lon", "plev", "time", "lat")],
    "sliver": [("lat", "lon", "time")],
}
CASES = [(name, order) for name in ORDERS for order in ORDERS[name]]
IDS = [f"{name}:{'-'.join(order)}" for name, order in CASES]
CANONICAL = {"float-land": ("time", "lat", "lon"),
             "packed-levels": ("time", "plev", "lat", "lon"),
             "sliver": ("time", "lat", "lon")}


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    """``{name: path}`` of the canonical files, ``{(name, order): path}`` of the copies."""
    folder = tmp_path_factory.mktemp("dim-order")
    out = {}
    for name, opts in SOURCES.items():
        path = str(folder / f"{name}.nc")
        subprocess.run([sys.executable, "-m", "clusterkit.cli.main", "make-dataset", path,
                        *opts], check=True, capture_output=True, timeout=120)
        out[name] = path
        for order in ORDERS[name]:
            out[name, order] = write_transposed(path, str(folder / f"{name}-"
                                                          f"{'-'.join(order)}.nc"), order)
    return out


@pytest.fixture(scope="module")
def canonical(sources, tmp_path_factory):
    """``canonical(name, nranks, extra)``: the outputs of :func:`_run` on the canonical
    file ``name``, computed once."""
    folder, done = tmp_path_factory.mktemp("canonical-runs"), {}

    def get(name, nranks, extra=()):
        key = (name, nranks, tuple(extra))
        if key not in done:
            done[key] = _run(nranks, [sources[name]], folder, f"run{len(done)}", extra)
        return done[key]
    return get


def _run(nranks, inputs, folder, tag, extra=()):
    """climate-stats of ``inputs`` with percentiles and anomalies; the two files' arrays."""
    out, anom = os.path.join(folder, f"{tag}.nc"), os.path.join(folder, f"{tag}-anom.nc")
    res = run_mpi(nranks, JOB, [*inputs, out, "--percentiles", "5,50,95", "--anomalies",
                                anom, *extra], timeout=180)
    assert res.returncode == 0, res.stderr
    return _arrays(out), _arrays(anom)


def _arrays(path):
    with h5py.File(path, "r") as f:
        return {k: f[k][...] for k in f if isinstance(f[k], h5py.Dataset)}


def _dims(path, name):
    with netCDF4.Dataset(path) as f:
        return f[name].dimensions


def assert_same(got, want):
    assert sorted(got) == sorted(want)
    for name in want:
        np.testing.assert_array_equal(got[name], want[name], err_msg=name)


# Each stored order at two rank counts, each source at 1, 2 and 4 ranks (the sliver, the
# awkward shape, at all three): the blocks a rank reads change with the rank count, the
# transposed read of a block does not.
ANY_ORDER_RANKS = {"float-land:lat-lon-time": (1, 4), "float-land:lon-lat-time": (2, 4),
                   "packed-levels:time-lat-plev-lon": (1, 4),
                   "packed-levels:lon-plev-time-lat": (2, 4), "sliver:lat-lon-time": (1, 2, 4)}


@pytest.mark.parametrize("name, order, nranks", [
    pytest.param(name, order, n, id=f"{i}-{n}") for (name, order), i in zip(CASES, IDS)
    for n in ANY_ORDER_RANKS[i]])
def test_any_order_is_bitwise_the_canonical_result(sources, canonical, tmp_path, name, order,
                                                   nranks):
    """The passes see the same canonical blocks, so the arithmetic and the bits are the
    same; every output (anomaly too) is in the canonical order."""
    chunks = ["--chunk-mb", "0.002"]   # several time chunks
    want = canonical(name, nranks, chunks)
    got = _run(nranks, [sources[name, order]], tmp_path, "reordered", chunks)
    for g, w in zip(got, want):
        assert_same(g, w)
    dims = CANONICAL[name]
    assert _dims(str(tmp_path / "reordered-anom.nc"), "anomaly") == dims
    assert _dims(str(tmp_path / "reordered.nc"), "time_mean") == dims[1:]
    assert _dims(str(tmp_path / "reordered.nc"), "zonal_mean") == dims[:-1]
    assert [f for f in os.listdir(tmp_path) if f.startswith(".")] == []


@pytest.mark.parametrize("name, order", CASES, ids=IDS)
def test_one_time_chunk_is_bitwise_the_canonical_result(sources, canonical, tmp_path, name,
                                                        order):
    """The default chunk holds every step: one read of the whole block, transposed."""
    want = canonical(name, 2)
    got = _run(2, [sources[name, order]], tmp_path, "reordered")
    for g, w in zip(got, want):
        assert_same(g, w)


def reference(path, canonical, q):
    """The statistics and anomalies of the file's ``tas`` computed with xarray (and NumPy
    for the trend), in the canonical order."""
    ds = xr.open_dataset(path, engine="h5netcdf", decode_times=CODER)
    x = ds["tas"].astype(np.float64).transpose(*canonical)
    w = np.cos(np.deg2rad(ds["lat"]))
    clim = x.groupby("time.month").mean("time")
    ref = {"global_mean": x.weighted(w).mean(("lat", "lon")), "zonal_mean": x.mean("lon"),
           "climatology": clim, "time_mean": x.mean("time"), "time_std": x.std("time"),
           "time_min": x.min("time"), "time_max": x.max("time"),
           "percentile": x.quantile(np.asarray(q) / 100, dim="time"),
           "anomaly": x.groupby("time.month") - clim}
    cal = CALENDARS[ds["time"].encoding.get("calendar", "standard")]
    raw = xr.open_dataset(path, engine="h5netcdf", decode_times=False)["time"].values
    ref["trend"] = trend_reference((raw - raw[0]) / YEAR_DAYS[cal], x.values)
    return ref


@pytest.mark.parametrize("name, order", [("packed-levels", ("lon", "plev", "time", "lat")),
                                         ("float-land", ("lat", "lon", "time"))])
def test_transposed_file_agrees_with_xarray(sources, tmp_path, name, order):
    got, anom = _run(3, [sources[name, order]], tmp_path, "out", ["--chunk-mb", "0.002"])
    got["anomaly"] = anom["anomaly"]
    for var, want in reference(sources[name, order], CANONICAL[name], [5, 50, 95]).items():
        want = np.asarray(getattr(want, "values", want))
        np.testing.assert_allclose(got[var], want, rtol=1e-5, atol=1e-4, err_msg=var)
        assert np.array_equal(np.isnan(got[var]), np.isnan(want)), var


def _split_transposed(src, folder, starts, order):
    """``src`` (canonical) as one file per start in ``starts``, each stored in ``order``,
    later files with other time units; paths in an order that is not time order."""
    from test_multifile import shuffled, split
    parts = split(src, os.path.join(folder, "canonical"), starts)
    os.makedirs(os.path.join(folder, "parts"))
    return shuffled([write_transposed(p, os.path.join(folder, "parts", os.path.basename(p)),
                                      order) for p in parts])


@pytest.mark.parametrize("name, order, nranks", [
    pytest.param("float-land", ("lat", "lon", "time"), 1, id="float-land-order0-1"),
    pytest.param("float-land", ("lat", "lon", "time"), 4, id="float-land-order0-4"),
    pytest.param("packed-levels", ("lon", "plev", "time", "lat"), 2, id="packed-levels-order1-2"),
    pytest.param("packed-levels", ("lon", "plev", "time", "lat"), 4, id="packed-levels-order1-4"),
])
def test_a_series_with_time_not_first_is_the_one_files_result(sources, canonical, tmp_path,
                                                               name, order, nranks):
    """Files joined along a time axis that is last, or third of four; time windows
    that straddle files (one step a chunk)."""
    parts = _split_transposed(sources[name], str(tmp_path), [0, 5, 6, 19], order)
    chunks = ["--chunk-mb", "0.001"]
    want = canonical(name, nranks, chunks)
    got = _run(nranks, parts, tmp_path, "series", chunks)
    for g, w in zip(got, want):
        assert_same(g, w)


def _write(path, dims, kinds, var="x"):
    """A file with variable ``var`` on ``dims`` (name: length), each dimension's
    coordinate carrying the CF attributes of its kind ("time", "lat", "lon" or None)."""
    attrs = {"time": {"units": "days since 2000-01-01", "calendar": "standard"},
             "lat": {"units": "degrees_north"}, "lon": {"units": "degrees_east"},
             None: {"units": "hPa"}}
    with netCDF4.Dataset(path, "w") as f:
        for (d, n), kind in zip(dims, kinds):
            f.createDimension(d, n)
            c = f.createVariable(d, "f8", (d,))
            c.setncatts(attrs[kind])
            c[:] = np.linspace(-60, 60, n) if kind == "lat" else np.arange(n) * 10.0
        v = f.createVariable(var, "f4", tuple(d for d, _ in dims))
        v.units = "K"
        v[...] = np.ones([n for _, n in dims], "f4")
    return path


#: file: (dims, kinds), extra args, what the one line says. (A variable without a time,
#: latitude or longitude dimension is refused before, when it is chosen.)
BAD = {
    "two-lat": ([("lat", 3), ("lat2", 4), ("lon", 5), ("time", 2)],
                ["lat", "lat", "lon", "time"], ["--var", "x"],
                "variable 'x' has dimensions ('lat', 'lat2', 'lon', 'time'): 2 latitude "
                "dimensions ('lat', 'lat2'); expected exactly one time, one latitude and "
                "one longitude dimension (in any order"),
    "two-lat-found": ([("time", 2), ("lon", 5), ("lat", 3), ("lat2", 4)],
                      ["time", "lon", "lat", "lat"], [],
                      "2 latitude dimensions ('lat', 'lat2'); expected exactly one time"),
    "two-time": ([("t1", 2), ("lat", 3), ("t2", 2), ("lon", 5)],
                 ["time", "lat", "time", "lon"], ["--var", "x"],
                 "2 time dimensions ('t1', 't2'); expected exactly one time"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_not_one_time_lat_and_lon_is_one_line_exit_2(tmp_path, case):
    dims, kinds, args, needle = BAD[case]
    src = _write(str(tmp_path / "in.nc"), dims, kinds)
    out = tmp_path / "out.nc"
    res = run_mpi(2, JOB, [src, str(out), *args], timeout=120)
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("climate-stats: error:"), res.stderr
    assert needle in lines[0]
    assert not out.exists()
    assert [f for f in os.listdir(tmp_path) if f.startswith(".")] == []
