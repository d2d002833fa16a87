"""Several NetCDF files that form one time series, read as one dataset.

A :class:`MultiFileDataset` gives the interface of :class:`~clusterkit.io.dataset.Dataset`
(what :class:`~clusterkit.io.variable.Variable` and the jobs use) over files that each hold
a stretch of the same time series: variables along the time dimension are the files'
stretches one after another in time order; every other variable is the earliest file's.
Each file is opened once on every rank and stays open for the dataset's lifetime, and a
read that spans files reads each file's part straight into its place in one buffer:
nothing is joined on disk and memory per rank is one read's worth, as for a single file.
"""

import numpy as np

from .. import comm as _comm
from ..comm import MPI
from ..errors import InputError
from ..trace import traced
from . import cf
from .inputs import allow_open_files
from .parallel import close_files
from .timejoin import join_time, reencode_time

__all__ = ["MultiFileDataset", "OPEN_FILE_BYTES"]

#: memory a rank holds for each open NetCDF-4 file while it stays open (HDF5's
#: metadata cache keeps a 64 Ki-entry index per file), in bytes
OPEN_FILE_BYTES = 2 ** 19

#: attributes that say how values are stored; files whose values decode alike share them
_PACKING = ("_FillValue", "missing_value", "scale_factor", "add_offset")


def _same(a, b):
    """Whether two attribute values are equal in dtype, shape and value (NaN == NaN)."""
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    same = a == b
    if a.dtype.kind in "fc":
        same = same | (np.isnan(a) & np.isnan(b))
    return bool(np.all(same))


def _encoding(dtype, attrs):
    return np.dtype(dtype), {k: attrs[k] for k in _PACKING if k in attrs}


def _same_encoding(a, b):
    return a[0] == b[0] and a[1].keys() == b[1].keys() and \
        all(_same(a[1][k], b[1][k]) for k in a[1])


class _Series:
    """How one variable along the time dimension is spread over the files."""

    def __init__(self, name, axis, shape, dtype, attrs, files, uniform, times=None):
        self.name, self.axis, self.shape = name, axis, shape
        self.dtype, self.attrs = dtype, attrs
        self.files = files          # [(dataset, offset, steps, stored dtype, attrs)]
        self.uniform = uniform      # same dtype and packing in every file
        self.times = times          # the joined values of a time coordinate (or bounds)


