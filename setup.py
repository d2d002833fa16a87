"""Packaging for clusterkit.

``kernels/`` and ``jobs/`` are installed as ``clusterkit.kernels`` and
``clusterkit.jobs`` (never as generic top-level names), for both regular and
editable installs.
"""
from setuptools import setup

setup(
    name="clusterkit",
    version="0.1.0",
    description="SPMD array computing on MPI clusters: decomposition, halos, "
                "Numba kernels, parallel HDF5, Slurm",
    python_requires=">=3.10",
    packages=[
        "clusterkit",
        "clusterkit.cli",
        "clusterkit.bench",
        "clusterkit.io",
        "clusterkit.kernels",
        "clusterkit.jobs",
        "clusterkit.slurm",
        "clusterkit.slurm.data",
    ],
    package_dir={
        "clusterkit": "clusterkit",
        "clusterkit.kernels": "kernels",
        "clusterkit.jobs": "jobs",
        "clusterkit.slurm.data": "slurm",
    },
    # slurm/ (templates, site profiles: data, not code) ships as clusterkit/slurm/data.
    package_data={"clusterkit.slurm.data": ["templates/*.sh.tmpl", "sites/*.toml"]},
    install_requires=["numpy>=1.24", "numba>=0.58", "mpi4py>=3.1", "h5py>=3.8", "cftime>=1.6"],
    extras_require={"test": ["pytest", "pytest-mpi", "pytest-timeout", "hypothesis",
                             "xarray", "netCDF4", "h5netcdf", "pandas"]},
    entry_points={"console_scripts": ["clusterkit = clusterkit.cli.main:main"]},
)
