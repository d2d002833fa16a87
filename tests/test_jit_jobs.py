"""Jobs under ``clusterkit run -n 2 --profile`` with a fresh, then a warm Numba cache: the
``jit`` line, ``compute`` without it, and no JIT inside the warmed-up loops (real mpirun)."""

import json
import os
import sys

import pytest

from clusterkit.testing import run_command

pytestmark = pytest.mark.skipif(os.environ.get("NUMBA_DISABLE_JIT", "0") not in ("", "0"),
                                reason="nothing is compiled with NUMBA_DISABLE_JIT")

#: job -> (its arguments, the region around its time loop)
JOBS = {"diffusion": (["diffusion", "--shape", "19,36", "--steps", "4", "--every", "2"],
                      "diffusion.steps"),
        "stencil": (["stencil", "3", "40"], "stencil.iterations")}


def _profiled_run(argv, cache, out, tag):
    """Run a job on 2 ranks with the profile table, JSON and trace; return all three."""
    prof, trace = out / f"{tag}-profile.json", out / f"{tag}-trace.json"
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache), CLUSTERKIT_PROFILE_JSON=str(prof))
    res = run_command([sys.executable, "-m", "clusterkit.cli.main", "run", "-n", "2",
                       "--profile", "--trace", str(trace), *argv], timeout=300, env=env)
    assert res.returncode == 0, res.stdout + res.stderr
    table = res.stdout.split("clusterkit profile:")[1]
    return table, json.loads(prof.read_text()), json.loads(trace.read_text())


def _jit_row(table):
    """``(calls, min, mean, max)`` of the table's ``jit`` line."""
    row = next((line for line in table.splitlines() if line.startswith("jit ")), None)
    assert row is not None, f"no jit line in the table:\n{table}"
    calls, lo, mean, hi = row.split()[1:5]
    return calls, float(lo), float(mean), float(hi)


def _check_loop_has_no_jit(trace, loop):
    """Every rank compiled before its time loop and not inside it."""
    for rank in (0, 1):
        xs = [e for e in trace["traceEvents"] if e["ph"] == "X" and e["pid"] == rank]
        jit = [e for e in xs if e["name"] == "jit"]
        loops = [e for e in xs if e["name"] == loop]
        assert jit and len(loops) == 1, (rank, [e["name"] for e in xs])
        begin = loops[0]["ts"]
        assert all(e["ts"] + e["dur"] <= begin for e in jit), \
            f"rank {rank}: JIT inside the loop {loop}: {jit} vs {loops[0]}"


@pytest.mark.timeout(900)
@pytest.mark.parametrize("job", sorted(JOBS))
def test_jit_line_with_a_fresh_then_a_warm_cache(job, tmp_path):
    argv, loop = JOBS[job]
    cache = tmp_path / "numba-cache"
    cache.mkdir()

    table, prof, trace = _profiled_run(argv, cache, tmp_path, "fresh")
    calls, lo, fresh_mean, hi = _jit_row(table)
    wall = prof["wall_s"]
    assert 0.1 < lo and hi < wall, table                   # compiling kernels: seconds
    assert "jit = time in Numba's compiler" in table
    b = prof["breakdown_s"]
    assert list(b) == ["compute", "jit", "halo", "io", "other"]
    assert b["jit"] == pytest.approx(prof["regions"]["jit"]["mean_s"])
    assert sum(b.values()) == pytest.approx(wall)          # compute = wall - jit - ...
    assert b["compute"] < b["jit"], b                      # 4 steps of a tiny grid vs compiling
    assert f"breakdown (mean over ranks): compute {b['compute']:.4g} s, jit " in table
    assert all(n >= 1 for n in prof["jit_compiles"]), prof["jit_compiles"]
    _check_loop_has_no_jit(trace, loop)

    table, prof, trace = _profiled_run(argv, cache, tmp_path, "warm")
    calls, lo, warm_mean, hi = _jit_row(table)
    assert prof["jit_compiles"] == [0, 0]                  # loaded from the cache only
    assert 0 < lo and warm_mean < fresh_mean, table
    assert prof["breakdown_s"]["jit"] == pytest.approx(prof["regions"]["jit"]["mean_s"])
    _check_loop_has_no_jit(trace, loop)
