"""Numba's compile/cache-load time as the ``jit`` region, and ``ck.warmup``: real Numba."""

import io
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import clusterkit as ck
from clusterkit import trace

pytestmark = pytest.mark.skipif(os.environ.get("NUMBA_DISABLE_JIT", "0") not in ("", "0"),
                                reason="nothing is compiled with NUMBA_DISABLE_JIT")


@pytest.fixture(autouse=True)
def fresh_tracer():
    trace.reset()
    yield
    trace.reset()


def _fresh_kernel():
    """A kernel never compiled before in this process (no cache: every test compiles)."""
    import numba

    @numba.njit(cache=False)
    def double(a, out):
        for i in range(a.shape[0]):
            out[i] = 2.0 * a[i]
    return double


def _self_comm():
    from mpi4py import MPI
    return MPI.COMM_SELF


# -- warmup ------------------------------------------------------------------------------
def test_warmup_compiles_without_running_and_the_loop_then_compiles_nothing():
    kernel = _fresh_kernel()
    a, out = np.arange(5.0), np.zeros(5)
    seconds = ck.warmup(kernel, a, out)
    assert seconds > 0 and len(kernel.signatures) == 1
    assert np.all(out == 0.0)                          # typed, not run
    assert ck.warmup(kernel, a, out) == 0.0            # compiled for these types already
    trace.enable(profile=False)
    with trace.region("loop"):
        for _ in range(3):
            kernel(a, out)
    assert np.array_equal(out, 2.0 * a)
    assert "jit" not in trace.totals() and len(kernel.signatures) == 1


def test_warmup_takes_numba_types_for_arguments():
    import numba
    kernel = _fresh_kernel()
    assert ck.warmup(kernel, numba.float64[::1], numba.float64[::1]) > 0
    trace.enable(profile=False)
    kernel(np.ones(3), np.empty(3))                    # C-contiguous float64: the same code
    assert "jit" not in trace.totals() and len(kernel.signatures) == 1


def _one_line_type_error(fn):
    with pytest.raises(TypeError) as info:
        fn()
    text = str(info.value)
    assert "\n" not in text and text.startswith("warmup: ")
    exc = info.value                                   # no Numba traceback chained to it
    assert exc.__cause__ is None and (exc.__context__ is None or exc.__suppress_context__)
    return text


def test_warmup_rejects_what_is_not_a_kernel_in_one_line():
    def plain(a):
        return a
    text = _one_line_type_error(lambda: ck.warmup(plain, np.ones(2)))
    assert "must be a Numba-compiled function (numba.njit), got function" in text
    assert "plain" in text and "call it once before the timed loop" in text
    text = _one_line_type_error(lambda: ck.warmup(3))
    assert text == "warmup: kernel must be a Numba-compiled function (numba.njit), got 3"


def test_warmup_rejects_wrong_argument_types_in_one_line():
    kernel = _fresh_kernel()
    text = _one_line_type_error(lambda: ck.warmup(kernel, np.ones((2, 2)), np.ones(2)))
    assert text.startswith("warmup: double cannot be compiled for argument types "
                           "(array(float64, 2d, C), array(float64, 1d, C)): ")
    assert "no implementation of" in text and "test_jit.py" in text   # what and where
    text = _one_line_type_error(lambda: ck.warmup(kernel, np.ones(2)))
    assert "1 argument types given, but function takes 2 arguments" in text
    text = _one_line_type_error(lambda: ck.warmup(kernel, object(), np.ones(2)))
    assert "(pyobject, array(float64, 1d, C)): non-precise type pyobject" in text
    text = _one_line_type_error(lambda: ck.warmup(kernel, np.ma.ones(2), np.ones(2)))
    assert text == ("warmup: double: an argument has no Numba type: Unsupported array type: "
                    "numpy.ma.MaskedArray.")
    assert kernel.signatures == []                     # nothing half-compiled


def test_warmup_follows_a_checked_entrys_dispatch_route():
    from clusterkit.kernels._jit import dispatch_route
    variants = {False: _fresh_kernel(), True: _fresh_kernel()}   # serial, "parallel"

    @dispatch_route(lambda a, out, *, parallel=False: (variants[parallel], (a, out)))
    def checked(a, out, *, parallel=False):
        """A checked entry point in front of two kernels."""
        variants[parallel](a, out)
    assert ck.warmup(checked, np.ones(4), np.zeros(4), parallel=True) > 0
    assert len(variants[True].signatures) == 1 and variants[False].signatures == []
    serial = variants[False]
    text = _one_line_type_error(lambda: ck.warmup(serial, np.ones(4), out=np.zeros(4)))
    assert "keyword arguments (out) are for checked kernel entries" in text


