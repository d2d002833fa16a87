"""Serial tests of clusterkit.trace: regions, nesting, decorator, off mode, Chrome trace schema."""

import inspect
import io
import json
import os
import platform
import subprocess
import sys

import numpy as np
import pytest

from clusterkit import trace


@pytest.fixture(autouse=True)
def fresh_tracer():
    trace.reset()
    yield
    trace.reset()


def _busy(n=2000):
    return sum(i * i for i in range(n))


def _self_comm():
    from mpi4py import MPI
    return MPI.COMM_SELF


def _check_chrome(doc, ranks):
    """Validate a Chrome trace-event document as Perfetto/chrome://tracing read it."""
    assert set(doc) >= {"traceEvents"}
    events = doc["traceEvents"]
    assert isinstance(events, list) and events
    names = {}
    for e in events:
        assert e["ph"] in ("X", "M"), e
        assert isinstance(e["name"], str) and e["name"]
        assert isinstance(e["pid"], int) and isinstance(e["tid"], int) and e["tid"] == 0
        if e["ph"] == "X":
            assert isinstance(e["ts"], (int, float)) and isinstance(e["dur"], (int, float))
            assert e["ts"] >= 0 and e["dur"] >= 0
        elif e["name"] == "process_name":
            names[e["pid"]] = e["args"]["name"]
    assert names == {r: f"rank {r}" for r in range(ranks)}
    # complete events of one thread must nest properly (no partial overlap)
    for pid in range(ranks):
        xs = sorted((e["ts"], -e["dur"], e["dur"]) for e in events
                    if e["ph"] == "X" and e["pid"] == pid)
        stack = []
        for ts, _, dur in xs:
            while stack and ts >= stack[-1] - 1e-3:
                stack.pop()
            if stack:
                assert ts + dur <= stack[-1] + 1e-3, "overlapping, not nested, events"
            stack.append(ts + dur)


# -- off mode ---------------------------------------------------------------------------
def test_off_region_is_one_shared_noop_and_records_nothing():
    assert trace.configure(env={}) is False
    a, b = trace.region("a"), trace.region("b")
    assert a is b                           # nothing allocated per call
    with a:
        with trace.region("c"):
            _busy(10)
    assert trace.totals() == {} and trace._events == []
    assert trace.is_enabled() is False


def test_off_environment_is_read_once(monkeypatch):
    monkeypatch.delenv("CLUSTERKIT_PROFILE", raising=False)
    monkeypatch.delenv("CLUSTERKIT_TRACE", raising=False)
    monkeypatch.delenv("CLUSTERKIT_PROFILE_JSON", raising=False)
    first = trace.region("x")               # first use reads the environment: off
    monkeypatch.setenv("CLUSTERKIT_PROFILE", "1")
    assert trace.region("y") is first       # not re-read on the hot path
    trace.reset()
    assert trace.region("z") is not first   # a fresh start reads it: on
    assert trace.is_enabled()


@pytest.mark.parametrize("value, on", [("1", True), ("yes", True), ("0", False),
                                       ("", False), ("off", False)])
def test_profile_variable_values(value, on):
    assert trace.configure(env={"CLUSTERKIT_PROFILE": value}) is on


def test_traced_keeps_signature_and_behaviour_when_off():
    calls = []

    @trace.traced("f")
    def f(x, y=2, *, z=3):
        """Doc of f."""
        calls.append((x, y, z))
        return x + y + z

    trace.configure(env={})
    assert f(1) == 6 and f(1, 5, z=0) == 6 and f(x=1, y=1, z=1) == 3
    assert calls == [(1, 2, 3), (1, 5, 0), (1, 1, 1)]
    assert f.__doc__ == "Doc of f." and f.__name__ == "f"
    assert str(inspect.signature(f)) == "(x, y=2, *, z=3)"
    with pytest.raises(TypeError):
        f()
    assert trace.totals() == {}


def test_library_hooks_are_in_place():
    from clusterkit import collectives
    from clusterkit.darray import DistArray
    from clusterkit.halo import HaloExchange
    from clusterkit.io.dataset import Dataset
    from clusterkit.io.ncwrite import NCWriter
    hooked = [HaloExchange.start, HaloExchange.finish, DistArray.gather, DistArray.allgather,
              DistArray.redistribute, Dataset.read, NCWriter.write, NCWriter.close] + \
        [getattr(collectives, n) for n in ("allreduce_scalar", "exact_sum", "reduce_sum",
                                           "reduce_minmax", "reduce_moments", "reduce_argext")]
    for fn in hooked:
        assert hasattr(fn, "__wrapped__"), fn
        assert inspect.signature(fn) == inspect.signature(fn.__wrapped__)


