"""Numba kernels on plain local ndarrays (no MPI, no I/O); see DESIGN.md."""

__all__: list[str] = []
