"""``write_netcdf``: DistArrays and replicated arrays to a NetCDF-4 file in one call,
with the dimension coordinates of the dataset they came from."""

import os

import numpy as np

from .. import comm as _comm
from ..darray import DistArray
from ..errors import InputError
from . import cf
from .ncwrite import NCWriter
from .output_path import check_output_path

__all__ = ["write_netcdf"]

def _dims_of(name, value, dims, like):
    """The dimension names of variable ``name``: ``dims[name]``, else the DistArray's own
    (from ``Variable.read``, kept by reductions), else ``like[name]``'s."""
    ndim = np.ndim(value) if not isinstance(value, DistArray) else value.ndim
    if dims and name in dims:
        out = (dims[name],) if isinstance(dims[name], str) else tuple(dims[name])
    elif isinstance(value, DistArray) and value.dims is not None:
        out = value.dims
    elif like is not None and name in like and len(like.dims(name)) == ndim:
        out = like.dims(name)
    else:
        raise InputError(f"dimensions of {name!r} unknown: pass dims={{{name!r}: (...)}} "
                         f"with its {ndim} dimension names")
    if len(out) != ndim or len(set(out)) != ndim:
        raise InputError(f"dims of {name!r} are {out}, but it has {ndim} dimensions (one "
                         "distinct name each)")
    return out


def _coordinate(dim, size, like, coords):
    """``(values, attrs)`` of dimension ``dim`` of length ``size``: from ``coords``, else
    ``like``'s coordinate variable (values as stored: time keeps its units and
    calendar), else the indices 0..size-1."""
    if coords and dim in coords:
        given = coords[dim]
        values, attrs = given if isinstance(given, tuple) else (given, {})
    elif like is not None and like.auxiliary_times(dim):
        # the times as the inputs give them: an auxiliary time variable's values and
        # units where the coordinate has none (NEMO)
        values, attrs, _ = like.time_coordinate(dim)
        if values is None:
            values, attrs = np.arange(size, dtype=np.int32), {}
        if len(values) != size:
            raise InputError(f"dimension {dim!r} has {size} cells here but {len(values)} in "
                             f"{like.path!r}: give its values with coords={{{dim!r}: ...}}")
    elif like is not None and like.has_coordinate(dim):
        values, attrs = like.coordinate(dim), like.attrs(dim)
        if len(values) != size:
            raise InputError(f"dimension {dim!r} has {size} cells here but {len(values)} in "
                             f"{like.path!r}: give its values with coords={{{dim!r}: ...}}")
    else:
        values, attrs = np.arange(size, dtype=np.int32), {}
    values = np.asarray(values)
    if values.shape != (size,):
        raise InputError(f"coordinate {dim!r} has shape {values.shape}; the data need "
                         f"({size},)")
    return values, attrs


def _part(value, comm):
    """``(block, start)`` this rank writes of ``value``: for a DistArray its interior if
    no lower rank of ``comm`` holds the same block (a reduced array is replicated across
    the ranks it was reduced over); for a replicated ndarray all of it on rank 0."""
    if isinstance(value, DistArray):
        start = tuple(value.grid.local_start)
        key = (start, tuple(value.grid.local_shape))
        first = comm.allgather(key).index(key) == comm.Get_rank()
        block = value.interior if first else value.interior[(slice(0, 0),) * value.ndim]
        return block, start
    value = np.asarray(value)
    if value.ndim and comm.Get_rank() != 0:
        return value[(slice(0, 0),) * value.ndim], (0,) * value.ndim
    return value, (0,) * value.ndim


def _check(path, overwrite=False, comm=None, like=None):
    """Raise the output-path problem of ``path`` (exists without ``overwrite``, missing
    directory, not writable, the same file as ``like``'s) on every rank, before any work.
    Collective; returns ``path``."""
    check_output_path(path, overwrite, _comm.resolve(comm),
                      distinct_from=() if like is None else tuple(like.paths),
                      replace_hint="write it with overwrite=True")
    return os.fspath(path)


def write_netcdf(path, data, *, like=None, dims=None, coords=None, attrs=None,
                 var_attrs=None, overwrite=False, comm=None):
    """Write ``{name: DistArray or replicated ndarray}`` to the NetCDF-4 file ``path``.

    Collective over ``comm`` (default: ``like``'s, else the world), which must hold
    every rank of the arrays' grids. The file appears complete or not at all (written
    under a temporary name, renamed at the end, deleted if any rank fails). Each rank
    writes its own block; a reduced DistArray, which several ranks hold, is written
    once, by the lowest of them. Check the path at the start of a job with
    ``write_netcdf.check(path, overwrite=..., like=ds)``; ``write_netcdf`` checks again.

    Parameters
    ----------
    path : str
    data : mapping
        Variable name to DistArray (written block by block) or ndarray (the same on
        every rank; rank 0 writes it).
    like : clusterkit.io.dataset.Dataset, optional
        Where coordinates (values and attributes, e.g. time units and calendar) come
        from, and the dimension names and attributes (without packing and fill
        attributes) of variables of the same name that do not carry their own (a
        DistArray from ``Variable.read`` does; its reductions keep the names only).
    dims : mapping, optional
        ``{name: (dim, ...)}``, for variables ``like`` does not have.
    coords : mapping, optional
        ``{dim: values or (values, attrs)}``: coordinates to use instead of ``like``'s.
    attrs : mapping, optional
        Global attributes.
    var_attrs : mapping, optional
        ``{name: {attr: value}}``, added to (and replacing) those from ``like``.
    overwrite : bool

    Raises
    ------
    InputError
        On every rank: a bad output path, dimension names unknown or of the wrong
        number, a dimension of two lengths, coordinates that do not fit.
    """
    comm = _comm.resolve(comm if comm is not None else like.comm if like is not None else None)
    _check(path, overwrite, comm, like)
    if not data:
        raise InputError("write_netcdf needs at least one variable in data")
    plan, sizes = {}, {}
    for name, value in data.items():
        names = _dims_of(name, value, dims, like)
        shape = value.shape if isinstance(value, DistArray) else np.shape(value)
        for d, n in zip(names, shape):
            if sizes.setdefault(d, n) != n:
                raise InputError(f"dimension {d!r} has length {sizes[d]} in one variable "
                                 f"and {n} in {name!r}")
        own = {}
        if isinstance(value, DistArray) and value.attrs:
            own = dict(value.attrs)
        elif like is not None and name in like:
            own = {k: v for k, v in like.attrs(name).items() if k not in cf.ENCODING_ATTRS}
        own.update((var_attrs or {}).get(name, {}))
        plan[name] = (names, own)
    shapes = [np.shape(v) for v in data.values() if not isinstance(v, DistArray)]
    _comm.check(all(s == t for s, t in zip(shapes, comm.bcast(shapes, root=0))),
                lambda: "a replicated array given to write_netcdf has different shapes on "
                "different ranks: give the same arrays on every rank", comm=comm)
    with NCWriter(path, comm=comm, overwrite=overwrite, attrs=attrs) as out:
        for d, n in sizes.items():
            values, dattrs = _coordinate(d, n, like, coords)
            out.dimension(d, values, dattrs)
        for name, value in data.items():
            names, own = plan[name]
            dtype = value.dtype if isinstance(value, DistArray) else np.asarray(value).dtype
            out.variable(name, names, dtype, attrs=own)
        for name, value in data.items():
            block, start = _part(value, comm)
            out.write(name, block, start)


write_netcdf.check = _check