class MultiFileDataset:
    """Files forming one time series, opened on every rank as one dataset.

    Every file must hold the variable that is read, with the same dimensions, the
    same shape except along time, the same coordinate values on the other dimensions and
    the same units; all files share one calendar, and no time step is in two files.
    Their time units may differ: each file's times are decoded with its own units and
    the joined time coordinate is given in the earliest file's units, with its
    attributes. Variables without the time dimension come from the earliest file.

    Stored dtypes and packing (``scale_factor``, ``add_offset``, ``_FillValue``,
    ``missing_value``) may differ between files. Where they are the same in every file
    the variable reads as stored, as from one file; where they differ, it reads as
    decoded values (float32 where every file decodes to float32, else float64, without
    the packing attributes), each file's part decoded with its own attributes.

    Every file stays open, which costs each rank one file descriptor and about
    :data:`OPEN_FILE_BYTES` of memory per file. Use
    :func:`clusterkit.io.dataset.open_dataset`, which expands glob patterns and opens
    one file as a plain :class:`~clusterkit.io.dataset.Dataset`.

    Parameters
    ----------
    paths : sequence of str
        At least one file, in any order (they are ordered by their first time step).
    comm : mpi4py.MPI.Intracomm, optional
    open_file : callable
        ``open_file(path, comm)`` opens one file collectively (a ``Dataset``).

    Raises
    ------
    InputError
        On every rank, naming the file: one that cannot be opened, has no time
        coordinate, no time steps, time values that do not decode or another calendar;
        naming both files: two files overlapping in time or sharing a time step. A
        variable that differs between files (missing, other dimensions, shape, grid
        coordinates or units) raises it, naming the file, when the variable is first
        used (``ds[name]``, :meth:`find_variable`, reads and metadata).
    """

    def __init__(self, paths, comm=None, *, open_file):
        self.comm = _comm.resolve(comm)
        allow_open_files(len(paths), self.comm)
        files = []
        try:
            for path in paths:
                files.append(open_file(path, self.comm))
            self.time_dim, axes = join_time(files)
        except InputError:   # raised alike on every rank: close collectively
            for f in files:
                f.close()
            raise
        self.files = [a.ds for a in axes]
        self.steps = [len(a) for a in axes]
        self.offsets = np.concatenate([[0], np.cumsum(self.steps)]).astype(int).tolist()
        self._axes = axes
        self.first = self.files[0]
        self.path = self.first.path
        self.paths = tuple(f.path for f in self.files)
        self.parallel = any(f.parallel for f in self.files)
        self._series_of = {}

    def close(self):
        """Close every file (collective)."""
        for f in self.files:
            f.close()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        close_files(self.files, exc_type is not None,
                    next((f.guard for f in self.files if f.parallel), None))

    def __repr__(self):
        return (f"<MultiFileDataset: {len(self.files)} files along {self.time_dim!r}, "
                f"{self.paths[0]!r} to {self.paths[-1]!r}>")

    # -- structure -------------------------------------------------------------------
    def names(self):
        """Names of the variables (the earliest file's), in file order."""
        return self.first.names()

    @property
    def variables(self):
        """``{name: Variable}`` of every variable, in file order."""
        return {n: self[n] for n in self.names()}

    def __getitem__(self, name):
        """The :class:`~clusterkit.io.variable.Variable` ``name`` of the joined files."""
        from .variable import Variable
        self._series(name)
        return Variable(self, name)

    def __contains__(self, name):
        return name in self.first

    def dims(self, name):
        """Dimension names of variable ``name``."""
        return self.first.dims(name)

    def shape(self, name):
        """Shape of variable ``name`` (along time: every file's steps)."""
        s = self._series(name)
        return self.first.shape(name) if s is None else s.shape

    def attrs(self, name):
        """The public attributes of variable ``name`` (the earliest file's; without the
        packing attributes where the files pack it differently)."""
        s = self._series(name)
        return self.first.attrs(name) if s is None else dict(s.attrs)

    def dtype(self, name):
        """The dtype of variable ``name`` as :meth:`read` returns it with ``decode=False``:
        as stored, or decoded where the files store it differently."""
        s = self._series(name)
        return self.first.dtype(name) if s is None else s.dtype

    def has_coordinate(self, dim):
        """Whether ``dim`` has a coordinate variable (in the earliest file)."""
        return self.first.has_coordinate(dim)

    def coordinate(self, dim):
        """Values of the coordinate variable of ``dim`` (None if there is none): time
        joined over the files in the earliest file's units, others the earliest file's."""
        s = self._series(dim) if self.first.has_coordinate(dim) else None
        return self.first.coordinate(dim) if s is None else s.times

    def axis_kinds(self, name):
        """``{dim: "time"|"lat"|"lon"|None}`` for the dimensions of ``name`` (the earliest
        file's, as :meth:`Dataset.axis_kinds`)."""
        return self.first.axis_kinds(name)

    def auxiliary_times(self, dim, var=None):
        """The auxiliary time variables of ``dim`` (the earliest file's, see
        :meth:`Dataset.auxiliary_times`)."""
        return self.first.auxiliary_times(dim, var)

    def time_coordinate(self, dim, var=None, *, strict=True):
        """``(values, attrs, name)`` of the time variable of ``dim`` chosen as
        :meth:`Dataset.time_coordinate` chooses it in the earliest file, its values joined
        over the files in the earliest file's time units (the ones the files are ordered
        by)."""
        values, attrs, name = self.first.time_coordinate(dim, var, strict=strict)
        s = self._series(name) if name in self.first else None
        return (values, attrs, name) if s is None else (s.times, dict(s.attrs), name)

    def find_variable(self, var=None):
        """The data variable to analyse (see :meth:`Dataset.find_variable`), checked to be
        the same variable on the same grid in every file.

        Raises
        ------
        InputError
            As :meth:`Dataset.find_variable` on the earliest file; naming the file where
            the variable is missing or differs.
        """
        name = self.first.find_variable(var)
        self._series(name)
        return name

    # -- the variables along time ----------------------------------------------------
    def _time_valued(self):
        """Variables holding times: the time coordinate, the auxiliary time variables of
        the time dimension, and their bounds variables."""
        names = {self.time_dim, *self.first.auxiliary_times(self.time_dim)}
        bounds = {cf.attr_str(self.first.attrs(n), "bounds").strip()
                  for n in names if n in self.first}
        return names | (bounds - {""})

    def _series(self, name):
        """The :class:`_Series` of ``name``, or None if it has no time dimension; checked
        against every file on first use.

        Raises
        ------
        InputError
            The earliest file has no variable ``name`` (listing its variables); naming
            the file where it is missing or has other dimensions, another shape except
            along time, other coordinate values or other units.
        """
        if name in self._series_of:
            return self._series_of[name]
        dims = tuple(self.first.dims(name))
        if self.time_dim not in dims:
            self._series_of[name] = None
            return None
        axis = dims.index(self.time_dim)
        base = self.first.shape(name)
        timed = name in self._time_valued()
        units = cf.attr_str(self.first.attrs(name), "units")
        files = []
        for f, offset, steps in zip(self.files, self.offsets, self.steps):
            if name not in f:
                raise InputError(f"input {f.path!r} has no variable {name!r} (which "
                                 f"{self.first.path!r} has); every input file must hold "
                                 f"it (variables: {', '.join(f.names()) or 'none'})")
            shape, attrs = tuple(f.shape(name)), f.attrs(name)
            self._check_alike(f, name, dims, base, shape, axis, steps)
            if not timed and cf.attr_str(attrs, "units") != units:
                raise InputError(f"variable {name!r} has units "
                                 f"{cf.attr_str(attrs, 'units')!r} in {f.path!r} but "
                                 f"{units!r} in {self.first.path!r}; every input file "
                                 "must hold it in the same units")
            files.append((f, offset, steps, np.dtype(f.dtype(name)), attrs))
        shape = list(base)
        shape[axis] = self.offsets[-1]
        encodings = [_encoding(d, a) for _, _, _, d, a in files]
        uniform = all(_same_encoding(e, encodings[0]) for e in encodings)
        attrs = self.first.attrs(name)
        if timed:
            times = self._join_times(name, axis, files)
            if cf.has_time_units(attrs):   # re-encoded in the time axis' units
                attrs["units"] = self._axes[0].attrs["units"]
            s = _Series(name, axis, tuple(shape), times.dtype, attrs, files, True, times)
        elif uniform:
            s = _Series(name, axis, tuple(shape), encodings[0][0], attrs, files, True)
        else:
            dtype = np.result_type(*(cf.decoded_dtype(d, a) for _, _, _, d, a in files))
            attrs = {k: v for k, v in attrs.items() if k not in cf.ENCODING_ATTRS}
            s = _Series(name, axis, tuple(shape), dtype, attrs, files, False)
        self._series_of[name] = s
        return s

    def _check_alike(self, f, name, dims, base, shape, axis, steps):
        """Raise the InputError naming ``f`` if its variable ``name`` differs from the
        earliest file's in dimensions, shape (except along time), steps along time or the
        values of its other coordinates."""
        first = self.first.path
        if tuple(f.dims(name)) != dims:
            raise InputError(f"variable {name!r} has dimensions {tuple(f.dims(name))} in "
                             f"{f.path!r} but {dims} in {first!r}; every input file must "
                             "hold it on the same dimensions")
        if shape[axis] != steps:
            raise InputError(f"variable {name!r} in {f.path!r} has {shape[axis]} steps "
                             f"along {self.time_dim!r} but its time coordinate has {steps}")
        if shape[:axis] + shape[axis + 1:] != base[:axis] + base[axis + 1:]:
            raise InputError(f"variable {name!r} has shape {shape} in {f.path!r} but "
                             f"{tuple(base)} in {first!r}; every input file must have the "
                             f"same grid (only the length of {self.time_dim!r} may differ)")
        for d in dims:
            if d == self.time_dim or f is self.first:
                continue
            a, b = self.first.coordinate(d), f.coordinate(d)
            if a is None and b is None:
                continue
            where = _first_difference(a, b)
            if where is not None:
                raise InputError(f"coordinate {d!r} of input {f.path!r} differs from "
                                 f"{first!r}{where}; every input file must have the same "
                                 "grid")

    def _join_times(self, name, axis, files):
        """The time values of ``name`` from every file, in the units of the earliest
        file's time axis; a variable without time units that is not the bounds of the
        time axis' variable (``time_counter`` beside NEMO's ``time_centered``) as
        stored."""
        units = cf.attr_str(self._axes[0].attrs, "units").strip()
        calendar = self._axes[0].calendar
        parts, converted = [], False
        for (f, *_), a in zip(files, self._axes):
            values = a.values if name == a.name else np.asarray(f._var(name)[...])
            attrs = f.attrs(name)
            if not cf.has_time_units(attrs):
                bounds = cf.attr_str(f.attrs(a.name), "bounds").strip()
                attrs = a.attrs if name == bounds else None
            part = values if attrs is None else \
                reencode_time(values, attrs, units, calendar, name, f.path)
            converted |= part is not values
            parts.append(part)
        out = np.concatenate(parts, axis=axis)
        first = parts[0].dtype
        if converted and first.kind in "iu" and np.all(out == np.round(out)):
            out = out.astype(first)
        return out

    # -- data ------------------------------------------------------------------------
    def _parts(self, s, selection):
        """``[(file index, file selection, slice of the result along time)]``: the files
        that any rank's ``selection`` touches (every rank gets the same list, so the
        files' collective reads pair up), with this rank's part of each (maybe empty)."""
        ax, total = s.axis, s.shape[s.axis]
        start, stop, step = selection[ax].indices(total)
        if step < 1:
            raise InputError(f"reading {s.name!r}: the time selection {selection[ax]!r} "
                             "must have a positive step")
        wanted = range(start, stop, step)
        span = np.array([wanted[0], -(wanted[-1] + 1)] if len(wanted) else [total, 0])
        if self.parallel and self.comm.Get_size() > 1:
            self.comm.Allreduce(MPI.IN_PLACE, span, op=MPI.MIN)
        lo, hi = int(span[0]), -int(span[1])
        parts = []
        for i, (_, offset, steps, _, _) in enumerate(s.files):
            if offset >= hi or offset + steps <= lo:
                continue
            k0 = max(0, -(-(offset - start) // step))
            k1 = min(len(wanted), -(-(offset + steps - start) // step))
            sel = list(selection)
            if k1 > k0:
                sel[ax] = slice(start + k0 * step - offset,
                                start + (k1 - 1) * step - offset + 1, step)
            else:
                sel[ax], k0, k1 = slice(0, 0), 0, 0
            parts.append((i, tuple(sel), slice(k0, k1)))
        return parts

    def advise(self, name, selection):
        """Hint that this rank will soon read ``selection`` of ``name``: each file's part
        (:meth:`Dataset.advise`). Not collective."""
        s = self._series(name)
        if s is None:
            return self.first.advise(name, selection)
        start, stop, step = selection[s.axis].indices(s.shape[s.axis])
        if s.times is not None or step != 1:
            return None
        for f, offset, steps, _, _ in s.files:
            a, b = max(start, offset), min(stop, offset + steps)
            if b > a:
                sel = list(selection)
                sel[s.axis] = slice(a - offset, b - offset)
                f.advise(s.name, tuple(sel))
        return None

    def _fill(self, s, selection, dest, dest_selection, decoded):
        """Read ``selection`` of ``s`` into ``dest[dest_selection]`` file by file, each
        part as stored (``decoded`` false) or decoded with its file's attributes."""
        along = range(*dest_selection[s.axis].indices(dest.shape[s.axis]))
        for i, sel, k in self._parts(s, selection):
            f, _, _, stored, attrs = s.files[i]
            where = list(dest_selection)
            where[s.axis] = slice(along.start + k.start * along.step,
                                  along.start + k.stop * along.step, along.step)
            where = tuple(where)
            if not decoded:
                f.read_into(s.name, sel, dest, where)
            elif cf.converts_exactly(stored, dest.dtype):
                f.read_into(s.name, sel, dest, where)
                cf.decode_in_place(dest[where], stored, attrs)
            else:
                raw = np.empty(dest[where].shape, stored)
                f.read_into(s.name, sel, raw, tuple(slice(None) for _ in raw.shape))
                dest[where] = cf.unpack(raw, attrs, dest.dtype)

    @traced("io.read")
    def read(self, name, selection, dtype=None, decode=True, out=None):
        """Read (and CF-decode) the hyperslab ``selection`` of ``name``. Collective.

        As :meth:`Dataset.read`; a time range that spans files reads each file's part
        into its place in one array (collectively where the file's own read is).
        ``out`` (with ``decode=False``): a reusable buffer of :meth:`dtype` at least as
        large as the selection; a view of it is returned.
        """
        s = self._series(name)
        if s is None:
            return self.first.read(name, selection, dtype=dtype, decode=decode, out=out)
        if s.times is not None:
            values = np.array(s.times[tuple(selection)])
            return cf.unpack(values, s.attrs, dtype) if decode else values
        shape = tuple(len(range(*sl.indices(n))) for sl, n in zip(selection, s.shape))
        target = s.dtype if s.uniform or not decode or dtype is None else np.dtype(dtype)
        if out is not None and not decode and out.dtype == target:
            dest = out.reshape(-1)[:int(np.prod(shape))].reshape(shape)
        else:
            dest = np.empty(shape, target)
        whole = tuple(slice(None) for _ in shape)
        self._fill(s, selection, dest, whole, decoded=not s.uniform)
        return cf.unpack(dest, s.attrs, dtype) if decode and s.uniform else dest

    def read_into(self, name, selection, dest, dest_selection):
        """Read the hyperslab ``selection`` of ``name`` into ``dest[dest_selection]``, as
        :meth:`Dataset.read_into` (HDF5 converting to ``dest``'s dtype; values as
        :meth:`dtype` describes them: decoded where the files pack them differently).
        Collective."""
        s = self._series(name)
        if s is None:
            return self.first.read_into(name, selection, dest, dest_selection)
        if s.times is not None:
            dest[tuple(dest_selection)] = s.times[tuple(selection)]
            return None
        self._fill(s, selection, dest, tuple(dest_selection), decoded=not s.uniform)
        return None

    def chunk_reader(self, name, max_elements):
        """``(decode, read)`` for streaming ``name`` through kernels that decode raw values.

        Where every file stores ``name`` with the same dtype and packing, as
        :meth:`Dataset.chunk_reader`: raw values in one reused buffer and ``decode`` set,
        so the kernel decodes (unless float32 packing, which is decoded before
        returning). Where they differ, ``decode`` is None and ``read(selection)`` returns
        each file's part decoded with its own attributes, in one reused buffer of
        :meth:`dtype`. Each ``read`` is collective.
        """
        s = self._series(name)
        if s is None:
            return self.first.chunk_reader(name, max_elements)
        decode = cf.raw_decoding(s.attrs) if s.uniform else None
        buf = np.empty(max_elements, s.dtype) \
            if decode is not None or not s.uniform else None

        def read(selection):
            return self.read(name, selection, decode=s.uniform and decode is None, out=buf)
        return decode, read


def _first_difference(a, b):
    """``None`` if coordinate values ``a`` and ``b`` are equal (NaN equal to NaN), else
    where they first differ, as text for a message."""
    if a is None or b is None:
        return " (one has coordinate values, the other none)"
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        return f" ({a.size} vs {b.size} values)"
    differ = a != b
    if a.dtype.kind == "f" and b.dtype.kind == "f":
        differ &= ~(np.isnan(a) & np.isnan(b))
    if not differ.any():
        return None
    i = int(np.flatnonzero(differ)[0])
    return f" (first difference at index {i}: {a.ravel()[i].item()!r} vs " \
        f"{b.ravel()[i].item()!r})"