# -- on ------------------------------------------------------------------------------------
def test_environment_switches_on_at_first_use(monkeypatch, tmp_path):
    monkeypatch.setenv("CLUSTERKIT_TRACE", str(tmp_path / "t.json"))
    with trace.region("x"):
        pass
    assert trace.totals()["x"][0] == 1 and len(trace._events) == 1


def test_nested_regions_record_intervals():
    trace.enable(profile=False, trace_path=os.devnull)
    with trace.region("outer"):
        _busy()
        with trace.region("inner"):
            _busy()
        with trace.region("inner"):
            _busy()
    with trace.region("outer"):
        pass
    totals = trace.totals()
    ev = {}
    for name, start, end in trace._events:
        ev.setdefault(name, []).append((start, end))
    (o_start, o_end), (o2_start, _) = ev["outer"]
    (a_start, a_end), (b_start, b_end) = ev["inner"]
    assert o_start <= a_start <= a_end <= b_start <= b_end <= o_end <= o2_start
    assert totals["inner"][0] == 2 and totals["outer"][0] == 2
    assert totals["inner"][1] == (a_end - a_start) + (b_end - b_start)
    assert totals["outer"][1] >= totals["inner"][1]


def test_decorator_records_and_closes_on_exceptions():
    @trace.traced("g")
    def g(fail):
        if fail:
            raise KeyError("boom")
        return 7

    @trace.traced
    def bare():
        return 1

    trace.enable(profile=False)
    assert g(False) == 7
    with pytest.raises(KeyError):
        g(True)
    assert bare() == 1
    totals = trace.totals()
    assert totals["g"][0] == 2 and trace._open == [] and trace._open_lib == 0
    assert any(name.endswith("bare") for name in totals)


def test_breakdown_counts_the_outermost_library_region_only():
    trace.enable(profile=False)
    with trace.region("user.step"):
        with trace.region("collective.reduce_sum"):
            with trace.region("darray.gather"):
                _busy()
        with trace.region("halo.finish"):
            _busy()
    agg = trace.totals()
    assert trace._open_lib == 0 and trace._open == []
    assert agg["darray.gather"][2] == 0                       # inside another library region
    assert agg["collective.reduce_sum"][2] == agg["collective.reduce_sum"][1] > 0
    assert agg["halo.finish"][2] == agg["halo.finish"][1] > 0  # user regions do not count
    assert agg["user.step"][2] == 0
    assert [trace.category(n) for n in ("halo.x", "io.read", "collective.y", "darray.z",
                                        "compute", "jit", "jitter")] == \
        ["halo", "io", "other", "other", None, "jit", None]


def test_events_beyond_max_events_are_counted_not_kept(monkeypatch, tmp_path):
    monkeypatch.setattr(trace, "MAX_EVENTS", 4)
    trace.enable(profile=True, trace_path=str(tmp_path / "t.json"))
    for i in range(10):
        with trace.region("halo.x" if i % 2 else "user"):
            pass
    totals = trace.totals()
    assert totals == {"user": (5, totals["user"][1], 0),
                      "halo.x": (5, totals["halo.x"][1], totals["halo.x"][1])}
    assert len(trace._events) == 4 and trace._dropped == 6
    out = io.StringIO()
    trace.finalize(_self_comm(), file=out)
    assert "trace: 6 events beyond 4 per rank were not kept" in out.getvalue()
    doc = json.loads((tmp_path / "t.json").read_text())
    assert sum(e["ph"] == "X" and e["name"] != "job" for e in doc["traceEvents"]) == 4


def test_same_name_nests_in_itself_and_open_regions_are_not_counted():
    trace.enable(profile=False, trace_path=os.devnull)

    @trace.traced("halo.rec")
    def rec(n):
        return 0 if n == 0 else 1 + rec(n - 1)

    r = trace.region("user")
    assert trace.region("user") is r                   # one cached object per name
    with r:
        with r:                                        # re-entrant
            assert rec(3) == 3
            assert "user" not in trace.totals()        # both still open
        assert trace.totals()["user"][0] == 1          # the inner one closed
    totals = trace.totals()
    assert totals["user"][0] == 2 and totals["halo.rec"][0] == 4
    assert trace._open == [] and trace._open_lib == 0
    ev = {}
    for name, start, end in trace._events:
        ev.setdefault(name, []).append((start, end))
    (u_in, u_in_end), (u_out, u_out_end) = ev["user"]
    assert u_out <= u_in <= u_in_end <= u_out_end
    outer = max(ev["halo.rec"], key=lambda e: e[1] - e[0])   # the outermost call only counts
    assert totals["halo.rec"][2] == outer[1] - outer[0] < totals["halo.rec"][1]


