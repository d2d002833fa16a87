"""MPI tests of clusterkit.trace: the table on rank 0 only, the merged trace, imbalance, hooks."""

import io
import json
import os
import shutil
import tempfile
import time

import numpy as np
import pytest

from clusterkit import trace
from clusterkit.testing import assert_all

pytestmark = pytest.mark.mpi


@pytest.fixture(autouse=True)
def fresh_tracer():
    trace.reset()
    yield
    trace.reset()


@pytest.fixture
def shared_dir(comm):
    """A directory every rank knows (made by rank 0); removed afterwards."""
    path = tempfile.mkdtemp(prefix="ck-trace-") if comm.Get_rank() == 0 else None
    path = comm.bcast(path, root=0)
    yield path
    comm.Barrier()
    if comm.Get_rank() == 0:
        shutil.rmtree(path, ignore_errors=True)


def _busy(n):
    return sum(i * i for i in range(n))


def test_table_on_rank0_only_and_statistics_over_ranks(comm):
    rank, size = comm.Get_rank(), comm.Get_size()
    trace.enable(profile=True)
    for _ in range(rank + 1):               # calls differ per rank: 1..size
        with trace.region("work"):
            _busy(2000 * (rank + 1))
    if rank == 0:
        with trace.region("only-rank0"):
            _busy(5000)
    mine = trace.totals()["work"][1] * 1e-9   # this rank's total, before finalize
    totals = comm.allgather(mine)
    out = io.StringIO()
    summary = trace.finalize(comm, file=out)
    text = out.getvalue()
    if rank != 0:
        assert_all(summary is None and text == "", f"rank {rank} printed {text!r}", comm)
        assert_all(True, "", comm)
        return
    work, only = summary["regions"]["work"], summary["regions"]["only-rank0"]
    mean = sum(totals) / size
    ok = (work["total_s"] == pytest.approx(totals, rel=1e-12)
          and work["min_s"] == pytest.approx(min(totals))
          and work["max_s"] == pytest.approx(max(totals))
          and work["mean_s"] == pytest.approx(mean)
          and work["imbalance"] == pytest.approx(max(totals) / mean)
          and work["calls"] == list(range(1, size + 1))
          and only["imbalance"] == pytest.approx(size)       # max / (max / size)
          and only["min_s"] == (0.0 if size > 1 else only["max_s"]))
    assert_all(ok, f"summary {work} / {only} does not match per-rank totals {totals}", comm)
    lines = text.splitlines()
    header = f"clusterkit profile: {size} rank{'s' if size > 1 else ''}"
    row = next((l for l in lines if l.startswith("work ")), "")
    calls = "1" if size == 1 else f"1-{size}"
    assert_all(sum(header in l for l in lines) == 1 and row.split()[1] == calls,
               f"table:\n{text}", comm)


def test_merged_trace_has_every_rank_with_pid_rank(comm, shared_dir):
    rank, size = comm.Get_rank(), comm.Get_size()
    path = os.path.join(shared_dir, "merged.json")
    trace.enable(profile=False, trace_path=path)
    with trace.region(f"rank{rank}.own"):
        _busy(1000)
    for _ in range(rank + 1):
        with trace.region("step"):
            with trace.region("halo.finish"):
                _busy(100)
    # a causal chain: rank 0's region ends, then (50 ms later) every rank starts "after"
    if rank == 0:
        with trace.region("before"):
            _busy(100)
        time.sleep(0.05)
    comm.Barrier()
    with trace.region("after"):
        pass
    trace.finalize(comm, file=io.StringIO())
    doc = comm.bcast(json.load(open(path)) if rank == 0 else None, root=0)
    xs = [e for e in doc["traceEvents"] if e["ph"] == "X"]
    pids = {e["pid"] for e in xs}
    names = {e["pid"]: e["args"]["name"] for e in doc["traceEvents"]
             if e["ph"] == "M" and e["name"] == "process_name"}
    mine = [e for e in xs if e["pid"] == rank]
    counts = {n: sum(e["name"] == n for e in mine) for n in ("step", "halo.finish", "job")}
    own = {e["name"] for e in xs if e["name"].endswith(".own")}
    ok = (pids == set(range(size)) and names == {r: f"rank {r}" for r in range(size)}
          and counts == {"step": rank + 1, "halo.finish": rank + 1, "job": 1}
          and {e["pid"] for e in xs if e["name"] == f"rank{rank}.own"} == {rank}
          and own == {f"rank{r}.own" for r in range(size)}
          and all(e["tid"] == 0 and e["ts"] >= 0 and e["dur"] >= 0 for e in xs))
    assert_all(ok, f"rank {rank}: pids {pids}, names {names}, counts {counts}", comm)
    before = next(e for e in xs if e["name"] == "before")
    after = next(e for e in xs if e["name"] == "after" and e["pid"] == rank)
    assert_all(after["ts"] >= before["ts"] + before["dur"],
               f"clocks not aligned: rank {rank} 'after' at {after['ts']} us starts before "
               f"rank 0's 'before' ends at {before['ts'] + before['dur']} us", comm)
    assert_all(sorted(os.listdir(shared_dir)) == ["merged.json"], "temporary left", comm)


def test_library_regions_are_recorded(comm, shared_dir):
    from clusterkit.grid import Grid
    from clusterkit.io.dataset import Dataset
    from clusterkit.io.ncwrite import NCWriter
    size = comm.Get_size()
    grid = Grid((4 * size, 6), periodic=True, halo=1, comm=comm)
    u = grid.full(1.0)
    trace.enable(profile=False)
    u.exchange_halos()
    total = u.sum()
    u.allgather()
    path = os.path.join(shared_dir, "x.nc")
    with NCWriter(path, comm=comm) as w:
        w.dimension("y", np.arange(grid.shape[0], dtype="f8"))
        w.dimension("x", np.arange(grid.shape[1], dtype="f8"))
        w.variable("u", ("y", "x"))
        w.write("u", u.interior, grid.local_start)
    with Dataset(path, comm) as ds:
        back = ds.read("u", grid.local_slices, decode=False)
    agg = trace.totals()
    calls = {n: a[0] for n, a in agg.items()}
    expected = {"halo.start": 1, "halo.finish": 1, "collective.exact_sum": 1,
                "darray.allgather": 1, "darray.gather": 1, "io.write": 1, "io.close": 1,
                "io.read": 1}
    got = {n: calls.get(n) for n in expected}
    assert_all(got == expected and total == 4.0 * size * 6 and np.all(back == 1.0),
               f"recorded {calls}", comm)
    assert_all(agg["darray.gather"][2] == 0 and agg["darray.allgather"][2] > 0,
               "nested library region counted twice in the breakdown", comm)
    trace.finalize(comm, file=io.StringIO())
    u.halo.free()


def test_finalize_stops_recording_on_every_rank(comm):
    trace.enable(profile=False)
    with trace.region("x"):
        pass
    trace.finalize(comm, file=io.StringIO())
    assert_all(trace.region("y") is trace.region("z") and trace.totals() == {},
               "still recording after finalize", comm)
