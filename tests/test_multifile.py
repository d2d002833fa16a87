"""Multi-file inputs to climate-stats: a time series split across 1, 2 and 7 files (each
file's time in its own units, given out of order, by name and by glob, NetCDF-3 among
NetCDF-4) gives bitwise the single-file result at 1-4 ranks and agrees with xarray's
joining of the files (``combine_by_coords`` of each file opened: what ``open_mfdataset``
does, without needing dask); files that do not form one series are one line naming the
file, exit 2, and no output."""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from clusterkit.io.cf import CALENDARS, YEAR_DAYS, attr_str
from clusterkit.testing import run_mpi

from test_climate_stats import trend_reference

h5py = pytest.importorskip("h5py")
netCDF4 = pytest.importorskip("netCDF4")
cftime = pytest.importorskip("cftime")
xr = pytest.importorskip("xarray")
CODER = xr.coders.CFDatetimeCoder(use_cftime=True)
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
JOB = "clusterkit.jobs.climate_stats"
pytestmark = pytest.mark.filterwarnings("ignore:All-NaN slice:RuntimeWarning")  # xarray, land

SOURCES = {  # name: make-dataset options
    "float-land-desc": ["--shape", "40,7,12", "--step-days", "10", "--land-mask",
                        "--descending-lat"],
    "packed-noleap-levels": ["--shape", "30,5,8", "--step-days", "15", "--calendar",
                             "noleap", "--packed", "--levels", "2", "--lon180"],
}
#: time units of the files after the earliest (which keeps the source's units, so the
#: joined coordinate and the trend are the single file's to the bit)
UNITS = [None, "hours since 1999-12-31 00:00:00", "days since 1990-01-01",
         "minutes since 2000-02-01", "seconds since 2000-01-01",
         "days since 2000-06-15 12:00:00", "hours since 1970-01-01"]
#: first time step of each file (the last file runs to the end)
SPLITS = {1: [0], 2: [0, 17], 7: [0, 4, 9, 13, 20, 22, 27]}


def make(folder, name):
    path = os.path.join(folder, f"{name}.nc")
    subprocess.run([sys.executable, "-m", "clusterkit.cli.main", "make-dataset", path,
                    *SOURCES[name]], check=True, capture_output=True, timeout=120)
    return path


def copy_nc(src, dst, steps=slice(None), *, fmt="NETCDF4", units=None, recode=None,
            edit=None):
    """Copy time steps ``steps`` of ``src`` to ``dst`` (raw values and attributes) in
    format ``fmt``, the time coordinate re-encoded in ``units`` (None: as is);
    ``recode(attrs, raw)`` → ``(dtype, attrs, raw)`` stores ``tas`` otherwise, and
    ``edit(dataset)`` may change the copy before it is closed."""
    with netCDF4.Dataset(src) as a, netCDF4.Dataset(dst, "w", format=fmt) as b:
        a.set_auto_maskandscale(False)
        b.setncatts({k: a.getncattr(k) for k in a.ncattrs()})
        n = len(range(*steps.indices(len(a.dimensions["time"]))))
        for name, dim in a.dimensions.items():
            b.createDimension(name, n if name == "time" else len(dim))
        for name, var in a.variables.items():
            attrs = {k: var.getncattr(k) for k in var.ncattrs()}
            values = var[steps] if var.dimensions[:1] == ("time",) else var[...]
            dtype = var.dtype
            if name == "time" and units:
                values = cftime.date2num(cftime.num2date(values, attrs["units"],
                                                         calendar=attrs["calendar"]),
                                         units, calendar=attrs["calendar"])
                attrs["units"] = units
            if name == "tas" and recode is not None:
                dtype, attrs, values = recode(attrs, values)
            out = b.createVariable(name, dtype, var.dimensions,
                                   fill_value=attrs.pop("_FillValue", None))
            out.set_auto_maskandscale(False)
            out.setncatts(attrs)
            out[...] = values
        if edit is not None:
            edit(b)
    return dst


def split(src, folder, starts, *, units=UNITS, formats=None, prefix="part-"):
    """Write ``src``'s time series as one file per start in ``starts``; file i has time
    units ``units[i]`` and format ``formats[i]``. Returns the paths in time order; their
    names sort in reverse time order (the earliest is ``PREFIX<n-1>.nc``)."""
    os.makedirs(folder, exist_ok=True)
    bounds = list(starts) + [None]
    paths = []
    for i in range(len(starts)):
        path = os.path.join(folder, f"{prefix}{len(starts) - 1 - i:02d}.nc")
        paths.append(copy_nc(src, path, slice(bounds[i], bounds[i + 1]),
                             fmt=(formats or ["NETCDF4"] * len(starts))[i], units=units[i]))
    return paths


