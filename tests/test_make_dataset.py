"""``clusterkit make-dataset`` written by several ranks at once is the file one process writes,
including chunked gzip-compressed and int16-packed variables (collective filtered writes)."""

import subprocess
import sys

import h5py
import numpy as np
import pytest

from clusterkit.testing import run_mpi

OPTS = {
    "plain": ["--shape", "9,7,10", "--land-mask"],
    "compressed-packed-levels": ["--shape", "11,5,8", "--compress", "--packed", "--levels", "3",
                                 "--calendar", "noleap"],
}


def _contents(path):
    """Every dataset's values and every attribute, by name."""
    out = {}
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                out[name] = (obj[...], obj.compression, obj.chunks,
                             {k: v for k, v in obj.attrs.items()
                              if k not in ("DIMENSION_LIST", "REFERENCE_LIST")})
        f.visititems(visit)
        out["/"] = dict(f.attrs)
    return out


@pytest.mark.parametrize("name", list(OPTS))
def test_parallel_file_equals_serial_file(tmp_path, name):
    serial = str(tmp_path / "serial.nc")
    subprocess.run([sys.executable, "-m", "clusterkit.cli.main", "make-dataset", serial,
                    *OPTS[name]], check=True, capture_output=True, timeout=120)
    want = _contents(serial)
    for nranks in (2, 3):
        path = str(tmp_path / f"n{nranks}.nc")
        res = run_mpi(nranks, "clusterkit.cli.main", ["make-dataset", path, *OPTS[name]],
                      timeout=120)
        assert res.returncode == 0, res.stderr
        got = _contents(path)
        assert got.keys() == want.keys()
        for key, w in want.items():
            if key == "/":
                assert got[key] == w
                continue
            g = got[key]
            np.testing.assert_array_equal(g[0], w[0], err_msg=f"{key} on {nranks} ranks")
            assert g[1:3] == w[1:3], key
            assert g[3].keys() == w[3].keys(), key
            for a in w[3]:
                np.testing.assert_array_equal(g[3][a], w[3][a], err_msg=f"{key}.{a}")
    if "--compress" in OPTS[name]:
        assert want["tas"][1] == "gzip"
