"""NetCDF-3 inputs (classic, 64-bit offset, CDF-5) read directly: climate-stats gives
bitwise the same output as on the NetCDF-4 file they were converted from, at 1, 2 and 4
ranks; the library reads the same blocks; a damaged NetCDF-3 file is one clear line."""

import os
import subprocess
import sys

import h5py
import numpy as np
import pytest

from clusterkit.testing import run_mpi

netCDF4 = pytest.importorskip("netCDF4")

FORMATS = ["NETCDF3_CLASSIC", "NETCDF3_64BIT_OFFSET", "NETCDF3_64BIT_DATA"]
OPTIONS = {"float-land-desc": ["--shape", "30,7,12", "--step-days", "12", "--land-mask",
                               "--descending-lat", "--calendar", "noleap"],
           "packed-int16": ["--shape", "25,5,8", "--step-days", "15", "--packed",
                            "--lon180"]}


def _convert(src, dst, fmt):
    """Copy ``src`` to ``dst`` in NetCDF-3 format ``fmt`` (raw values and attributes)."""
    with netCDF4.Dataset(src) as a, netCDF4.Dataset(dst, "w", format=fmt) as b:
        a.set_auto_maskandscale(False)
        b.setncatts({k: a.getncattr(k) for k in a.ncattrs()})
        for name, dim in a.dimensions.items():
            b.createDimension(name, len(dim))
        for name, var in a.variables.items():
            attrs = {k: var.getncattr(k) for k in var.ncattrs()}
            fill = attrs.pop("_FillValue", None)
            out = b.createVariable(name, var.dtype, var.dimensions, fill_value=fill)
            out.setncatts(attrs)
            out.set_auto_maskandscale(False)
            out[...] = var[...]
    return dst


@pytest.fixture(scope="module", params=sorted(OPTIONS))
def files(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp("nc3")
    nc4 = str(folder / "nc4.nc")
    subprocess.run([sys.executable, "-m", "clusterkit.cli.main", "make-dataset", nc4,
                    *OPTIONS[request.param]], check=True, capture_output=True, timeout=120)
    out = {"NETCDF4": nc4}
    for fmt in FORMATS:
        out[fmt] = _convert(nc4, str(folder / f"{fmt.lower()}.nc"), fmt)
    return out


def _outputs(path):
    with h5py.File(path, "r") as f:
        return {k: f[k][...] for k in f if isinstance(f[k], h5py.Dataset)}


@pytest.mark.parametrize("nranks", [1, 2, 4])
def test_climate_stats_on_netcdf3_is_bitwise_the_netcdf4_result(files, tmp_path, nranks):
    results = {}
    for fmt, path in files.items():
        out = str(tmp_path / f"out-{fmt}.nc")
        res = run_mpi(nranks, "clusterkit.jobs.climate_stats",
                      [path, out, "--percentiles", "10,90"], timeout=180)
        assert res.returncode == 0, res.stderr
        results[fmt] = _outputs(out)
    want = results.pop("NETCDF4")
    for fmt, got in results.items():
        assert sorted(got) == sorted(want), fmt
        for name in want:
            np.testing.assert_array_equal(got[name], want[name], err_msg=f"{fmt} {name}")


def test_library_reads_the_same_blocks(files, tmp_path):
    script = tmp_path / "read.py"
    script.write_text(
        "import sys, numpy as np, clusterkit as ck\n"
        "comm = ck.world()\n"
        "blocks = []\n"
        "for path in sys.argv[1:]:\n"
        "    with ck.open_dataset(path, comm=comm) as ds:\n"
        "        var = ds['tas']\n"
        "        u = var.read(ck.Grid(var.shape, comm=comm, keep=(0,)))\n"
        "        blocks.append((u.interior.copy(), var.dims, var.dtype,\n"
        "                       [str(t) for t in var.coords['time']]))\n"
        "ok = all(np.array_equal(b[0], blocks[0][0], equal_nan=True) and b[1:] == blocks[0][1:]\n"
        "         for b in blocks)\n"
        "ok = comm.allreduce(ok, op=min)\n"
        "ck.rprint('same' if ok else 'different', comm=comm)\n")
    res = run_mpi(2, str(script), list(files.values()), module=False, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["same"]


def test_a_damaged_netcdf3_file_is_one_line(tmp_path):
    bad = tmp_path / "bad.nc"
    bad.write_bytes(b"CDF\x02" + b"\xff" * 100)
    res = run_mpi(2, "clusterkit.jobs.climate_stats", [str(bad), str(tmp_path / "o.nc")],
                  timeout=120)
    assert res.returncode == 2
    (line,) = res.stderr.strip().splitlines()
    assert "has a NetCDF-3 signature but does not open" in line
    assert not os.path.exists(tmp_path / "o.nc")