def test_a_region_closed_after_reset_is_ignored():
    trace.enable(profile=False)
    r = trace.region("a")
    r.__enter__()
    trace.reset()
    trace.enable(profile=False)
    r.__exit__(None, None, None)                       # its opening was forgotten
    with trace.region("b"):
        pass
    totals = trace.totals()
    assert totals == {"b": (1, totals["b"][1], 0)} and trace._open == []


def test_enable_rejects_unwritable_outputs(tmp_path):
    with pytest.raises(ValueError, match="does not exist or is not writable"):
        trace.enable(trace_path=str(tmp_path / "missing" / "t.json"))
    with pytest.raises(ValueError, match="is a directory"):
        trace.enable(profile_json=str(tmp_path))
    assert trace._on is False


# -- finalize ------------------------------------------------------------------------------
def test_finalize_off_communicates_nothing():
    class NoComm:
        def __getattr__(self, name):
            raise AssertionError(f"finalize used comm.{name} while tracing was off")

    trace.configure(env={})
    assert trace.finalize(NoComm()) is None


def test_finalize_writes_table_trace_and_json(tmp_path):
    path, jpath = tmp_path / "trace.json", tmp_path / "profile.json"
    trace.enable(profile=True, trace_path=str(path), profile_json=str(jpath))
    for _ in range(3):
        with trace.region("step"):
            with trace.region("halo.start"):
                _busy(100)
            with trace.region("io.write"):
                _busy(100)
    out = io.StringIO()
    summary = trace.finalize(_self_comm(), file=out)
    text = out.getvalue()
    assert "clusterkit profile: 1 rank, wall time" in text
    row = next(line for line in text.splitlines() if line.startswith("halo.start"))
    assert row.split()[1] == "3"                          # calls
    assert float(row.split()[5]) == pytest.approx(1.0)    # imbalance on one rank
    doc = json.loads(path.read_text())
    _check_chrome(doc, 1)
    xs = [e for e in doc["traceEvents"] if e["ph"] == "X"]
    assert sorted(e["name"] for e in xs) == sorted(["job"] + ["step", "halo.start",
                                                               "io.write"] * 3)
    assert {e["cat"] for e in xs} == {"job", "user", "halo", "io"}
    prof = json.loads(jpath.read_text())
    assert prof["format"] == trace.PROFILE_FORMAT and prof["ranks"] == 1
    assert prof["regions"]["step"]["calls"] == [3]
    assert summary["regions"]["io.write"]["total_s"] == prof["regions"]["io.write"]["total_s"]
    b = prof["breakdown_s"]
    assert list(b) == ["compute", "jit", "halo", "io", "other"] and b["jit"] == 0.0
    assert sum(b.values()) == pytest.approx(prof["wall_s"])
    # which machine produced it (under Slurm, bench --slurm reports the compute node from this)
    assert prof["hosts"] == [platform.node()] and prof["node"]["hostname"] == platform.node()
    assert prof["node"]["cpu_count"] == os.cpu_count() and "cpu_model" in prof["node"]
    assert sorted(os.listdir(tmp_path)) == ["profile.json", "trace.json"]  # no temporaries
    assert not trace.is_enabled()                         # finalize ends the recording


def test_finalize_reports_an_unwritable_trace_without_failing(tmp_path, capsys):
    sub = tmp_path / "gone"
    sub.mkdir()
    trace.enable(profile=False, trace_path=str(sub / "t.json"))
    with trace.region("a"):
        pass
    sub.rmdir()
    summary = trace.finalize(_self_comm(), file=io.StringIO())
    assert summary["regions"]["a"]["calls"] == [1]
    err = capsys.readouterr().err
    assert "could not write the trace" in err and len(err.strip().splitlines()) == 1


