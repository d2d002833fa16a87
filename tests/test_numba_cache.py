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


# -------------------------------------------------------------------- concurrent writers
# One cached function; process r compiles it for DTYPES[r] into one cache directory. A
# test hook (methods of Numba's IndexDataCacheFile wrapped in this script, which
# clusterkit's key-named files inherit) forces the interleaving that Numba's own numbering
# loses: every process reads the function's index before any writes it (a barrier after
# each index read), the index is written in rank order 0, 1, 2, and data files in the
# reverse order 2, 1, 0. Numba's save (index, then data file) makes all three take
# NAME.1.nbc: the index ends with rank 2's entry only, the data file with rank 0's machine
# code. The ordering is by marker files in SYNC, not by sleeps. The kernel squares (a sum
# would not show it: float code adding small integers' bit patterns, denormals, is exact).
RACE_MODULE = '''
from clusterkit.kernels._jit import njit_cached


def square_body(a, out):
    for i in range(a.size):
        out[i] = a[i] * a[i]


square = njit_cached(square_body)
'''

RACE_WRITER = r'''
import pathlib, sys, time
import numpy as np
from numba.core import caching

rank, nranks, sync = int(sys.argv[1]), int(sys.argv[2]), pathlib.Path(sys.argv[3])
DTYPES = sys.argv[4].split(",")


def mark(name):
    (sync / name).touch()


def wait(name):
    deadline = time.monotonic() + 60
    while not (sync / name).exists():
        if time.monotonic() > deadline:
            sys.exit(f"rank {rank}: no {name} within 60 s")
        time.sleep(0.005)


files = caching.IndexDataCacheFile   # Numba's class (clusterkit's files inherit these)
load_index, save_index, save_data = files._load_index, files._save_index, files._save_data
reads = [0]


def hooked_load_index(self):
    n, reads[0] = reads[0], reads[0] + 1
    out = load_index(self)
    mark(f"read{n}.{rank}")
    for r in range(nranks):
        wait(f"read{n}.{r}")
    return out


def hooked_save_index(self, overloads):
    if rank > 0:
        wait(f"index.{rank - 1}")
    save_index(self, overloads)
    mark(f"index.{rank}")


def hooked_save_data(self, name, data):
    if rank < nranks - 1:
        wait(f"data.{rank + 1}")
    save_data(self, name, data)
    mark(f"data.{rank}")


files._load_index, files._save_index, files._save_data = \
    hooked_load_index, hooked_save_index, hooked_save_data

sys.path.insert(0, str(sync.parent))
from racemod import square

a = np.arange(1, 8).astype(DTYPES[rank])
out = np.zeros_like(a)
square(a, out)
assert np.array_equal(out, a * a), (rank, out)
assert sum(square.stats.cache_misses.values()) == 1, square.stats   # compiled, saved
'''

RACE_READER = r'''
import json, pathlib, sys
import numpy as np
sys.path.insert(0, sys.argv[1])
from racemod import square

report = {}
for dtype in sys.argv[2].split(","):
    a = np.arange(1, 8).astype(dtype)
    out = np.zeros_like(a)
    square(a, out)
    report[dtype] = {"right": bool(np.array_equal(out, a * a)), "got": out.tolist()}
report["hits"] = sum(square.stats.cache_hits.values())
print(json.dumps(report))
'''

DTYPES = ("float64", "int64", "uint64")   # 8-byte elements: foreign code reads no further


@pytest.mark.skipif(os.environ.get("NUMBA_DISABLE_JIT", "0") not in ("", "0"),
                    reason="nothing is compiled or cached with NUMBA_DISABLE_JIT")
