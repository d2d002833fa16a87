"""``clusterkit make-dataset`` written by several ranks at once is the file one process writes,
including chunked gzip-compressed and int16-packed variables (collective filtered writes);
temporaries that killed runs left beside the output are removed by the next run."""

import os
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest

from clusterkit.io.temporaries import temporary_name
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


def test_stale_temporaries_of_the_output_are_removed(tmp_path):
    """A killed job leaves its hidden ``.OUT.tmp-HOST-PID-TOKEN``; the next run of the same
    output deletes those of writers that are gone (this host: the process no longer
    exists; another host or the old name: untouched for more than a day), nothing else."""
    name = os.path.basename(temporary_name("data.nc"))
    host = name[len(".data.nc.tmp-"):].rsplit("-", 2)[0]
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    alive = os.getpid()
    files = {   # name: (days since last modified, removed?)
        f".data.nc.tmp-{host}-{gone.pid}-0123abcd": (0, True),
        f".data.nc.tmp-{host}-{alive}-0123abce": (3, False),
        ".data.nc.tmp-far.away-12345-0123abcf": (0, False),
        ".data.nc.tmp-far.away-12346-0123abd0": (3, True),
        ".data.nc.tmp-89abcdef": (3, True),
        ".data.nc.tmp-89abcdee": (0, False),
        f".other.nc.tmp-{host}-{gone.pid}-0123abd1": (3, False),
        f"data.nc.tmp-{host}-{gone.pid}-0123abd2": (3, False),
        f".data.nc.tmp-{host}-{gone.pid}-not-a-token": (3, False),
        "notes.txt": (3, False),
    }
    now = time.time()
    for entry, (days, _) in files.items():
        (tmp_path / entry).write_text("left behind")
        os.utime(tmp_path / entry, (now - days * 86400, now - days * 86400))
    res = subprocess.run([sys.executable, "-m", "clusterkit.cli.main", "make-dataset",
                          str(tmp_path / "data.nc"), "--shape", "4,3,5"],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    kept = {e for e, (_, removed) in files.items() if not removed}
    assert set(os.listdir(tmp_path)) == kept | {"data.nc"}