def shuffled(paths):
    """The paths in an order that is neither time nor name order."""
    return paths[1::2] + paths[0::2] if len(paths) > 2 else paths[::-1]


def outputs(path):
    with h5py.File(path, "r") as f:
        return {k: f[k][...] for k in f if isinstance(f[k], h5py.Dataset)}


def assert_same(got, want):
    assert sorted(got) == sorted(want)
    for name in want:
        np.testing.assert_array_equal(got[name], want[name], err_msg=name)


def joined(paths):
    """xarray's joining of the files (by their time coordinates)."""
    return xr.combine_by_coords([xr.open_dataset(p, engine="netcdf4", decode_times=CODER)
                                 for p in paths], combine_attrs="override")


def compare_with_xarray(out_path, paths, q):
    """climate-stats' statistics of ``paths`` against xarray's of the joined files."""
    ds = joined(paths)
    x = ds["tas"].astype(np.float64)
    w = np.cos(np.deg2rad(ds["lat"]))
    ref = {"global_mean": x.weighted(w).mean(("lat", "lon")), "zonal_mean": x.mean("lon"),
           "climatology": x.groupby("time.month").mean("time"), "time_mean": x.mean("time"),
           "time_std": x.std("time"), "time_min": x.min("time"), "time_max": x.max("time"),
           "percentile": x.quantile(np.asarray(q) / 100, dim="time")}
    cal = CALENDARS[ds["time"].values[0].calendar]
    days = cftime.date2num(ds["time"].values, "days since 2000-01-01", calendar=cal)
    ref["trend"] = trend_reference((days - days[0]) / YEAR_DAYS[cal], x.values)
    out = xr.open_dataset(out_path, engine="h5netcdf", decode_times=CODER)
    assert list(out["time"].values) == list(ds["time"].values)
    for name, want in ref.items():
        got, want = out[name].values, np.asarray(getattr(want, "values", want))
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6, err_msg=name)
        assert np.array_equal(np.isnan(got), np.isnan(want)), name


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    folder = str(tmp_path_factory.mktemp("sources"))
    return {name: make(folder, name) for name in SOURCES}


@pytest.fixture(scope="module")
def single(sources, tmp_path_factory):
    """``single(source, nranks, chunk_mb)``: climate-stats' outputs (statistics and
    anomalies) of the one source file, computed once per arguments."""
    folder = tmp_path_factory.mktemp("single")
    done = {}

    def run(source, nranks, chunk):
        key = (source, nranks, chunk)
        if key not in done:
            out, anom = folder / f"{source}-{nranks}-{chunk}.nc", folder / f"a-{len(done)}.nc"
            res = run_mpi(nranks, JOB, [sources[source], str(out), "--percentiles", "5,50,95",
                                        "--anomalies", str(anom), "--chunk-mb", chunk],
                          timeout=180)
            assert res.returncode == 0, res.stderr
            done[key] = outputs(out), outputs(anom)
        return done[key]
    return run


def run_split(paths, tmp_path, nranks, chunk, *extra):
    out, anom = tmp_path / "stats.nc", tmp_path / "anom.nc"
    res = run_mpi(nranks, JOB, [*paths, str(out), "--percentiles", "5,50,95", "--anomalies",
                                str(anom), "--chunk-mb", chunk, *extra], timeout=180)
    assert res.returncode == 0, res.stderr
    return res, out, anom


# Each split at an odd and an even rank count (the two chunkings below); each source at
# 1, 2, 3 and 4 ranks; the 7-file split of the float source at every rank count.
SPLIT_CASES = [("float-land-desc", 1, 1), ("float-land-desc", 1, 4),
               ("float-land-desc", 2, 3), ("float-land-desc", 2, 2),
               *[("float-land-desc", 7, n) for n in (1, 2, 3, 4)],
               ("packed-noleap-levels", 2, 1), ("packed-noleap-levels", 2, 4),
               ("packed-noleap-levels", 7, 3), ("packed-noleap-levels", 7, 2)]


@pytest.mark.parametrize("source, nfiles, nranks", SPLIT_CASES,
                         ids=["-".join(map(str, c)) for c in SPLIT_CASES])
