"""clusterkit.kernels imports only numpy and numba and exports one checked entry per kernel;
its serial/parallel variants do not share a cache."""

import ast
import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

KERNELS_DIR = pathlib.Path(__file__).resolve().parent.parent / "kernels"
ALLOWED_IMPORTS = {"numpy", "numba", "math", "numbers", "operator", "types"}
#: _jit.py hashes the library's own sources into every cached kernel's name;
#: _stencil_radius.py keeps each generated loop once (functools.lru_cache)
EXTRA_IMPORTS = {"_jit.py": {"hashlib", "os"}, "__init__.py": {"importlib"},
                 "_stencil_radius.py": {"functools"}}


def run_fresh(code, env=None):
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_import_leaves_mpi4py_and_h5py_out():
    out = run_fresh(
        "import sys, json\n"
        "import numpy, numba\n"
        "before = set(sys.modules)\n"
        "import clusterkit.kernels as k\n"
        "new = sorted(set(sys.modules) - before)\n"
        "print(json.dumps({'new': new, 'all': k.__all__,\n"
        "                  'bad': [m for m in ('mpi4py', 'h5py') if m in sys.modules]}))\n")
    info = json.loads(out)
    assert info["bad"] == []
    foreign = [m for m in info["new"]
               if m.split(".")[0] not in sys.stdlib_module_names
               and m != "clusterkit" and not m.startswith("clusterkit.kernels")
               and m.split(".")[0] not in ("numpy", "numba", "llvmlite")]
    assert foreign == []
    assert not any(m.startswith("clusterkit.") and not m.startswith("clusterkit.kernels")
                   for m in info["new"])
    assert {"star_stencil", "box_stencil", "diffusion_step", "axis_sums", "local_moments",
            "local_sum_exact", "stream_triad", "exact_sum_value"} <= set(info["all"])


def test_names_load_only_their_submodule():
    """The package loads a kernel module on first use of one of its names (start-up cost)."""
    out = run_fresh(
        "import sys, json\n"
        "from clusterkit.kernels import TimeStats, nan_percentiles\n"
        "import clusterkit.kernels as k\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('clusterkit.kernels.'))\n"
        "try:\n"
        "    k.no_such_kernel\n"
        "    missing = 'no error'\n"
        "except AttributeError as e:\n"
        "    missing = str(e)\n"
        "print(json.dumps({'loaded': loaded, 'missing': missing,\n"
        "                  'dir': sorted(set(k.__all__) - set(dir(k)))}))\n")
    info = json.loads(out)
    public = {m for m in info["loaded"] if not m.rsplit(".", 1)[1].startswith("_")}
    assert public == {"clusterkit.kernels.climate", "clusterkit.kernels.percentiles"}
    assert "no_such_kernel" in info["missing"]
    assert info["dir"] == []
    # every exported name is the object its submodule defines
    import importlib

    from clusterkit import kernels
    for name, module in kernels._WHERE.items():
        sub = importlib.import_module(f"clusterkit.kernels.{module}")
        assert getattr(kernels, name) is getattr(sub, name), name


