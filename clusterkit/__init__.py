"""clusterkit: SPMD array computing on MPI clusters.

Importing this package imports neither mpi4py nor h5py: MPI is initialised
only when a module that needs it (``clusterkit.comm`` and above) is imported.
"""

__all__ = ["__version__"]
__version__ = "0.1.0"
