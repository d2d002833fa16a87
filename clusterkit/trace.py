"""Named timing regions per rank, a ``-log_view``-style summary and a merged Chrome trace.

Usage::

    from clusterkit.trace import region, traced

    with region("solve"):           # a named region, nested regions allowed
        ...

    @traced("io.checkpoint")        # the same, around every call of a function
    def checkpoint(...): ...

Tracing is off unless switched on, and then ``region()`` returns one shared
no-op context manager (a flag test and a return): library code is annotated
unconditionally. It is switched on, on every rank alike, by the environment,
read at first use:

``CLUSTERKIT_PROFILE=1``
    at the end of the job rank 0 prints a table: per region the calls, the
    min/mean/max over ranks of the time spent in it, the imbalance (max ÷
    mean) and the share of the job's wall time;
``CLUSTERKIT_TRACE=FILE``
    every rank's regions are merged into ONE Chrome trace-event JSON file
    (``pid`` = rank) that Perfetto (ui.perfetto.dev) and chrome://tracing open;
``CLUSTERKIT_PROFILE_JSON=FILE``
    the per-rank numbers behind the table as JSON (what ``clusterkit bench``
    reads), with each rank's host name and a description of rank 0's node;

or by :func:`enable`. :func:`~clusterkit.runtime.run_job` wraps every job in
:func:`session`, which calls the collective :func:`finalize` when the job
returns; ``clusterkit run --profile --trace FILE`` sets the variables.

Times are ``time.perf_counter_ns`` per rank; :func:`finalize` aligns the ranks'
clocks by subtracting each rank's reading just after a common ``Barrier``.
Regions should be opened on the main thread (nesting is tracked per process).
The library's own regions are ``halo.start``/``halo.finish``,
``collective.<name>``, ``darray.gather``/``allgather``/``redistribute`` and
``io.read``/``io.write``/``io.close``; :func:`category` groups them into the
halo / I/O / other breakdown that ``clusterkit bench`` plots.

While tracing is on, the time Numba spends compiling a kernel or loading it from its
cache (the first call of each kernel and argument types in a process;
:mod:`clusterkit.jit` observes it) is booked as the region ``jit``, its own line of
the table and of the breakdown, and taken out of every region it happened in: a
region's time is its own work, and the breakdown's compute excludes JIT.
"""

import functools
import os
import platform
import sys
import time

from . import jit as _jit
from .node import describe_node
from .trace_report import (JIT, MAX_EVENTS, PROFILE_FORMAT, category, chrome_trace,
                           format_table, write_json_atomic)
from .trace_report import summarise as _summarise
from .errors import InputError

__all__ = ["region", "traced", "enable", "disable", "reset", "is_enabled", "configure",
           "session", "finalize", "totals", "category", "chrome_trace", "format_table",
           "PROFILE_FORMAT", "MAX_EVENTS"]


_now = time.perf_counter_ns

# -- state (module-level so the hot path is one global load) -----------------------------
_on = False            # the flag region() tests
_configured = False    # environment read?
_profile = False       # print the table at finalize
_trace_path = None     # Chrome trace output (rank 0 writes it)
_json_path = None      # JSON summary output
_t0 = 0                # job start on this rank (perf_counter_ns)
_regions = {}          # name -> its cached _Region (with the totals of the name)
_open = []             # (region, start_ns, jit_ns) of the regions open now, innermost last
_open_lib = 0          # library regions among them
_events = []           # (name, start_ns, end_ns) kept for the trace file
_dropped = 0           # events not kept (beyond MAX_EVENTS)
_jit_ns = 0            # time in Numba's compiler so far (taken out of the open regions)
_jit_compiles = 0      # JIT spans in which Numba compiled (the others loaded from its cache)


class _Null:
    """The shared do-nothing context manager returned by :func:`region` when off."""

    __slots__ = ()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        return False


_NULL = _Null()


class _Region:
    """The (cached, shared) context manager of one region name while tracing is on.

    It keeps the totals of its name. Re-entrant: the start times live on one stack
    per process, not in the object. Its time excludes the JIT spans inside it.
    """

    __slots__ = ("name", "lib", "calls", "total_ns", "top_ns")

    def __init__(self, name):
        self.name, self.lib = name, category(name) is not None
        self.calls = self.total_ns = self.top_ns = 0

    def __enter__(self):
        global _open_lib
        _open_lib += self.lib
        _open.append((self, _now(), _jit_ns))
        return self

    def __exit__(self, exc_type, exc, tb):
        global _open_lib, _dropped
        end = _now()
        if not _open:               # it was opened before a reset(): ignore it
            return False
        r, start, jit_start = _open.pop()
        spent = end - start - (_jit_ns - jit_start)
        r.calls += 1
        r.total_ns += spent
        if r.lib:
            _open_lib -= 1
            if _open_lib == 0:      # the outermost library region: counts in the breakdown
                r.top_ns += spent
        if _trace_path is not None:
            if len(_events) < MAX_EVENTS:
                _events.append((r.name, start, end))
            else:
                _dropped += 1
        return False


