"""Slowest-rank timing and self-describing JSON benchmark records (DESIGN rule 10)."""

import datetime
import json
import os
import platform
import statistics
import sys

from .. import comm as _comm
from ..comm import MPI

__all__ = ["time_slowest", "summary", "machine", "write_json"]


def time_slowest(fn, repeat=10, warmup=2, comm=None, inner=1):
    """Time ``fn()`` as the slowest rank sees it: Barrier, Wtime, run, max over ranks.

    Parameters
    ----------
    fn : callable
        The work of one repetition (called ``inner`` times per sample).
    repeat : int
        Samples to take after ``warmup`` untimed calls.
    inner : int
        Calls per sample (for operations far below the timer resolution);
        samples are divided by it.

    Returns
    -------
    list of float
        Seconds per call, one per sample, identical on every rank.
    """
    c = _comm.resolve(comm)
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeat):
        c.Barrier()
        t0 = MPI.Wtime()
        for _ in range(inner):
            fn()
        dt = (MPI.Wtime() - t0) / inner
        samples.append(c.allreduce(dt, op=MPI.MAX))
    return samples


def summary(samples):
    """Median, min, max and interquartile range of timing samples (seconds)."""
    q = statistics.quantiles(samples, n=4) if len(samples) > 1 else [samples[0]] * 3
    return {"median": statistics.median(samples), "min": min(samples), "max": max(samples),
            "q1": q[0], "q3": q[2], "n": len(samples)}


def machine(comm=None):
    """Describe the machine, the software stack and the MPI job (for result files)."""
    import numpy
    c = _comm.resolve(comm)
    info = {
        "hostname": platform.node(), "platform": platform.platform(),
        "cpu_count": os.cpu_count(), "python": platform.python_version(),
        "numpy": numpy.__version__, "mpi_library": MPI.Get_library_version().split("\n")[0],
        "ranks": c.Get_size(),
        "nodes": len(set(c.allgather(MPI.Get_processor_name()))),
        "numba_threads": os.environ.get("NUMBA_NUM_THREADS"),
        "load_average": os.getloadavg(),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(sys.argv),
    }
    for mod in ("numba", "h5py", "mpi4py"):
        m = sys.modules.get(mod)
        if m is not None:
            info[mod] = getattr(m, "__version__", "?")
    try:
        with open("/proc/cpuinfo") as f:
            info["cpu_model"] = next((l.split(":", 1)[1].strip() for l in f
                                      if l.startswith("model name")), "?")
    except OSError:
        pass
    return info


def write_json(path, record):
    """Write ``record`` as indented JSON to ``path`` atomically (temporary name, then rename)."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(record, f, indent=2, default=float)
        f.write("\n")
    os.replace(tmp, path)
