"""Several ranks compiling into one fresh Numba cache directory at once leave it usable."""

import json
import os

import pytest

from clusterkit.testing import run_mpi

NRANKS = 4

# Every rank waits at a barrier, then compiles (or loads) the same kernels at the
# same moment, checks their results against NumPy and reports numba's cache stats.
SCRIPT = r'''
import json, os
import numpy as np
from mpi4py import MPI
from clusterkit.kernels import diffusion, stencil, stencil_weights, stream

comm = MPI.COMM_WORLD
rng = np.random.default_rng(comm.Get_rank())
ok = {}
comm.Barrier()

star_serial = stencil.unchecked("star", 2)
a = rng.random((9, 11)); out = np.zeros_like(a); w = stencil_weights(2, "star")
star_serial(a, w, out)
want = np.zeros_like(a)
for di, dj in zip(*np.nonzero(w)):
    want[2:-2, 2:-2] += w[di, dj] * a[di:di + 5, dj:dj + 7]
ok["star serial"] = bool(np.allclose(out, want, rtol=1e-13, atol=1e-14))

diffusion_serial = diffusion.unchecked()
u = rng.random((6, 8)); v = np.zeros_like(u); c = np.full(4, 0.5)
diffusion_serial(u, v, 1e-3, 0.1, 0.1, c, c, c)
x = u[1:-1, 1:-1]
lap = (0.1 * (u[2:, 1:-1] - x) - 0.1 * (x - u[:-2, 1:-1])
       + 0.4 * ((u[1:-1, 2:] - x) - (x - u[1:-1, :-2])))
ok["diffusion serial"] = bool(np.allclose(v[1:-1, 1:-1], x + lap, rtol=1e-13, atol=1e-14))

triad_serial, triad_parallel = stream.unchecked(False), stream.unchecked(True)
for kern in (triad_serial, triad_parallel):
    b, cc = rng.random(1000), rng.random(1000); t = np.empty(1000)
    kern(t, b, cc, 3.0)
    ok[kern.py_func.__qualname__] = bool(np.array_equal(t, b + 3.0 * cc))

stats = {}
for d in (star_serial, diffusion_serial, triad_serial, triad_parallel):
    stats[d.py_func.__qualname__] = [sum(d.stats.cache_hits.values()),
                                     sum(d.stats.cache_misses.values())]
every = comm.gather({"ok": ok, "stats": stats}, root=0)
if comm.Get_rank() == 0:
    print(json.dumps(every))
'''


def _run(script, cache_dir):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache_dir), NUMBA_NUM_THREADS="1")
    res = run_mpi(NRANKS, str(script), module=False, env=env, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
    return json.loads(res.stdout.strip().splitlines()[-1])


def _cache_files(cache_dir):
    """``{file name: modification time (ns)}`` of every file under ``cache_dir``."""
    return {p.name: p.stat().st_mtime_ns for p in cache_dir.rglob("*") if p.is_file()}


@pytest.mark.skipif(os.environ.get("NUMBA_DISABLE_JIT", "0") not in ("", "0"),
                    reason="nothing is compiled or cached with NUMBA_DISABLE_JIT")
@pytest.mark.timeout(300)
def test_ranks_compiling_into_one_fresh_cache_then_loading_from_it(tmp_path):
    script = tmp_path / "compile_kernels.py"
    script.write_text(SCRIPT)
    cache = tmp_path / "numba-cache"
    cache.mkdir()

    first = _run(script, cache)
    assert len(first) == NRANKS
    for rank, report in enumerate(first):
        assert all(report["ok"].values()), (rank, report)
    # every rank compiled, or loaded what another rank had just written
    assert all(sum(s) >= 1 for r in first for s in r["stats"].values()), first
    files = _cache_files(cache)
    for name in ("star_r2_body__serial", "diffusion_body__serial", "triad_body__serial",
                 "triad_body__parallel"):
        assert any(name in f and f.endswith(".nbi") for f in files), (name, files)
        assert any(name in f and f.endswith(".nbc") for f in files), (name, files)
    assert not [f for f in files if not f.endswith((".nbi", ".nbc"))], files  # no temporaries

    second = _run(script, cache)
    for rank, report in enumerate(second):
        assert all(report["ok"].values()), (rank, report)
        for kernel, (hits, misses) in report["stats"].items():
            assert (hits, misses) == (1, 0), (rank, kernel, report["stats"])
    assert _cache_files(cache) == files  # nothing was recompiled or rewritten (same mtimes)


def test_library_stamp_changes_with_any_kernel_source(tmp_path):
    """Numba revalidates a cached kernel only against its own file; the stamp in every
    kernel's name makes a change to a helper module recompile its callers too."""
    import shutil

    from clusterkit.kernels import _jit
    from clusterkit.kernels.reductions import local_moments  # noqa: F401 (compiled name)
    src = os.path.dirname(_jit.__file__)
    copy = tmp_path / "kernels"
    shutil.copytree(src, copy, ignore=shutil.ignore_patterns("__pycache__"))
    assert _jit.library_stamp(str(copy)) == _jit.STAMP
    helper = copy / "_flat.py"
    helper.write_text(helper.read_text() + "\n# a change in a helper module\n")
    assert _jit.library_stamp(str(copy)) != _jit.STAMP
    from clusterkit.kernels import climate
    assert climate._ACCUMULATE[0].py_func.__qualname__.endswith(_jit.STAMP)