def _region_of(name):
    r = _regions.get(name)
    if r is None:
        r = _regions[name] = _Region(name)
    return r


def _record_jit(start, end, compiled):
    """Book one span in Numba's compiler (from :func:`clusterkit.jit.watch`) as ``jit``."""
    global _jit_ns, _jit_compiles, _dropped
    if not _on:
        return
    spent = end - start
    _jit_ns += spent
    _jit_compiles += bool(compiled)
    r = _region_of(JIT)
    r.calls += 1
    r.total_ns += spent
    r.top_ns += spent         # taken out of the enclosing regions: its own breakdown line
    if _trace_path is not None:
        if len(_events) < MAX_EVENTS:
            _events.append((JIT, start, end))
        else:
            _dropped += 1


def totals():
    """This rank's records so far: ``{name: (calls, total_ns, top_ns)}``.

    ``top_ns`` is the time during which the region was the outermost library
    region (what the breakdown counts); 0 for a user's regions. Regions still
    open are not counted yet. Times exclude the JIT spans inside a region; those
    are the region ``jit``.
    """
    return {r.name: (r.calls, r.total_ns, r.top_ns) for r in _regions.values() if r.calls}


def region(name):
    """Return a context manager timing the enclosed block as region ``name`` on this rank.

    Parameters
    ----------
    name : str
        Region name; regions with the same name are summed. Prefixes ``halo.``,
        ``io.``, ``collective.`` and ``darray.`` are the library's own (see
        :func:`category`).

    Returns
    -------
    context manager
        When tracing is off, one shared no-op object (nothing is allocated or
        recorded); when on, one shared object per name (re-entrant: nesting a
        region in itself is allowed).
    """
    if _on or (not _configured and configure()):
        return _region_of(name)
    return _NULL


def traced(name=None):
    """Decorator: time every call of the function as region ``name`` (default: its qualname).

    When tracing is off the wrapper only tests a flag and calls the function.
    """
    def decorate(fn):
        r = _region_of(name or fn.__qualname__)

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            if not _on and (_configured or not configure()):
                return fn(*args, **kwargs)
            with r:
                return fn(*args, **kwargs)
        return wrapper
    if callable(name):      # used bare: @traced
        fn, name = name, None
        return decorate(fn)
    return decorate


# -- switching on and off ------------------------------------------------------------
def _flag(text):
    return text.strip().lower() not in ("", "0", "false", "no", "off")


def _check_writable(path, what):
    path = os.path.abspath(path)
    parent = os.path.dirname(path)
    if os.path.isdir(path):
        raise InputError(f"{what} {path!r} is a directory; give a file name")
    if not os.path.isdir(parent) or not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(f"{what} {path!r}: directory {parent!r} does not exist or is "
                         "not writable")
    return path


def enable(profile=True, trace_path=None, profile_json=None):
    """Switch tracing on for this process (call it on every rank alike).

    Parameters
    ----------
    profile : bool
        Print the summary table at :func:`finalize`.
    trace_path : str, optional
        Write the merged Chrome trace-event JSON file there at :func:`finalize`.
    profile_json : str, optional
        Write the per-rank summary as JSON there at :func:`finalize`.

    Raises
    ------
    ValueError
        If an output path is a directory or its directory is missing or not writable.
    """
    global _on, _configured, _profile, _trace_path, _json_path, _t0
    trace_path = _check_writable(trace_path, "trace file") if trace_path else None
    profile_json = _check_writable(profile_json, "profile JSON") if profile_json else None
    _configured = True
    _profile = bool(profile)
    _trace_path, _json_path = trace_path, profile_json
    if not _on and not totals() and not _open:  # first start since reset(): origin of times
        _t0 = _now()
    _on = True
    _jit.watch(_record_jit)


def disable():
    """Stop recording (what was recorded is kept until :func:`reset` or :func:`finalize`)."""
    global _on, _configured
    _on, _configured = False, True


def reset():
    """Switch off and forget everything, including whether the environment was read."""
    global _on, _configured, _profile, _trace_path, _json_path, _open_lib, _dropped, _jit_ns, \
        _jit_compiles
    _on = _configured = _profile = False
    _trace_path = _json_path = None
    _open_lib = _dropped = _jit_ns = _jit_compiles = 0
    for r in _regions.values():
        r.calls = r.total_ns = r.top_ns = 0
    del _open[:], _events[:]


