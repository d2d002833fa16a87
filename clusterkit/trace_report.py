"""Reports of clusterkit.trace: the profile summary and table, the Chrome trace document.

Pure functions of the per-rank records that :func:`clusterkit.trace.finalize`
gathers: no state, no MPI.
"""

import json
import os

__all__ = ["PROFILE_FORMAT", "MAX_EVENTS", "JIT", "BREAKDOWN", "category", "summarise",
           "format_table", "chrome_trace", "write_json_atomic"]

#: value of the ``format`` key of the JSON summary written for CLUSTERKIT_PROFILE_JSON
PROFILE_FORMAT = "clusterkit-profile"
#: events kept per rank for the trace file (more are counted but not kept)
MAX_EVENTS = int(os.environ.get("CLUSTERKIT_TRACE_MAX_EVENTS", "1000000"))
#: the region of the time Numba spends compiling kernels or loading them from its cache
JIT = "jit"
#: the breakdown's categories, in the order reports list them
BREAKDOWN = ("compute", "jit", "halo", "io", "other")

_categories = {}       # name -> category or None (cache)
_LIBRARY_PREFIXES = (("halo.", "halo"), ("io.", "io"), ("collective.", "other"),
                     ("darray.", "other"))


def category(name):
    """Breakdown category of a region name: ``"jit"``, ``"halo"``, ``"io"``, ``"other"``
    or ``None``.

    ``jit`` (:data:`JIT`) → jit, ``halo.*`` → halo, ``io.*`` → io, ``collective.*``
    and ``darray.*`` (reductions, gathers, redistributions) → other; any other name
    (a user's region) → ``None``: its time counts as compute in the breakdown.
    """
    cat = _categories.get(name, 0)
    if cat == 0:
        cat = "jit" if name == JIT else \
            next((c for p, c in _LIBRARY_PREFIXES if name.startswith(p)), None)
        _categories[name] = cat
    return cat


def summarise(parts):
    """Combine the ranks' records into the profile summary (a JSON-able dict)."""
    size = len(parts)
    start = min(p["t0"] for p in parts)
    wall = -start * 1e-9                    # first start to the common barrier
    names = []
    for p in parts:
        names += [n for n in p["names"] if n not in names]
    regions = {}
    for n in names:
        calls, total, top = [0] * size, [0.0] * size, [0.0] * size
        for r, p in enumerate(parts):
            if n in p["names"]:
                i = p["names"].index(n)
                calls[r], total[r], top[r] = p["calls"][i], p["total"][i] * 1e-9, \
                    p["top"][i] * 1e-9
        mean = sum(total) / size
        regions[n] = {"category": category(n), "calls": calls, "total_s": total,
                      "top_s": top, "min_s": min(total), "mean_s": mean, "max_s": max(total),
                      "imbalance": max(total) / mean if mean > 0 else 1.0,
                      "pct_wall": 100.0 * mean / wall if wall > 0 else 0.0}
    library = {cat: sum(v["top_s"][r] for v in regions.values() if v["category"] == cat
                        for r in range(size)) / size for cat in BREAKDOWN[1:]}
    breakdown = {"compute": max(0.0, wall - sum(library.values())), **library}
    return {"format": PROFILE_FORMAT, "version": 1, "ranks": size, "wall_s": wall,
            "rank_wall_s": [-p["t0"] * 1e-9 for p in parts], "regions": regions,
            "breakdown_s": breakdown, "dropped_events": [p["dropped"] for p in parts],
            "hosts": [p.get("host") for p in parts],
            "jit_compiles": [p.get("jit_compiles", 0) for p in parts],
            "max_events": max(p.get("max_events", MAX_EVENTS) for p in parts)}


def format_table(summary):
    """Return the ``-log_view``-style table of a summary from :func:`finalize`."""
    size, wall = summary["ranks"], summary["wall_s"]
    rule = "-" * 86
    lines = [rule, f"clusterkit profile: {size} rank{'s' if size != 1 else ''}, "
             f"wall time {wall:.4g} s (first rank's start to the end of the job)", rule,
             f"{'region':<28} {'calls':>9} {'min [s]':>10} {'mean [s]':>10} "
             f"{'max [s]':>10} {'imbal':>6} {'%wall':>6}"]
    rows = sorted(summary["regions"].items(), key=lambda kv: (-kv[1]["mean_s"], kv[0]))
    for name, v in rows:
        lo, hi = min(v["calls"]), max(v["calls"])
        calls = str(hi) if lo == hi else f"{lo}-{hi}"
        lines.append(f"{name[:28]:<28} {calls:>9} {v['min_s']:10.3e} {v['mean_s']:10.3e} "
                     f"{v['max_s']:10.3e} {v['imbalance']:6.2f} {v['pct_wall']:6.1f}")
    if not rows:
        lines.append("(no regions recorded)")
    b = summary["breakdown_s"]
    lines += [rule, "times are per rank: min/mean/max over ranks of the time inside the "
              "region; imbal = max/mean;",
              "%wall = mean / wall time; nested regions are also counted in their parents"]
    if JIT in summary["regions"]:
        spans = max(summary["regions"][JIT]["calls"])
        compiles = max(summary.get("jit_compiles") or [0])
        lines += ["jit = time in Numba's compiler, compiling kernels or loading them from its "
                  "cache", f"      ({spans} times, {compiles} compiling; max over ranks), taken "
                  "out of the regions it happened in"]
    lines += [f"breakdown (mean over ranks): compute {b['compute']:.4g} s, jit "
              f"{b.get('jit', 0.0):.4g} s, halo {b['halo']:.4g} s, I/O {b['io']:.4g} s, "
              f"other {b['other']:.4g} s", rule]
    dropped = sum(summary["dropped_events"])
    if dropped:
        lines.append(f"trace: {dropped} events beyond {summary.get('max_events', MAX_EVENTS)} "
                     "per rank were not kept")
    return "\n".join(lines)


def chrome_trace(parts):
    """Return the Chrome trace-event document (a dict) of the ranks' records.

    ``"X"`` (complete) events with ``pid`` = rank, ``tid`` = 0, ``ts``/``dur`` in
    microseconds from the first rank's job start, plus ``process_name`` and
    ``process_sort_index`` metadata events naming each process ``rank k``.
    """
    origin = min(p["t0"] for p in parts)
    events = []
    for rank, p in enumerate(parts):
        events.append({"name": "process_name", "ph": "M", "pid": rank, "tid": 0,
                       "args": {"name": f"rank {rank}"}})
        events.append({"name": "process_sort_index", "ph": "M", "pid": rank, "tid": 0,
                       "args": {"sort_index": rank}})
        events.append({"name": "job", "cat": "job", "ph": "X", "pid": rank, "tid": 0,
                       "ts": round((p["t0"] - origin) / 1e3, 3),
                       "dur": round(-p["t0"] / 1e3, 3)})
        ev = p["events"]
        if ev is None:
            continue
        for i, start, dur in ev.tolist():
            name = p["names"][i]
            events.append({"name": name, "cat": category(name) or "user", "ph": "X",
                           "pid": rank, "tid": 0, "ts": round((start - origin) / 1e3, 3),
                           "dur": round(dur / 1e3, 3)})
    return {"traceEvents": events, "displayTimeUnit": "ms",
            "otherData": {"producer": "clusterkit.trace", "ranks": len(parts)}}


def write_json_atomic(path, obj, indent=None):
    """Write ``obj`` as JSON to ``path`` under a temporary name, renamed when complete."""
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        with open(tmp, "w") as f:
            json.dump(obj, f, indent=indent, default=float,
                      separators=None if indent else (",", ":"))
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