# -- the jit region ------------------------------------------------------------------------
def test_jit_is_its_own_region_taken_out_of_the_regions_around_it(tmp_path):
    path, jpath = tmp_path / "t.json", tmp_path / "p.json"
    comm = _self_comm()                                # MPI's start outside the wall time
    trace.enable(profile=True, trace_path=str(path), profile_json=str(jpath))
    kernel = _fresh_kernel()
    a, out = np.arange(1000.0), np.zeros(1000)
    with trace.region("user.step"):
        with trace.region("collective.first"):
            kernel(a, out)                             # compiles here
        for _ in range(3):
            kernel(a, out)
    agg = trace.totals()
    jit_calls, jit_ns, jit_top = agg["jit"]
    assert jit_calls >= 1 and jit_top == jit_ns > 20_000_000    # a compile: > 20 ms
    assert agg["user.step"][1] < jit_ns / 2            # the regions keep their own work only
    assert agg["collective.first"][2] == agg["collective.first"][1] < jit_ns / 2
    ev = {}
    for name, start, end in trace._events:
        ev.setdefault(name, []).append((start, end))
    (s, e), = ev["user.step"]
    assert all(s <= js <= je <= e for js, je in ev["jit"])   # on the timeline: inside
    assert e - s >= jit_ns
    text = io.StringIO()
    summary = trace.finalize(comm, file=text)
    table = text.getvalue()
    row = next(line for line in table.splitlines() if line.startswith("jit "))
    assert float(row.split()[3]) == pytest.approx(jit_ns * 1e-9, rel=1e-3)
    assert "jit = time in Numba's compiler" in table and ", jit " in table
    prof = json.loads(jpath.read_text())
    b = prof["breakdown_s"]
    assert list(b) == ["compute", "jit", "halo", "io", "other"]
    assert b["jit"] == pytest.approx(jit_ns * 1e-9) and b["compute"] < b["jit"]
    assert sum(b.values()) == pytest.approx(prof["wall_s"])
    assert prof["regions"]["jit"]["category"] == "jit" and prof["jit_compiles"] == [1]
    assert summary["regions"]["jit"]["calls"] == [jit_calls]
    doc = json.loads(path.read_text())
    assert {e["cat"] for e in doc["traceEvents"] if e["name"] == "jit"} == {"jit"}


ON_BEFORE_NUMBA = r'''
import sys
from clusterkit import trace
trace.enable(profile=False)
imported = "numba" in sys.modules             # enabling the tracer must not import Numba
import numba                                  # the import hook registers the listeners now


@numba.njit(cache=False)
def f(x):
    return x + 1.0


f(1.0)
print(imported, sorted(trace.totals()))
'''

OFF_THEN_ON = r'''
from clusterkit import trace
trace.configure(env={})
with trace.region("x"):
    import numba
    from numba.core import event
    numba.njit(cache=False)(lambda x: x + 1)(1)
print(len(event._registered["numba:compiler_lock"]), trace.totals())
trace.reset()
trace.enable(profile=False)                   # Numba loaded already: registers at once
numba.njit(cache=False)(lambda x: x + 2)(1)
print(len(event._registered["numba:compiler_lock"]), sorted(trace.totals()))
'''


def _python(code):
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_tracing_sees_compiles_of_numba_imported_after_it_was_switched_on():
    assert _python(ON_BEFORE_NUMBA) == "False ['jit']"


def test_tracing_off_leaves_numba_without_listeners_then_on_sees_its_compiles():
    assert _python(OFF_THEN_ON).splitlines() == ["0 {}", "1 ['jit']"]


# -- clusterkit bench ------------------------------------------------------------------------
def test_bench_breakdown_has_a_jit_bar():
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from clusterkit.bench.plot import scaling_figures
    from clusterkit.bench.sweep import _point_summary
    profiles = [{"regions": {}, "breakdown_s": {"compute": c, "jit": j, "halo": 0.1,
                                                "io": 0.0, "other": 0.05}}
                for c, j in ((1.0, 0.3), (1.2, 0.25), (1.1, 0.35))]
    _, breakdown = _point_summary(profiles)
    assert breakdown == pytest.approx({"compute": 1.1, "jit": 0.3, "halo": 0.1, "io": 0.0,
                                       "other": 0.05})
    old = {"compute": 1.0, "halo": 0.1, "io": 0.0, "other": 0.05}   # from before jit
    points = [{"ranks": r, "job_s": {"median": 1.5, "min": 1.4, "max": 1.6},
               "breakdown_s": b} for r, b in ((1, breakdown), (2, old))]
    figs = dict(scaling_figures([({"mode": "strong", "cores": 2, "job": "diffusion",
                                   "points": points, "machine": {}}, "sweep")]))
    fig = figs["breakdown.png"]
    FigureCanvasAgg(fig).draw()
    ax = fig.axes[0]
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels[:2] == ["compute", "JIT (compile, cache load)"]
    jit_bars = ax.containers[1]                        # stacked on compute
    assert [b.get_height() for b in jit_bars] == pytest.approx([0.3, 0.0])
    assert [b.get_y() for b in jit_bars] == pytest.approx([1.1, 1.0])


@pytest.mark.parametrize("parallel", [False, True])
def test_warmup_takes_clusterkits_checked_kernels(parallel):
    """The public stencil, diffusion and triad entries name their Numba kernel: warmup
    compiles (or loads) it for the call's types and parallel flag, without running it."""
    from clusterkit.kernels import (box_stencil, diffusion_step, star_stencil,
                                    stencil_weights, stream_triad)
    from clusterkit.kernels import diffusion, stencil, stream
    a = np.random.default_rng(0).random((12, 10)).astype("f4")
    out = np.zeros_like(a)
    for entry, pattern in ((star_stencil, "star"), (box_stencil, "box")):
        w = stencil_weights(2, pattern).astype("f4")
        assert ck.warmup(entry, a, w, 2, out, parallel=parallel) >= 0
        assert stencil.unchecked(pattern, 2, parallel).signatures   # compiled, not run
    assert not out.any()
    u, v, cos = np.ones((6, 7)), np.zeros((6, 7)), np.ones(4)
    assert ck.warmup(diffusion_step, u, v, 0.1, 0.1, 0.1, cos, cos, cos,
                     parallel=parallel) >= 0
    assert diffusion.unchecked(parallel).signatures and not v.any()
    x = np.zeros(5)
    assert ck.warmup(stream_triad, x, np.ones(5), np.ones(5), 2.0, parallel=parallel) >= 0
    assert stream.unchecked(parallel).signatures and not x.any()
