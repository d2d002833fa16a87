"""clusterkit: SPMD array computing on MPI clusters.

``import clusterkit as ck`` gives the library's front door::

    ck.Grid, ck.DistArray            decomposition and distributed arrays
    ck.open_dataset                  read NetCDF-4/HDF5 variables into DistArrays
    ck.write_netcdf                  write DistArrays with the input's coordinates
    ck.from_xarray, DistArray.to_xarray   to and from xarray (optional dependency)
    ck.run_job, ck.JobArgumentParser run a job's main (bad input: one line; a bug: abort)
    ck.InputError, ck.check          bad input, raised on every rank (check: agreed first)
    ck.rprint, ck.region, ck.traced  rank-0 printing, timed regions
    ck.warmup                        compile a Numba kernel before a timed loop
    ck.world                         the world communicator (starts MPI)

Each name is loaded on first use (PEP 562): importing this package imports neither
mpi4py nor h5py, and MPI is initialised only when a name that needs it is used.
"""

import importlib

__version__ = "0.1.0"

#: public name -> module that defines it
_WHERE = {
    "Grid": "clusterkit.grid", "DistArray": "clusterkit.darray",
    "open_dataset": "clusterkit.io.dataset", "write_netcdf": "clusterkit.io.write",
    "from_xarray": "clusterkit.interop",
    "run_job": "clusterkit.runtime", "JobArgumentParser": "clusterkit.runtime",
    "InputError": "clusterkit.errors", "check": "clusterkit.comm", "world": "clusterkit.comm",
    "rprint": "clusterkit.log", "region": "clusterkit.trace", "traced": "clusterkit.trace",
    "warmup": "clusterkit.jit",
}

__all__ = ["__version__"] + sorted(_WHERE)


def __getattr__(name):
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
