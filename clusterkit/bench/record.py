"""Slowest-rank timing and self-describing JSON benchmark records (DESIGN rule 10)."""

import os
import platform
import sys

from .. import comm as _comm
from ..comm import MPI
from ..trace_report import write_json_atomic
from .describe import host_info, summary

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


def machine(comm=None):
    """Describe the machine, the software stack and the MPI job (for result files)."""
    import numpy
    c = _comm.resolve(comm)
    info = {
        **host_info(), "python": platform.python_version(),
        "numpy": numpy.__version__, "mpi_library": MPI.Get_library_version().split("\n")[0],
        "ranks": c.Get_size(),
        "nodes": len(set(c.allgather(MPI.Get_processor_name()))),
        "numba_threads": os.environ.get("NUMBA_NUM_THREADS"),
        "command": " ".join(sys.argv),
    }
    for mod in ("numba", "h5py", "mpi4py"):
        m = sys.modules.get(mod)
        if m is not None:
            info[mod] = getattr(m, "__version__", "?")
    return info


def write_json(path, record):
    """Write ``record`` as indented JSON to ``path`` atomically (temporary name, then rename)."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    write_json_atomic(path, record, indent=2)
