"""xarray interoperability: a DistArray gathered into an ``xarray.DataArray``, and an
``xarray.DataArray`` laid out on a grid as a DistArray. xarray is optional: it is imported
only when these are called."""

import numpy as np

from .comm import MPI, check
from .errors import InputError

__all__ = ["to_xarray", "from_xarray"]


def _xarray():
    try:
        import xarray
    except ImportError:
        raise ImportError("xarray interoperability needs xarray: pip install xarray") from None
    return xarray


def _labels(a, dims, coords):
    """``(dims, {dim: values})`` for DistArray ``a``: given, or its own labels; ``coords``
    may be a Variable (``.dims``, ``.coords``) of ``a``'s dimensions or of the grid it
    was reduced from."""
    if coords is not None and hasattr(coords, "dims") and hasattr(coords, "coords"):
        names = tuple(coords.dims)
        parent = a.grid.reduced_from
        if len(names) != a.ndim and parent is not None and len(names) == parent[0].ndim:
            names = tuple(d for i, d in enumerate(names) if i not in parent[1])
        dims, coords = dims or names, coords.coords
    dims = tuple(dims or a.dims or (f"dim_{i}" for i in range(a.ndim)))
    if isinstance(dims, str):
        dims = (dims,)
    if len(dims) != a.ndim:
        raise InputError(f"dims {dims} name {len(dims)} dimensions; the array has {a.ndim}")
    coords = dict(a.coords if coords is None else coords)
    out = {}
    for d, n in zip(dims, a.shape):
        if d in coords:
            values = np.asarray(coords[d])
            if values.shape != (n,):
                raise InputError(f"coordinate {d!r} has shape {values.shape}; the array "
                                 f"needs ({n},)")
            out[d] = values
    return dims, out


def to_xarray(a, root=0, *, dims=None, coords=None, name=None, attrs=None):
    """``DistArray.to_xarray``: ``a`` gathered into an ``xarray.DataArray`` on ``root``
    (None elsewhere), or on every rank with ``root=None``. Collective."""
    xr = _xarray()
    dims, coord_values = _labels(a, dims, coords)
    full = a.allgather() if root is None else a.gather(root=root)
    if full is None:
        return None
    return xr.DataArray(full, dims=dims, coords=coord_values,
                        name=name if name is not None else a.name,
                        attrs=dict(a.attrs if attrs is None else attrs))


def from_xarray(data, grid, root=0):
    """An ``xarray.DataArray`` (or anything array-like with ``.dims``) as a DistArray on
    ``grid``. Collective.

    If every rank passes the data, each takes its own block (a lazily loaded or
    Dask-backed DataArray reads only that block); otherwise ``root``'s is scattered
    (pass None on the other ranks). The DistArray keeps the dimension names, the 1-D
    dimension coordinates, the name and the attributes.
    """
    comm = grid.comm
    everywhere = bool(comm.allreduce(data is not None, op=MPI.LAND))
    mine = everywhere or comm.Get_rank() == root
    shape = tuple(np.shape(data)) if mine and data is not None else None
    check(not mine or shape == tuple(grid.shape),
          lambda: f"cannot lay out data of shape {shape} on a grid of shape "
          f"{tuple(grid.shape)}" if data is not None else
          f"from_xarray: rank {root} has no data (pass it there, or on every rank)",
          comm=comm)
    if everywhere:
        out = grid.empty(np.dtype(data.dtype))
        out.interior[...] = np.asarray(data[tuple(grid.local_slices)])
        labels = _meta(data)
    else:
        out = grid.scatter(np.asarray(data) if mine else None, root=root)
        labels = comm.bcast(_meta(data) if mine else None, root=root)
    out.dims, out.coords, out.name, out.attrs = labels
    return out


def _meta(data):
    """``(dims, {dim: 1-D coordinate values}, name, attrs)`` of a DataArray."""
    dims = tuple(getattr(data, "dims", ())) or None
    coords = {}
    for d in dims or ():
        c = getattr(data, "coords", {}).get(d) if hasattr(data, "coords") else None
        if c is not None and np.ndim(c) == 1:
            coords[d] = np.asarray(c)
    return dims, coords, getattr(data, "name", None), dict(getattr(data, "attrs", {}))
