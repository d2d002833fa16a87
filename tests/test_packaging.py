"""Serial tests of the package layout: namespaces, import side effects, the environment."""

import os
import subprocess
import sys

import pytest


def _modules_after(statement):
    code = f"import sys; {statement}; print(' '.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd="/")
    return set(out.stdout.split())


@pytest.mark.parametrize("statement", ["import clusterkit", "import clusterkit.kernels",
                                       "import clusterkit.partition",
                                       "import clusterkit.jobs"])
def test_import_does_not_initialise_mpi_or_hdf5(statement):
    mods = _modules_after(statement)
    assert "mpi4py" not in mods and "h5py" not in mods, statement


def test_kernels_and_jobs_live_under_the_clusterkit_namespace():
    import clusterkit.jobs
    import clusterkit.kernels
    assert clusterkit.kernels.__name__ == "clusterkit.kernels"
    assert os.path.basename(os.path.dirname(clusterkit.kernels.__file__)) == "kernels"
    assert os.path.basename(os.path.dirname(clusterkit.jobs.__file__)) == "jobs"
    # no generic top-level names leak into site-packages
    for generic in ("kernels", "jobs"):
        code = f"import importlib.util as u; print(u.find_spec({generic!r}) is None)"
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             check=True, cwd="/")
        assert out.stdout.strip() == "True", f"top-level {generic!r} is importable"


def test_h5py_is_parallel():
    if os.environ.get("CLUSTERKIT_ALLOW_SERIAL_H5PY"):
        pytest.skip("CLUSTERKIT_ALLOW_SERIAL_H5PY is set")
    import h5py
    assert h5py.get_config().mpi, "h5py was built without MPI: rerun tools/setup-env.sh"


def test_mpi4py_uses_the_system_mpi_it_was_built_against():
    code = ("import mpi4py; mpi4py.rc.initialize = False; from mpi4py import MPI; "
            "print(open('/proc/self/maps').read())")
    maps = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout
    assert "libmpi.so" in maps


def test_regular_wheel_installs_kernels_and_jobs_under_clusterkit(tmp_path):
    import zipfile
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(tmp_path), repo], check=True, capture_output=True,
                   timeout=300)
    (wheel,) = tmp_path.glob("clusterkit-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "clusterkit/kernels/__init__.py" in names
    assert "clusterkit/jobs/demo.py" in names
    assert not any(n.startswith(("kernels/", "jobs/", "tests/")) for n in names), names
    entry = next(n for n in names if n.endswith("entry_points.txt"))
    assert "clusterkit = clusterkit.cli.main:main" in zipfile.ZipFile(wheel).read(entry).decode()
