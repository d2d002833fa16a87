"""Parallel HDF5 / NetCDF-4 I/O: CF-aware reading of hyperslabs, collective NetCDF-4 writing."""

__all__: list[str] = []
