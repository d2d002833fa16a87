"""``import clusterkit as ck``: the front door's names, loaded on first use."""

import subprocess
import sys


def test_import_clusterkit_loads_neither_mpi_nor_hdf5():
    code = ("import sys, clusterkit as ck\n"
            "before = [m for m in ('mpi4py', 'h5py') if m in sys.modules]\n"
            "names = [n for n in ck.__all__ if n != '__version__']\n"
            "from clusterkit import Grid, open_dataset\n"
            "print(before, sorted(names), all(getattr(ck, n) for n in names))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, check=True).stdout.split("\n")[0]
    assert out.startswith("[] [")
    for name in ("Grid", "DistArray", "open_dataset", "run_job", "rprint", "region", "traced",
                 "check", "world"):
        assert f"'{name}'" in out
    assert out.endswith("True")