def is_enabled():
    """Whether regions are being recorded (reads the environment on first call)."""
    return _on or (not _configured and configure())


def configure(env=None):
    """Read ``CLUSTERKIT_PROFILE``/``CLUSTERKIT_TRACE``/``CLUSTERKIT_PROFILE_JSON`` once.

    Returns
    -------
    bool
        Whether tracing is on afterwards.
    """
    global _configured
    if _configured:
        return _on
    env = os.environ if env is None else env
    profile = _flag(env.get("CLUSTERKIT_PROFILE", ""))
    trace_path = env.get("CLUSTERKIT_TRACE", "").strip() or None
    json_path = env.get("CLUSTERKIT_PROFILE_JSON", "").strip() or None
    _configured = True
    if profile or trace_path or json_path:
        enable(profile=profile, trace_path=trace_path, profile_json=json_path)
    return _on


class session:
    """Context manager around a whole job: configure from the environment, mark the
    job's start, and call the collective :func:`finalize` if the block returns normally.

    On an exception nothing is collected (the job is ending in error; the other
    ranks may never arrive), so every rank that reaches ``finalize`` has
    returned from the job.

    Parameters
    ----------
    comm : mpi4py.MPI.Intracomm, optional
        The job's communicator.
    """

    def __init__(self, comm=None):
        self.comm = comm

    def __enter__(self):
        global _t0
        if configure():
            _t0 = _now()
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            finalize(self.comm)
        return False


# -- the end of the job (the reports themselves: clusterkit.trace_report) ---------------
def _local_record(sync):
    agg = totals()
    names = list(agg)
    rec = {"t0": _t0 - sync, "names": names,
           "calls": [agg[n][0] for n in names], "total": [agg[n][1] for n in names],
           "top": [agg[n][2] for n in names], "dropped": _dropped,
           "jit_compiles": _jit_compiles,
           "max_events": MAX_EVENTS, "events": None, "host": platform.node()}
    if _trace_path is not None:
        import numpy as np
        index = {n: i for i, n in enumerate(names)}
        ev = np.empty((len(_events), 3), dtype=np.int64)
        for k, (n, start, end) in enumerate(_events):
            ev[k] = (index[n], start - sync, end - start)
        rec["events"] = ev
    return rec


def finalize(comm=None, file=None):
    """Collect every rank's regions: print the table, write the trace and JSON. Collective.

    Does nothing, and communicates nothing, when tracing is off (the same on
    every rank: the environment is). Otherwise every rank of ``comm`` must call
    it; rank 0 prints the table (``CLUSTERKIT_PROFILE``), writes the merged
    Chrome trace (``CLUSTERKIT_TRACE``) and the JSON summary
    (``CLUSTERKIT_PROFILE_JSON``), each to a temporary name renamed when
    complete. A file that cannot be written is reported on stderr and does not
    fail the job. Recording stops and the records are cleared afterwards.

    Parameters
    ----------
    comm : mpi4py.MPI.Intracomm, optional
    file : file-like, optional
        Where rank 0 prints the table (``sys.stdout``).

    Returns
    -------
    dict or None
        The summary (see :func:`format_table`) on rank 0, ``None`` elsewhere or when off.
    """
    if not _on:
        return None
    from .comm import resolve
    c = resolve(comm)
    c.Barrier()
    sync = _now()
    parts = c.gather(_local_record(sync), root=0)
    profile, trace_path, json_path = _profile, _trace_path, _json_path
    reset()
    disable()
    if c.Get_rank() != 0:
        return None
    summary = _summarise(parts)
    summary["node"] = describe_node()  # rank 0's node: under a batch system, a compute node
    out = sys.stdout if file is None else file
    if profile:
        out.write(format_table(summary) + "\n")
    for path, what, make in ((trace_path, "trace", lambda: chrome_trace(parts)),
                             (json_path, "profile JSON", lambda: summary)):
        if path is None:
            continue
        try:
            write_json_atomic(path, make())
        except OSError as exc:
            sys.stderr.write(f"clusterkit trace: could not write the {what} {path!r}: {exc}\n")
        else:
            if what == "trace":
                n = sum(0 if p["events"] is None else len(p["events"]) for p in parts)
                out.write(f"clusterkit trace: wrote {path} ({n} events from {len(parts)} "
                          f"rank{'s' if len(parts) != 1 else ''}; open it in "
                          "https://ui.perfetto.dev or chrome://tracing)\n")
    out.flush()
    return summary