def test_a_split_series_is_bitwise_the_single_file_result(sources, single, tmp_path, source,
                                                          nfiles, nranks):
    """Files given out of order, later files' times in other units. At an odd rank count
    the time chunks are a few steps, so chunks straddle file boundaries; at an even one
    a chunk holds every step, so one read spans every file."""
    chunk = "0.003" if nranks % 2 else "128"
    parts = split(sources[source], tmp_path / "in", SPLITS[nfiles])
    res, out, anom = run_split(shuffled(parts), tmp_path, nranks, chunk)
    assert (f"from {nfiles} files" in res.stdout) == (nfiles > 1), res.stdout
    want_stats, want_anom = single(source, nranks, chunk)
    assert_same(outputs(out), want_stats)
    assert_same(outputs(anom), want_anom)
    compare_with_xarray(out, parts, [5, 50, 95])
    assert [f for f in os.listdir(tmp_path) if f.startswith(".")] == []


def test_time_is_written_in_the_earliest_files_units(sources, single, tmp_path):
    src = sources["float-land-desc"]
    units = ["hours since 1999-12-31 00:00:00", "days since 1990-01-01"]
    parts = split(src, tmp_path / "in", SPLITS[2], units=units)
    _, out, anom = run_split(parts[::-1], tmp_path, 2, "128")
    want, want_anom = single("float-land-desc", 2, "128")
    got = outputs(out)
    with h5py.File(out, "r") as f:
        assert attr_str(f["time"].attrs, "units") == units[0]
        assert attr_str(f["time"].attrs, "calendar") == "standard"
    with h5py.File(src, "r") as f:
        days = f["time"][...]
    np.testing.assert_array_equal(got["time"], days * 24 + 24)
    for name in want:        # only the trend depends on the time units (rounding)
        if name not in ("time", "trend"):
            np.testing.assert_array_equal(got[name], want[name], err_msg=name)
    np.testing.assert_allclose(got["trend"], want["trend"], rtol=1e-12)
    compare_with_xarray(out, parts, [5, 50, 95])


def test_glob_patterns_and_netcdf3_among_netcdf4(sources, single, tmp_path):
    """Quoted patterns expanded by clusterkit, mixed with a file named directly; NetCDF-3
    classic and 64-bit offset files among NetCDF-4 (classic model too) ones."""
    formats = ["NETCDF4", "NETCDF3_CLASSIC", "NETCDF4_CLASSIC", "NETCDF3_64BIT_OFFSET",
               "NETCDF4", "NETCDF3_CLASSIC", "NETCDF4"]
    folder = tmp_path / "in"
    parts = split(sources["float-land-desc"], folder, SPLITS[7], formats=formats)
    given = [str(folder / "part-0[0-3].nc"), parts[2], str(folder / "part-0[56].nc")]
    res, out, anom = run_split(given, tmp_path, 3, "0.003")
    assert "from 7 files" in res.stdout
    want_stats, want_anom = single("float-land-desc", 3, "0.003")
    assert_same(outputs(out), want_stats)
    assert_same(outputs(anom), want_anom)
    res, out, _ = run_split([str(folder / "*.nc")], tmp_path, 2, "128", "--overwrite")
    assert_same(outputs(out), single("float-land-desc", 2, "128")[0])


def _repack(scale, offset):
    """A recode for copy_nc: int16 packed with float64 ``scale`` and ``offset``."""
    def recode(attrs, raw):
        values = np.where(raw == attrs["_FillValue"], np.nan, raw).astype(np.float64)
        attrs = dict(attrs, _FillValue=np.int16(-32767), scale_factor=np.float64(scale),
                     add_offset=np.float64(offset))
        packed = np.where(np.isnan(values), -32767, np.round((values - offset) / scale))
        return "i2", attrs, packed.astype(np.int16)
    return recode


def _as_float64(attrs, raw):
    """A recode for copy_nc: float64 with missing_value -999 instead of a _FillValue."""
    fill = attrs.pop("_FillValue")
    return "f8", dict(attrs, missing_value=-999.0), np.where(raw == fill, -999.0,
                                                             raw).astype(np.float64)


