"""Numba kernels on plain local ndarrays (no MPI, no I/O); see docs/architecture.md.

The public API is one checked entry per kernel (its arguments are validated, and
``parallel=True`` picks the threaded variant). Inside clusterkit, a hot loop that has
validated its arrays with one checked call may take the unchecked Numba dispatcher
from the kernel's module: ``stencil.unchecked(pattern, radius, parallel)``,
``diffusion.unchecked(parallel)``, ``stream.unchecked(parallel)`` (callable from
Python or from jitted code). Those are not exported here.

Submodules load on first use of one of their names (PEP 562): a job imports only
the kernels it calls, and only their dispatchers are created (importing every
kernel module costs about 30 ms per rank at start-up).
"""

import importlib

if __name__ != "clusterkit.kernels":
    # Numba's cache entries name the module that compiled them; an entry written
    # under another name (``import kernels`` from the source tree) cannot be loaded
    # by the installed package, and every later job would fail to start.
    raise ImportError(f"the kernel library is the package clusterkit.kernels; import it "
                      f"as such, not as {__name__!r} (its Numba cache would be unusable "
                      f"for clusterkit jobs)")

#: public name -> submodule that defines it
_WHERE = {
    "TimeStats": "climate", "accumulate_time_stats": "climate",
    "climate_anomalies": "climate",
    "diffusion_kappa_dt_limit": "diffusion", "diffusion_step": "diffusion",
    "GroupStats": "groups", "accumulate_groups": "groups",
    "exact_nan_count": "exactsum", "exact_sum_value": "exactsum",
    "local_sum_exact": "exactsum",
    "nan_percentiles": "percentiles",
    "axis_moments": "reductions", "axis_sums": "reductions", "local_moments": "reductions",
    "box_stencil": "stencil", "star_stencil": "stencil", "stencil_weights": "stencil",
    "stream_triad": "stream",
}

__all__ = sorted(_WHERE)


def __getattr__(name):
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