@pytest.mark.timeout(300)
def test_processes_saving_different_signatures_at_once_never_mix_up_machine_code(tmp_path):
    import subprocess
    import sys
    (tmp_path / "racemod.py").write_text(RACE_MODULE)
    sync = tmp_path / "sync"
    sync.mkdir()
    (tmp_path / "writer.py").write_text(RACE_WRITER)
    (tmp_path / "reader.py").write_text(RACE_READER)
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"), NUMBA_NUM_THREADS="1")
    env.pop("CLUSTERKIT_NUMBA_CACHE", None)
    writers = [subprocess.Popen([sys.executable, str(tmp_path / "writer.py"), str(r),
                                 str(len(DTYPES)), str(sync), ",".join(DTYPES)], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)
               for r in range(len(DTYPES))]
    try:
        results = [w.communicate(timeout=240) for w in writers]
    finally:
        for w in writers:
            if w.poll() is None:
                os.killpg(w.pid, 9)
                w.wait()
    for r, (w, (out, err)) in enumerate(zip(writers, results)):
        assert w.returncode == 0, (r, out, err)
    # the interleaving really happened: every process read, wrote its index, wrote its data
    marks = {p.name for p in sync.iterdir()}
    assert {f"{what}.{r}" for what in ("index", "data") for r in range(len(DTYPES))} <= marks
    assert {f"read1.{r}" for r in range(len(DTYPES))} <= marks

    run = subprocess.run([sys.executable, str(tmp_path / "reader.py"), str(tmp_path),
                          ",".join(DTYPES)], env=env, capture_output=True, text=True,
                         timeout=240)
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout.strip().splitlines()[-1])
    wrong = {d: report[d]["got"] for d in DTYPES if not report[d]["right"]}
    assert not wrong, f"a fresh process ran another signature's cached machine code: {wrong}"
    assert report["hits"] >= 1, report    # the cache is used (some entries may be redone)


# -------------------------------------------------------------------- the shared cache root
DIR_PROBE = r'''
import json, os
import numpy as np
from clusterkit.kernels import _jit, stream
triad = stream.unchecked(False)
a = np.zeros(8)
triad(a, a, a, 1.0)
print(json.dumps({"dir": os.environ.get("NUMBA_CACHE_DIR"), "key": _jit.cache_key(),
                  "hits": sum(triad.stats.cache_hits.values())}))
'''


def _probe(env):
    import subprocess
    import sys
    env = {k: v for k, v in env.items() if v is not None}
    run = subprocess.run([sys.executable, "-c", DIR_PROBE], env=env, capture_output=True,
                         text=True, timeout=240)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(os.environ.get("NUMBA_DISABLE_JIT", "0") not in ("", "0"),
                    reason="nothing is compiled or cached with NUMBA_DISABLE_JIT")
@pytest.mark.timeout(600)
def test_each_cpu_type_and_numba_version_has_its_own_directory_below_the_shared_root(
        tmp_path):
    """CLUSTERKIT_NUMBA_CACHE (set by the Slurm templates) is a root: each process caches
    in the directory named for what Numba compiles for on its node. A node of another CPU
    type (NUMBA_CPU_NAME stands in for one) gets another directory and loads nothing
    compiled for this one; NUMBA_CACHE_DIR, when set, is used as it is."""
    import llvmlite.binding as llvm
    import numba
    root = tmp_path / "root"
    base = dict(os.environ, CLUSTERKIT_NUMBA_CACHE=str(root), NUMBA_CACHE_DIR=None,
                NUMBA_CPU_NAME=None, NUMBA_CPU_FEATURES=None, NUMBA_NUM_THREADS="1")
    host = _probe(base)
    assert host["dir"] == str(root / host["key"])
    assert host["key"].startswith(llvm.get_host_cpu_name() + "-numba" + numba.__version__)
    assert any((root / host["key"]).rglob("*triad_body__serial*.nbi"))
    assert _probe(base)["hits"] == 1                       # the next process loads it

    other = _probe(dict(base, NUMBA_CPU_NAME="generic"))
    assert other["key"].startswith("generic-numba") and other["dir"] == \
        str(root / other["key"])
    assert other["hits"] == 0                              # compiled for its own CPU
    assert sorted(p.name for p in root.iterdir()) == sorted([host["key"], other["key"]])

    mine = tmp_path / "mine"
    assert _probe(dict(base, NUMBA_CACHE_DIR=str(mine)))["dir"] == str(mine)
    assert any(mine.rglob("*.nbi")) and len(list(root.iterdir())) == 2


def test_every_numba_cache_made_after_the_kernels_import_names_data_files_by_key(tmp_path):
    """Also the implementations Numba compiles for @overload(jit_options={"cache": True})
    (kernels/_flat.py, _prefetch.py), which no decorator of clusterkit's sees."""
    from numba.core import caching

    from clusterkit.kernels import _jit
    assert caching.IndexDataCacheFile is _jit._KeyNamedCacheFile