def test_files_packed_differently_are_decoded_each_with_its_own_attributes(sources,
                                                                          tmp_path):
    """float32 with a fill value, int16 packed with float64 scale/offset, float64 with a
    missing_value: each file's part decoded with its own attributes (float64), then the
    kernels see decoded values; xarray's joining agrees."""
    src = sources["float-land-desc"]
    folder = tmp_path / "in"
    folder.mkdir()
    a = copy_nc(src, str(folder / "a.nc"), slice(0, 15))
    b = copy_nc(src, str(folder / "b.nc"), slice(15, 28), units="days since 2000-05-01",
                recode=_repack(0.0025, 290.0))
    c = copy_nc(src, str(folder / "c.nc"), slice(28, None), recode=_as_float64)
    for nranks in (2, 3):
        out = tmp_path / f"s{nranks}.nc"
        res = run_mpi(nranks, JOB, [c, a, b, str(out), "--percentiles", "5,50,95",
                                    "--chunk-mb", "0.003"], timeout=180)
        assert res.returncode == 0, res.stderr
        compare_with_xarray(out, [a, b, c], [5, 50, 95])


# -- bad input ---------------------------------------------------------------------------
def _bad_inputs(folder, src):
    """The files of the bad-input cases: good halves g1 and g2 of a series, and g2
    changed in one way each."""
    g1 = copy_nc(src, f"{folder}/g1.nc", slice(0, 20))
    g2 = copy_nc(src, f"{folder}/g2.nc", slice(20, None), units="hours since 2000-01-01")

    def attr(var, name, value):
        return lambda ds: ds[var].setncattr(name, value)

    def lat(ds):
        ds["lat"][3] = ds["lat"][3] + 0.5

    def notime(ds):
        for k in ("units", "standard_name", "axis", "calendar"):
            ds["time"].delncattr(k)
    made = {"overlap": copy_nc(src, f"{folder}/overlap.nc", slice(15, 25)),
            "shared-step": copy_nc(src, f"{folder}/shared.nc", slice(19, 30)),
            "grid": copy_nc(src, f"{folder}/grid.nc", slice(20, None), edit=lat),
            "calendar": copy_nc(src, f"{folder}/cal.nc", slice(20, None),
                                edit=attr("time", "calendar", "noleap")),
            "units": copy_nc(src, f"{folder}/units.nc", slice(20, None),
                             edit=attr("tas", "units", "degC")),
            "variable": copy_nc(src, f"{folder}/var.nc", slice(20, None),
                                edit=lambda ds: ds.renameVariable("tas", "tas2")),
            "notime": copy_nc(src, f"{folder}/notime.nc", slice(20, None), edit=notime)}
    lon11 = f"{folder}/lon11.nc"   # one longitude fewer
    with netCDF4.Dataset(g2) as a, netCDF4.Dataset(lon11, "w") as b:
        a.set_auto_maskandscale(False)
        for name, dim in a.dimensions.items():
            b.createDimension(name, len(dim) - (name == "lon"))
        for name, var in a.variables.items():
            attrs = {k: var.getncattr(k) for k in var.ncattrs()}
            out = b.createVariable(name, var.dtype, var.dimensions,
                                   fill_value=attrs.pop("_FillValue", None))
            out.setncatts(attrs)
            out.set_auto_maskandscale(False)
            out[...] = var[..., :11] if "lon" in var.dimensions else var[...]
    made["shape"] = lon11
    return g1, g2, made


BAD = {  # case: (arguments, fragments of the one line; {g1}, {g2}, {x} are file names)
    "overlap": (["{g1}", "{x}", "{g2}"], ["input files '{g1}' and '{x}' overlap in time",
                                         "'{g1}' has steps from 2000-01-01 00:00:00 to "
                                         "2000-07-09 00:00:00, '{x}' from 2000-05-30"]),
    "shared-step": (["{x}", "{g1}"], ["input files '{g1}' and '{x}' overlap in time"]),
    "grid": (["{x}", "{g1}"], ["coordinate 'lat' of input '{x}' differs from '{g1}'",
                               "index 3"]),
    "shape": (["{g1}", "{x}"], ["variable 'tas' has shape (20, 7, 11) in '{x}' but "
                                "(20, 7, 12) in '{g1}'"]),
    "calendar": (["{g1}", "{x}"], ["input '{x}' has calendar 'noleap' but '{g1}' has "
                                   "'standard'"]),
    "units": (["{g1}", "{x}"], ["variable 'tas' has units 'degC' in '{x}' but 'K' in "
                                "'{g1}'"]),
    "variable": (["{x}", "{g1}"], ["input '{x}' has no variable 'tas' (which '{g1}' has)",
                                   "tas2"]),
    "notime": (["{g1}", "{x}"], ["input '{x}' has no time coordinate"]),
    "glob-matches-nothing": (["{g1}", "{dir}/nothing-*.nc"],
                             ["input pattern '{dir}/nothing-*.nc' matches no file"]),
    "given-twice": (["{g1}", "{g2}", "{dir}/./g1.nc"], ["input file '{dir}/./g1.nc' is given "
                                                        "twice (also as '{g1}')"]),
    "glob-and-name": (["{dir}/g*.nc", "{g2}"], ["input file '{g2}' is given twice"]),
}