def test_clock_alignment_and_statistics_of_synthetic_ranks():
    # times are relative to each rank's reading after the common barrier (ns)
    ev = lambda rows: np.array(rows, dtype=np.int64)  # noqa: E731 - (name id, start, dur)
    parts = [
        {"t0": -10_000_000, "names": ["work", "halo.finish"], "calls": [1, 2],
         "total": [6_000_000, 1_000_000], "top": [0, 1_000_000], "dropped": 0,
         "events": ev([[0, -9_000_000, 6_000_000], [1, -2_000_000, 500_000],
                       [1, -1_000_000, 500_000]])},
        {"t0": -8_000_000, "names": ["work"], "calls": [1], "total": [2_000_000],
         "top": [0], "dropped": 0, "events": ev([[0, -7_000_000, 2_000_000]])},
    ]
    s = trace._summarise(parts)
    assert s["wall_s"] == pytest.approx(0.010)
    w = s["regions"]["work"]
    assert (w["min_s"], w["mean_s"], w["max_s"]) == pytest.approx((0.002, 0.004, 0.006))
    assert w["imbalance"] == pytest.approx(1.5) and w["pct_wall"] == pytest.approx(40.0)
    h = s["regions"]["halo.finish"]
    assert h["calls"] == [2, 0] and h["imbalance"] == pytest.approx(2.0)
    assert s["breakdown_s"]["halo"] == pytest.approx(0.0005)
    doc = trace.chrome_trace(parts)
    _check_chrome(doc, 2)
    x = {(e["pid"], e["name"]): e for e in doc["traceEvents"] if e["ph"] == "X"}
    assert x[(0, "job")]["ts"] == 0 and x[(1, "job")]["ts"] == pytest.approx(2000.0)
    assert x[(0, "work")]["ts"] == pytest.approx(1000.0)   # µs from the first start
    assert x[(1, "work")]["ts"] == pytest.approx(3000.0)
    assert x[(1, "work")]["dur"] == pytest.approx(2000.0)
    assert "imbal" in trace.format_table(s)


# -- through the command line ----------------------------------------------------------------
def test_run_dry_run_exports_the_variables(tmp_path):
    from clusterkit.cli.main import main
    out = subprocess.run([sys.executable, "-m", "clusterkit.cli.main", "run", "--dry-run",
                          "--profile", "--trace", "t.json", "-n", "2", "demo"],
                         capture_output=True, text=True, cwd=tmp_path, timeout=60)
    line = out.stdout.strip()
    assert out.returncode == 0, out.stderr
    assert f"CLUSTERKIT_TRACE={tmp_path / 't.json'}" in line    # absolute
    assert "CLUSTERKIT_PROFILE=1" in line
    assert "-x CLUSTERKIT_PROFILE -x CLUSTERKIT_TRACE" in line
    assert main(["run", "--trace", str(tmp_path / "no" / "t.json"), "demo"]) == 2


def test_mpirun_command_exports_for_both_flavours():
    from clusterkit.launch import mpirun_command, trace_exports
    env = {"CLUSTERKIT_PROFILE": "1", "CLUSTERKIT_TRACE": "", "CLUSTERKIT_PROFILE_JSON": "/p"}
    names = trace_exports(env)
    assert names == ("CLUSTERKIT_PROFILE", "CLUSTERKIT_PROFILE_JSON")
    ompi = mpirun_command(2, "m", cores=2, python="py", export=names)
    assert ompi[ompi.index("-x") + 2:ompi.index("py")] == [
        "-x", "CLUSTERKIT_PROFILE", "-x", "CLUSTERKIT_PROFILE_JSON"]
    mpich = mpirun_command(2, "m", cores=2, python="py", flavour="mpich", export=names)
    assert "NUMBA_NUM_THREADS,CLUSTERKIT_PROFILE,CLUSTERKIT_PROFILE_JSON" in mpich


def test_clusterkit_run_profile_and_trace_two_ranks(tmp_path):
    path = tmp_path / "diffusion-trace.json"
    proc = subprocess.run([sys.executable, "-m", "clusterkit.cli.main", "run", "-n", "2",
                           "--profile", "--trace", str(path), "diffusion", "--shape", "19,36",
                           "--steps", "4", "--every", "2"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("clusterkit profile: 2 ranks") == 1       # rank 0 only
    table = proc.stdout.split("clusterkit profile:")[1]
    for name in ("halo.start", "halo.finish", "collective.reduce_sum"):
        assert f"\n{name} " in table
    halo_row = next(line for line in table.splitlines() if line.startswith("halo.start"))
    assert halo_row.split()[1] == "4"                   # one exchange per step, every rank
    doc = json.loads(path.read_text())
    _check_chrome(doc, 2)
    per_rank = {r: [e["name"] for e in doc["traceEvents"] if e["ph"] == "X" and e["pid"] == r]
                for r in (0, 1)}
    for r in (0, 1):
        assert per_rank[r].count("halo.start") == 4 and per_rank[r].count("job") == 1
    assert [p for p in os.listdir(tmp_path)] == ["diffusion-trace.json"]
