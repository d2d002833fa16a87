"""Element-wise arithmetic on DistArrays: NumPy ufuncs and ``np.where`` block by block.

Every rank applies the ufunc to its own block; nothing is communicated and the ghost
cells of a result are not set (``exchange_halos()`` fills them). Operands, besides
DistArrays on the result's grid, may be:

* scalars;
* a DistArray reduced from that grid (``t.mean(axis=0)``): its block lines up with the
  rank's block along the kept axes, so it broadcasts back over the reduced ones;
* a NumPy array of the *global* shape, or broadcastable to it (each axis 1 or the global
  length, aligned from the right as NumPy does): each rank uses its part.

Whether grids fit depends only on global properties (shape, process grid, ranks), so
a mismatch is the same ``InputError`` on every rank without any communication.
"""

import numpy as np

from .errors import InputError

__all__ = ["apply_ufunc", "where"]


def _fits(g, h):
    return g is h or (g.shape == h.shape and g.dims == h.dims and g.size == h.size)


def _describe(grid):
    return f"shape {grid.shape} on process grid {grid.dims}"


def _result_grid(cls, operands):
    """The grid of the result: that of the DistArray operand with the most axes."""
    return _leader(cls, operands).grid


def _leader(cls, operands):
    """The DistArray operand with the most axes (the first of them): the result takes its
    grid and its dimension names and coordinates."""
    arrays = [x for x in operands if isinstance(x, cls)]
    return max(arrays, key=lambda a: a.ndim)


def _local(x, grid, cls):
    """This rank's operand for a result on ``grid`` (see the module docstring)."""
    if isinstance(x, cls):
        if _fits(x.grid, grid):
            return x.interior
        parent = getattr(x.grid, "reduced_from", None)
        if parent is not None and _fits(parent[0], grid):
            return np.expand_dims(x.interior, parent[1])
        raise InputError(f"DistArrays on different grids: {_describe(x.grid)} and "
                         f"{_describe(grid)}; combine arrays of one grid (or one reduced "
                         "from it), or redistribute() first")
    if isinstance(x, np.ndarray) and x.ndim:
        if x.ndim > grid.ndim:
            raise InputError(f"an array of shape {x.shape} has more axes than the grid's "
                             f"{grid.shape}")
        first = grid.ndim - x.ndim
        index = []
        for axis, n in enumerate(x.shape, start=first):
            if n == grid.shape[axis]:
                index.append(grid.local_slices[axis])
            elif n == 1:
                index.append(slice(None))
            else:
                raise InputError(f"an array of shape {x.shape} does not broadcast against "
                                 f"a DistArray of global shape {grid.shape}: each of its "
                                 "axes must be 1 or the global length")
        return x[tuple(index)]
    return x


def _out_dtypes(ufunc, args, kwargs):
    """The output dtypes of ``ufunc`` on ``args``, or None if NumPy cannot say ahead."""
    if kwargs.keys() - {"casting", "where"}:   # dtype=, signature=: let NumPy decide
        return None
    kinds = tuple(a.dtype if hasattr(a, "dtype") else type(a) for a in args)
    try:
        return ufunc.resolve_dtypes(kinds + (None,) * ufunc.nout,
                                    casting=kwargs.get("casting"))[ufunc.nin:]
    except (TypeError, ValueError):
        return None


def apply_ufunc(cls, ufunc, method, inputs, kwargs):
    """``DistArray.__array_ufunc__``: apply ``ufunc`` to every rank's block."""
    if method != "__call__":
        return NotImplemented   # reductions: use the DistArray methods (they communicate)
    out = kwargs.pop("out", None)
    grid = _result_grid(cls, inputs + (out or ()))
    args = [_local(x, grid, cls) for x in inputs]
    if "where" in kwargs:
        kwargs["where"] = _local(kwargs["where"], grid, cls)
    if out is not None:
        for o in out:
            if not (isinstance(o, cls) and _fits(o.grid, grid)):
                raise InputError("out= of an operation on DistArrays must be DistArrays of "
                                 f"the same grid ({_describe(grid)})")
        ufunc(*args, out=tuple(o.interior for o in out), **kwargs)
        return out[0] if len(out) == 1 else out
    dtypes = _out_dtypes(ufunc, args, kwargs)
    if dtypes is None:
        values = ufunc(*args, **kwargs)
        values = values if ufunc.nout > 1 else (values,)
        results = tuple(cls(grid, np.asarray(v).dtype) for v in values)
        for r, v in zip(results, values):
            r.interior[...] = v
    else:
        results = tuple(cls(grid, d) for d in dtypes)
        ufunc(*args, out=tuple(r.interior for r in results), **kwargs)
    for r in results:
        _leader(cls, inputs)._labelled(r)
    return results[0] if len(results) == 1 else results


def where(cls, condition, x, y):
    """``np.where(condition, x, y)`` with DistArray operands: a DistArray."""
    grid = _result_grid(cls, (condition, x, y))
    c, a, b = (_local(v, grid, cls) for v in (condition, x, y))
    out = _leader(cls, (condition, x, y))._labelled(cls(grid, np.result_type(a, b)))
    out.interior[...] = b
    np.copyto(out.interior, a, where=np.asarray(c, dtype=bool))
    return out