@pytest.fixture(scope="module")
def bad_files(sources, tmp_path_factory):
    folder = str(tmp_path_factory.mktemp("bad"))
    return folder, _bad_inputs(folder, sources["float-land-desc"])


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_is_one_line_naming_the_file_exit_2_no_output(bad_files, tmp_path, case):
    folder, (g1, g2, made) = bad_files
    args, fragments = BAD[case]
    names = dict(g1=g1, g2=g2, x=made.get(case, ""), dir=folder)
    out = tmp_path / "out.nc"
    res = run_mpi(2 if case != "grid" else 3, JOB,
                  [a.format(**names) for a in args] + [str(out), "--anomalies",
                                                      str(tmp_path / "a.nc")], timeout=120)
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("climate-stats: error:"), res.stderr
    for fragment in fragments:
        assert fragment.format(**names) in lines[0], lines[0]
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("which", ["output", "anomalies"])
def test_an_output_naming_any_input_file_is_refused(bad_files, tmp_path, which):
    """The output checks consider every input file, not only the first (--overwrite
    would otherwise replace the second input with the statistics)."""
    folder, (g1, g2, _) = bad_files
    target = shutil.copy(g2, tmp_path / "g2.nc")
    before = open(target, "rb").read()
    out = str(tmp_path / "out.nc")
    args = [g1, str(target)] + ([str(target)] if which == "output" else
                                [out, "--anomalies", str(target)])
    res = run_mpi(2, JOB, args + ["--overwrite"], timeout=120)
    assert res.returncode == 2, res.stderr
    (line,) = res.stderr.strip().splitlines()
    assert f"is the same file as '{target}'" in line
    assert open(target, "rb").read() == before
    assert sorted(os.listdir(tmp_path)) == ["g2.nc"]


LIMIT = r"""
import os, resource, sys
import clusterkit as ck
comm = ck.world()
mode, files = sys.argv[1], sys.argv[2:]
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
in_use = len(os.listdir("/proc/self/fd"))
if mode == "hard":
    resource.setrlimit(resource.RLIMIT_NOFILE, (in_use + 40, in_use + 40))
else:
    resource.setrlimit(resource.RLIMIT_NOFILE, (in_use + 5, hard))
try:
    with ck.open_dataset(files, comm=comm) as ds:
        steps = ds["tas"].shape[0]
        raised = resource.getrlimit(resource.RLIMIT_NOFILE)[0] - in_use
        ck.rprint(f"opened {len(ds.paths)} files, {steps} steps, soft limit +{raised}",
                  comm=comm)
except ck.InputError as exc:
    ck.rprint(f"refused: {exc}", comm=comm)
"""


def test_the_open_files_limit(sources, tmp_path):
    """Every input stays open: a soft limit too low for them is raised (up to the hard
    limit); a hard limit too low is one clear error on every rank, not EMFILE."""
    parts = split(sources["float-land-desc"], tmp_path / "in", range(0, 40, 4),
                  units=[None] * 10)
    script = tmp_path / "limit.py"
    script.write_text(LIMIT)
    res = run_mpi(2, str(script), ["soft"] + parts, module=False, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("opened 10 files, 40 steps, soft limit +"), res.stdout
    assert int(res.stdout.split("+")[1]) >= 10 + 32     # the files and 32 spare
    res = run_mpi(2, str(script), ["hard"] + parts, module=False, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("refused: 10 input files stay open together, but this "
                                 "process may open only"), res.stdout
    assert "raise the limit" in res.stdout


# -- the benchmark -----------------------------------------------------------------------
def test_multifile_benchmark_tiny(tmp_path):
    """benchmarks/multifile.py on a tiny series: both runs, equal outputs, the JSON."""
    out = tmp_path / "mf.json"
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", "multifile.py"),
                           "--files", "3", "--steps", "4", "--grid", "5,8", "--repeat", "1",
                           "--data", str(tmp_path / "data"), "--out", str(out), "--",
                           "--percentiles", "50"], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(out.read_text())
    assert doc["benchmark"] == "multifile" and doc["files"] == 3 and doc["outputs_equal"]
    assert set(doc["median_s"]) == {"wall_one", "wall_many", "job_one", "job_many"}
    assert "from 3 files" in doc["job_lines"]["many"]
