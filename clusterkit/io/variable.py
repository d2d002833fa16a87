"""One variable of an open dataset: its metadata, and collective reads into a DistArray."""

import numpy as np

from ..darray import DistArray
from ..errors import InputError
from . import cf

__all__ = ["Variable"]


class Variable:
    """A variable of a :class:`~clusterkit.io.dataset.Dataset` (``ds[name]``).

    Attributes
    ----------
    name : str
    dims : tuple of str
        Dimension names, in the file's order (as xarray gives them; :meth:`transpose`
        gives another order).
    shape : tuple of int
    dtype : numpy.dtype
        The dtype :meth:`read` decodes to by default (float32 for float32 data and
        for short integers packed with float32 ``scale_factor``/``add_offset``, as
        xarray; float64 otherwise).
    raw_dtype : numpy.dtype
        The dtype as stored.
    attrs : dict
        The variable's own attributes (without HDF5/netCDF-4 bookkeeping).
    """

    def __init__(self, dataset, name):
        self.dataset = dataset
        self.name = name
        self.dims = dataset.dims(name)
        self.shape = tuple(dataset.shape(name))
        self.raw_dtype = np.dtype(dataset.dtype(name))
        self.attrs = dataset.attrs(name)
        self.dtype = cf.decoded_dtype(self.raw_dtype, self.attrs)
        self._coords = None

    ndim = property(lambda self: len(self.shape), doc="Number of dimensions.")

    def __repr__(self):
        dims = ", ".join(f"{d}: {n}" for d, n in zip(self.dims, self.shape))
        return f"<Variable {self.name!r} ({dims}) {self.raw_dtype} -> {self.dtype}>"

    @property
    def coords(self):
        """``{dim: values}``: the decoded 1-D coordinate of each dimension that has one
        (a time axis as cftime datetimes in the file's calendar). Read on first use, on
        every rank."""
        if self._coords is None:
            kinds = self.dataset.axis_kinds(self.name)
            out = {}
            for d in self.dims:
                if kinds[d] == "time":      # its coordinate, or an auxiliary time variable
                    values, attrs, name = self.dataset.time_coordinate(d, self.name)
                    if values is not None:
                        out[d] = cf.decode_time(values, attrs, name)
                    continue
                values = self.dataset.coordinate(d)
                if values is not None:
                    out[d] = values
            self._coords = out
        return self._coords

    def transpose(self, *dims):
        """This variable with its dimensions in the order ``dims`` (every dimension name
        once), as xarray's ``transpose``: :meth:`read` then takes a grid of that shape and
        gives blocks in that order. Each read fetches the file's hyperslab in the file's
        order and copies it once, transposed (:mod:`clusterkit.io.reorder`).

        Raises
        ------
        InputError
            If ``dims`` is not an order of the variable's dimensions.
        """
        if sorted(dims) != sorted(self.dims) or len(set(dims)) != len(dims):
            raise InputError(f"transpose{tuple(dims)}: give every dimension of variable "
                             f"{self.name!r} once, in any order; its dimensions are "
                             f"{self.dims}")
        from .reorder import Reordered, reordered
        base = self.dataset
        if isinstance(base, Reordered) and base.name == self.name:   # transposed again
            base = base.dataset
        file_dims = tuple(base.dims(self.name))
        return Variable(reordered(base, self.name, [file_dims.index(d) for d in dims]),
                        self.name)

    def time_axis(self):
        """Index of the time dimension (by CF attributes, else a dimension named
        ``time``), or None."""
        kinds = self.dataset.axis_kinds(self.name)
        for i, d in enumerate(self.dims):
            if kinds[d] == "time":
                return i
        return self.dims.index("time") if "time" in self.dims else None

    def _window(self, time):
        """``(axis, start, stop)`` of a time window ``slice(i, j)``, or None."""
        if time is None:
            return None
        axis = self.time_axis()
        if axis is None:
            raise InputError(f"variable {self.name!r} has no time dimension (dims "
                             f"{self.dims}); read it without time=")
        if not isinstance(time, slice) or time.step not in (None, 1):
            raise InputError(f"time= takes a slice(start, stop) of time steps, got {time!r}")
        start, stop, _ = time.indices(self.shape[axis])
        if stop <= start:
            raise InputError(f"time window {time!r} of variable {self.name!r} is empty "
                             f"(it has {self.shape[axis]} time steps)")
        return axis, start, stop

    def read(self, grid, dtype=None, time=None):
        """This variable's block on every rank of ``grid``, decoded, as a DistArray.

        Collective over the grid's ranks. The block is read straight into the array's
        interior (HDF5 converts stored integers or float32 to the float dtype, which
        holds them exactly); ``_FillValue``/``missing_value`` become NaN and
        ``scale_factor``/``add_offset`` are applied in place. Ghost cells are left
        unset: call ``exchange_halos()`` before a stencil.

        Parameters
        ----------
        grid : clusterkit.Grid
            Of the variable's shape (with ``time``: its time axis as long as the window).
        dtype : dtype-like, optional
            Of the result (default :attr:`dtype`). A dtype that cannot hold every
            stored value exactly (e.g. float32 for float64 data) costs one temporary
            of the block at the stored dtype.
        time : slice, optional
            ``slice(i, j)``: read time steps ``i`` to ``j - 1`` only (streaming).

        Raises
        ------
        InputError
            On every rank: the grid's shape does not match, the window is empty or the
            variable has no time axis, or a dtype that cannot hold NaN for a variable
            with missing values.
        """
        if grid.comm.Get_size() != self.dataset.comm.Get_size():
            raise InputError(f"the grid spans {grid.comm.Get_size()} ranks but the dataset "
                             f"was opened on {self.dataset.comm.Get_size()}: open it on the "
                             "grid's ranks")
        window = self._window(time)
        want = list(self.shape)
        if window is not None:
            want[window[0]] = window[2] - window[1]
        if tuple(grid.shape) != tuple(want):
            within = "" if window is None else f" (time steps {window[1]}:{window[2]})"
            raise InputError(f"grid of shape {tuple(grid.shape)} does not match variable "
                             f"{self.name!r} of shape {tuple(want)}{within}, dims "
                             f"{self.dims}")
        dtype = self.dtype if dtype is None else np.dtype(dtype)
        if cf.fill_values(self.attrs) and dtype.kind != "f":
            raise InputError(f"variable {self.name!r} has missing values, which decode to "
                             f"NaN: read it as float32 or float64, not {dtype}")
        out = DistArray(grid, dtype)
        source = list(grid.local_slices)
        if window is not None:
            s = source[window[0]]
            source[window[0]] = slice(s.start + window[1], s.stop + window[1])
        if cf.converts_exactly(self.raw_dtype, dtype):
            self.dataset.read_into(self.name, tuple(source), out.ghosted, grid.interior_index)
            cf.decode_in_place(out.interior, self.raw_dtype, self.attrs)
        else:
            out.interior[...] = self.dataset.read(self.name, tuple(source), dtype=dtype)
        out.dims, out.name = self.dims, self.name
        try:
            out.coords = dict(self.coords)
        except InputError:   # a time axis cftime cannot decode: label with the raw values
            out.coords = {d: v for d in self.dims
                          for v in [self.dataset.coordinate(d)] if v is not None}
        if window is not None and self.dims[window[0]] in out.coords:
            d = self.dims[window[0]]
            out.coords[d] = out.coords[d][window[1]:window[2]]
        out.attrs = {k: v for k, v in self.attrs.items() if k not in cf.ENCODING_ATTRS}
        return out
