"""``clusterkit info``: versions and capabilities of this installation."""

import platform
import shutil
import sys

__all__ = ["add_parser", "collect"]


def _loaded(stem):
    """Return the path of the loaded shared library whose name starts with ``stem``."""
    try:
        with open("/proc/self/maps") as maps:
            for line in maps:
                path = line.split()[-1]
                if path.rsplit("/", 1)[-1].startswith(stem + "."):
                    return path
    except OSError:
        pass
    return "unknown"


def _importable(module):
    """Return whether Numba's threading-layer module ``module`` loads."""
    import importlib
    try:
        importlib.import_module("numba.np.ufunc." + module)
    except (ImportError, OSError):
        return False
    return True


def collect():
    """Return a list of (label, value) describing Python, MPI, Numba, HDF5 and Slurm.

    MPI is not initialised: only calls MPI allows before ``MPI_Init`` are made.
    """
    rows = [("python", f"{platform.python_version()} ({sys.executable})")]
    try:
        import mpi4py
        mpi4py.rc.initialize = False
        from mpi4py import MPI
        lib = MPI.Get_library_version().strip().split("\n")[0]
        rows += [("mpi4py", mpi4py.__version__),
                 ("MPI library", lib),
                 ("MPI standard", "%d.%d" % MPI.Get_version()),
                 ("MPI shared library", _loaded("libmpi"))]
    except ImportError as exc:
        rows.append(("mpi4py", f"not available ({exc})"))
    try:
        import numba
        layers = [name for name, mod in (("tbb", "tbbpool"), ("omp", "omppool"),
                                         ("workqueue", "workqueue")) if _importable(mod)]
        rows += [("numba", numba.__version__),
                 ("numba threading layers", ", ".join(layers) or "none"),
                 ("numba threads", str(numba.config.NUMBA_NUM_THREADS))]
    except ImportError as exc:
        rows.append(("numba", f"not available ({exc})"))
    try:
        import h5py
        cfg = h5py.get_config()
        rows += [("h5py", h5py.__version__), ("HDF5", h5py.version.hdf5_version),
                 ("h5py parallel (mpio)", "yes" if cfg.mpi else "no (serial HDF5)")]
    except ImportError as exc:
        rows.append(("h5py", f"not available ({exc})"))
    import numpy
    rows.append(("numpy", numpy.__version__))
    for tool in ("mpirun", "sbatch", "srun"):
        rows.append((tool, shutil.which(tool) or "not found"))
    return rows


def add_parser(sub):
    """Register the ``info`` subcommand."""
    p = sub.add_parser("info", help="show versions and capabilities",
                       description="Show Python, MPI, Numba, HDF5/h5py and Slurm details.")
    p.set_defaults(handler=handle)


def handle(args):
    """Print the report; always exit 0."""
    rows = collect()
    width = max(len(k) for k, _ in rows)
    from clusterkit import __version__
    print(f"clusterkit {__version__}")
    for key, value in rows:
        print(f"  {key:<{width}}  {value}")
    return 0