@pytest.mark.parametrize("path", sorted(KERNELS_DIR.glob("*.py")), ids=lambda p: p.name)
def test_module_imports_only_numpy_numba_and_stdlib_helpers(path):
    tree = ast.parse(path.read_text())
    assert ast.get_docstring(tree), f"{path.name} needs a module docstring"
    names = {t.id for node in tree.body if isinstance(node, ast.Assign)
             for t in node.targets if isinstance(t, ast.Name)}
    assert "__all__" in names, f"{path.name} needs an explicit __all__"
    for node in ast.walk(tree):  # also imports hidden inside functions
        if isinstance(node, ast.Import):
            roots = {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level > 0:
                continue  # sibling kernel modules
            roots = {node.module.split(".")[0]}
        else:
            continue
        allowed = ALLOWED_IMPORTS | EXTRA_IMPORTS.get(path.name, set())
        assert roots <= allowed, f"{path.name}: forbidden import {roots}"


def test_public_names_resolve():
    import clusterkit.kernels as k
    for name in k.__all__:
        assert getattr(k, name) is not None


def test_one_checked_entry_per_kernel():
    """The public API (the package's and every public kernel module's ``__all__``) has
    no unchecked variants: ``parallel=`` of the checked entry picks the threads."""
    import importlib

    import clusterkit.kernels as k
    modules = sorted(p.stem for p in KERNELS_DIR.glob("*.py") if not p.stem.startswith("_"))
    exported = {"clusterkit.kernels": k.__all__}
    for m in modules:
        exported[m] = importlib.import_module(f"clusterkit.kernels.{m}").__all__
    unchecked = {m: [n for n in names if n.endswith(("_serial", "_parallel"))
                     or n in ("unchecked", "stencil_kernel")]
                 for m, names in exported.items()}
    assert not any(unchecked.values()), unchecked


@pytest.mark.parametrize("parallel", [False, True], ids=["serial", "parallel"])
def test_unchecked_route_gives_the_checked_entry_numbers(parallel):
    """``module.unchecked(...)`` (the jobs' and benchmarks' hot-loop route) is the
    compiled kernel of the checked entry, variant for variant: the same bits."""
    from clusterkit.kernels import diffusion, stencil, stream

    rng = np.random.default_rng(7)
    b, c = rng.standard_normal(101), rng.standard_normal(101)
    want, got = np.empty(101), np.empty(101)
    stream.stream_triad(want, b, c, 2.5, parallel=parallel)
    stream.unchecked(parallel)(got, b, c, 2.5)
    np.testing.assert_array_equal(got, want)

    u = rng.standard_normal((7, 9))
    cos = np.cos(np.linspace(-1.0, 1.0, 5))
    want, got = np.zeros_like(u), np.zeros_like(u)
    diffusion.diffusion_step(u, want, 0.01, 0.1, 0.2, cos, cos, cos, parallel=parallel)
    diffusion.unchecked(parallel)(u, got, 0.01, 0.1, 0.2, cos, cos, cos)
    np.testing.assert_array_equal(got, want)

    a = rng.standard_normal((11, 13))
    for pattern, checked in (("star", stencil.star_stencil), ("box", stencil.box_stencil)):
        w = stencil.stencil_weights(2, pattern)
        want, got = np.zeros_like(a), np.zeros_like(a)
        checked(a, w, 2, want, parallel=parallel)
        stencil.unchecked(pattern, 2, parallel)(a, w, got)
        np.testing.assert_array_equal(got, want)

    # two variants, compiled separately
    assert stream.unchecked(False) is not stream.unchecked(True)
    assert diffusion.unchecked(False) is not diffusion.unchecked(True)
    assert stencil.unchecked("star", 2, False) is not stencil.unchecked("star", 2, True)


@pytest.mark.skipif(os.environ.get("NUMBA_DISABLE_JIT", "0") not in ("", "0"),
                    reason="needs the JIT")
def test_serial_and_parallel_variants_have_separate_caches(tmp_path):
    # numba keys its cache without the compile options (numba/numba#6845): were the two
    # variants compiled from the same function object, the second would load the first's
    # machine code from the cache. Compile serial first, then parallel, on an empty cache.
    code = (
        "import numpy as np\n"
        "from clusterkit.kernels import stream\n"
        "a, b = np.zeros(8), np.ones(8)\n"
        "serial, parallel = stream.unchecked(False), stream.unchecked(True)\n"
        "serial(a, b, b, 1.0)\n"
        "parallel(a, b, b, 1.0)\n"
        "print(sum(serial.stats.cache_hits.values()),\n"
        "      sum(parallel.stats.cache_hits.values()))\n")
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path), NUMBA_NUM_THREADS="1")
    assert run_fresh(code, env).split() == ["0", "0"]   # parallel did not load serial code
    assert run_fresh(code, env).split() == ["1", "1"]   # and each variant's cache works


def test_importing_the_source_folder_under_another_name_is_refused(tmp_path):
    """``import kernels`` from the source tree would write Numba cache entries naming a
    module that clusterkit jobs cannot import (they then failed at start-up); it is
    refused with one clear message before anything is compiled."""
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import numpy as np\n"
            "import kernels\n"
            "kernels.local_moments(np.arange(4.0))\n")
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path))
    run = subprocess.run([sys.executable, "-c", code, str(KERNELS_DIR.parent)], env=env,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode != 0
    assert "import it as such, not as 'kernels'" in run.stderr.splitlines()[-1]
    assert not any(tmp_path.rglob("*.nbi"))  # nothing was compiled into the cache
