"""Open a NetCDF file (NetCDF-4/HDF5 or NetCDF-3) on every rank and read decoded hyperslabs
of its variables."""

import os

import h5py
import numpy as np

from .. import comm as _comm
from ..comm import MPI
from ..trace import traced
from . import cf, timecoord
from .groups import DimName, in_group, path_of
from .horizontal import curvilinear
from .inputs import expand_inputs
from .multifile import MultiFileDataset
from .nc3 import NC3File, is_netcdf3
from .parallel import close_files, parallel_io
from .readahead import hint
from ..errors import InputError, InputFileNotFoundError, InputPermissionError

__all__ = ["Dataset", "open_dataset", "INTERNAL_ATTRS", "public_attrs"]


#: HDF5 / netCDF-4 bookkeeping attributes that are not the variable's own
INTERNAL_ATTRS = {"DIMENSION_LIST", "REFERENCE_LIST", "CLASS", "NAME", "_Netcdf4Dimid",
                  "_Netcdf4Coordinates", "_nc3_strict", "_NCProperties"}


def public_attrs(obj):
    """A variable's own attributes as a dict (without HDF5/netCDF-4 bookkeeping)."""
    return {k: v for k, v in obj.attrs.items() if k not in INTERNAL_ATTRS}


def _input_problem(path):
    """The exception that makes ``path`` unusable as input, or ``None``."""
    if not os.path.exists(path):
        return InputFileNotFoundError(f"input file {path!r} does not exist")
    if os.path.isdir(path):
        return InputError(f"input {path!r} is a directory, not a NetCDF-4 file")
    if not os.access(path, os.R_OK):
        return InputPermissionError(f"input file {path!r} is not readable")
    if is_netcdf3(path):
        try:
            NC3File(path).close()
        except InputError as exc:
            return exc
        return None
    if not h5py.is_hdf5(path):
        return InputError(f"input {path!r} is not a NetCDF file (NetCDF-4/HDF5 or "
                          "NetCDF-3)")
    try:   # a truncated or damaged file has a valid signature but does not open
        with h5py.File(path, "r"):
            pass
    except OSError as exc:
        reason = " ".join(str(exc).split())
        return InputError(f"input {path!r} is truncated or not a NetCDF-4/HDF5 file "
                          f"(HDF5: {reason})")
    return None


class Dataset:
    """A NetCDF-4/HDF5 or NetCDF-3 file opened collectively for reading.

    With a parallel h5py and several ranks a NetCDF-4 file is opened with the ``mpio``
    driver and reads are collective transfers; otherwise each rank opens it with the
    default driver and reads independently. A NetCDF-3 file (classic, 64-bit offset,
    CDF-5) is opened by every rank through netCDF-C (:mod:`clusterkit.io.nc3`) and read
    independently; decoding and results are the same.

    A variable inside a NetCDF-4 group is named by its path (``"/group/name"``); its
    dimensions and their coordinate variables are the ones netCDF's scoping gives it
    (its group's, else the nearest ancestor's), named by their plain names
    (:class:`~clusterkit.io.groups.DimName`). A time dimension whose coordinate variable
    has no time units (or that has none) but an auxiliary time variable (NEMO's
    ``time_centered`` on ``time_counter``) is a time dimension; :meth:`time_coordinate`
    gives the values to decode.

    Parameters
    ----------
    path : str
        File to open.
    comm : mpi4py.MPI.Intracomm, optional
    parallel : bool, optional
        ``False``: open a NetCDF-4 file on every rank with the default driver and read
        independently even where parallel HDF5 could be used (default: use it where
        :func:`parallel_io` allows).

    Raises
    ------
    InputError
        On every rank (an :class:`~clusterkit.errors.InputFileNotFoundError` or
        :class:`~clusterkit.errors.InputPermissionError` where that applies): missing,
        unreadable, a directory, not a NetCDF-4/HDF5 or NetCDF-3 file, or
        truncated/damaged so that it cannot be opened. Methods given a variable the file
        does not have raise it too, listing the file's variables.
    """

    def __init__(self, path, comm=None, *, parallel=None):
        self.comm = _comm.resolve(comm)
        self.path = path
        self.paths = (path,)   # the input files (a MultiFileDataset has several)
        _comm.root_decides(lambda: _input_problem(path), self.comm)
        self.netcdf3 = self.comm.bcast(is_netcdf3(path) if self.comm.Get_rank() == 0
                                       else None, root=0)
        if self.netcdf3:   # every rank reads its own hyperslabs through netCDF-C
            self.parallel = False
            self.file = NC3File(path)
        else:
            self.parallel = parallel_io(self.comm) if parallel is None else \
                bool(parallel) and parallel_io(self.comm)
            kwargs = {"driver": "mpio", "comm": self.comm} if self.parallel else {}
            self.file = h5py.File(path, "r", **kwargs)
        # private: where the ranks meet if one leaves the with block on an exception
        self.guard = self.comm.Dup() if self.parallel else None
        self._coords = {}
        self._memo = {}   # metadata read once: the file is open read-only
        self._fd = None   # the file opened for read-ahead hints (see advise)

    def _once(self, kind, name, read):
        """``read()``, remembered per ``(kind, name)`` (metadata is looked up many times
        when several files are joined, and h5py's attribute and scale look-ups are slow)."""
        key = (kind, name)
        if key not in self._memo:
            self._memo[key] = read()
        return self._memo[key]

    def close(self):
        """Close the file (collective)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        self.file.close()
        if self.guard is not None:
            self.guard.Free()
            self.guard = None

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        close_files([self], exc_type is not None, self.guard)

    # -- structure -------------------------------------------------------------------
    def names(self):
        """Names of the variables (datasets at the root), in file order."""
        return list(self._once("names", None, self._names))

    def _names(self):
        if self.netcdf3:
            return tuple(self.file.names())
        return tuple(k for k, v in self.file.items() if isinstance(v, h5py.Dataset))

    @property
    def variables(self):
        """``{name: Variable}`` of every variable (coordinates too), in file order."""
        return {n: self[n] for n in self.names()}

    def __getitem__(self, name):
        """The :class:`~clusterkit.io.variable.Variable` ``name``.

        Raises
        ------
        InputError
            Listing the file's variables, if it has no variable ``name``.
        """
        from .variable import Variable
        self._var(name)
        return Variable(self, name)

    def __contains__(self, name):
        if self.netcdf3 or not isinstance(name, str):
            return name in self._once("names", None, self._names)
        path = path_of(name)
        return self._once("contains", path,
                          lambda: isinstance(self.file.get(path), h5py.Dataset))

    def in_groups(self, name):
        """Paths of the variables named ``name`` inside groups (not at the root), for
        messages that suggest them."""
        if self.netcdf3 or not isinstance(name, str) or "/" in name:
            return []
        found = []

        def visit(path, obj):
            if isinstance(obj, h5py.Dataset) and "/" in path and \
                    path.rsplit("/", 1)[1] == name and not _placeholder(obj):
                found.append("/" + path)
        self.file.visititems(visit)
        return found

    def _not_found(self, name, listing):
        """The InputError for a variable ``name`` this file does not have."""
        inside = self.in_groups(name)
        hint = f" (it is inside a group: use its path, {' or '.join(map(repr, inside))})" \
            if inside else ""
        return InputError(f"variable {name!r} not found in {self.path!r}{hint}; {listing}")

    def _var(self, name):
        """The h5py dataset of variable ``name``.

        Raises
        ------
        InputError
            Naming the file's variables, if there is no variable ``name`` (the same on
            every rank: they all see the same file).
        """
        if self.netcdf3:
            obj = self.file.variable(name)
        else:
            obj = self.file.get(path_of(name)) if isinstance(name, str) else None
            obj = obj if isinstance(obj, h5py.Dataset) else None
        if obj is None:
            raise self._not_found(name, f"variables: {', '.join(self.names()) or 'none'}")
        return obj

    def dims(self, name):
        """Dimension names of variable ``name`` (from its dimension scales; a coordinate
        variable is its own dimension); a dimension defined in a group is a
        :class:`~clusterkit.io.groups.DimName`."""
        return self._once("dims", path_of(name), lambda: self._dims(name))

    def _dims(self, name):
        ds = self._var(name)
        if self.netcdf3:
            return ds.dims
        out = []
        for i, dim in enumerate(ds.dims):
            attached = [s.name for s in dim.values()]
            if not attached and ds.ndim == 1 and ds.is_scale:
                attached = [ds.name]
            if not attached:
                out.append(f"phony_dim_{i}")
                continue
            base = attached[0].rsplit("/", 1)[-1]
            out.append(base if attached[0] == "/" + base else DimName(base, attached[0]))
        return tuple(out)

    def attrs(self, name):
        """The public attributes of variable ``name``."""
        return dict(self._once("attrs", path_of(name), lambda: public_attrs(self._var(name))))

    def shape(self, name):
        """Shape of variable ``name``."""
        return self._once("shape", path_of(name), lambda: tuple(self._var(name).shape))

    def has_coordinate(self, dim):
        """Whether ``dim`` has a coordinate variable: a 1-D dataset of that name that is a
        real (not netCDF's placeholder) dimension scale, or carries ``units``."""
        return self._once("has_coordinate", path_of(dim), lambda: self._has_coordinate(dim))

    def _has_coordinate(self, dim):
        if self.netcdf3:
            var = self.file.variable(dim)
            return var is not None and var.dims == (dim,)
        ds = self.file.get(path_of(dim))
        if not isinstance(ds, h5py.Dataset) or ds.ndim != 1:
            return False
        return _real_scale(ds) or "units" in ds.attrs

    def coordinate(self, dim):
        """Values of the coordinate variable of ``dim`` (None if there is none); read once."""
        key = path_of(dim)
        if key not in self._coords:
            self._coords[key] = self._var(dim)[...] if self.has_coordinate(dim) else None
        return self._coords[key]

    def axis_kinds(self, name):
        """``{dim: "time"|"lat"|"lon"|None}`` for the dimensions of ``name`` (by CF
        attributes; a dimension with an auxiliary time variable is time, see
        :meth:`time_coordinate`). On a curvilinear grid
        (:func:`~clusterkit.io.horizontal.horizontal_coordinates`) the dimensions of the 2-D
        latitude/longitude are ``"lat"`` (the first: rows) and ``"lon"`` (the second:
        columns), whatever their own coordinates say."""
        out = {}
        for d in self.dims(name):
            kind = cf.axis_kind(self.attrs(d)) if self.has_coordinate(d) else None
            out[d] = "time" if kind is None and self.auxiliary_times(d, name) else kind
        found, _ = self._curvilinear(name)
        if found is not None:   # the 2-D coordinates' dimensions are the horizontal ones
            rows, cols = found[2]
            out = {d: None if k in ("lat", "lon") else k for d, k in out.items()}
            out[rows], out[cols] = "lat", "lon"
        return out

    # -- time --------------------------------------------------------------------------
    def auxiliary_times(self, dim, var=None):
        """Names of the auxiliary time variables of ``dim`` (see
        :func:`clusterkit.io.timecoord.auxiliary_times`)."""
        return timecoord.auxiliary_times(self, dim, var)

    def time_coordinate(self, dim, var=None, *, strict=True):
        """``(values, attrs, name)`` of the time variable that gives the times of ``dim``
        (see :func:`clusterkit.io.timecoord.time_coordinate`)."""
        return timecoord.time_coordinate(self, dim, var, strict=strict)

    def _vectors_in(self, group):
        """Paths of the 1-D variables directly in ``group`` (of a NetCDF-3 file, whose
        only group is the root: every variable), where :mod:`.timecoord` looks for
        auxiliary times."""
        if self.netcdf3:
            names = self.names()
        else:
            names = [k for k, v in self.file[group].items()
                     if isinstance(v, h5py.Dataset) and v.ndim == 1]
        return [in_group(group, k) for k in names]

    def _refused_axes(self, name):
        """``[(dim, "lat"|"lon")]``: dimensions of ``name`` whose coordinates look like
        latitude/longitude but are not in degrees (see :func:`cf.axis_refusal`)."""
        found, _ = self._curvilinear(name)
        flat = () if found is None else found[2]   # located by 2-D latitude/longitude
        return [(d, kind) for d in self.dims(name) if self.has_coordinate(d) and d not in flat
                for kind in [cf.axis_refusal(self.attrs(d))] if kind is not None]

    def _curvilinear(self, name):
        """:func:`clusterkit.io.horizontal.curvilinear` of variable ``name``, found once."""
        return self._once("curvilinear", path_of(name), lambda: curvilinear(self, name))

    def _curvilinear_problem(self, name):
        """The InputError for variable ``name`` whose 2-D latitude/longitude coordinates
        are declared but unusable, or None."""
        _, problem = self._curvilinear(name)
        return None if problem is None else InputError(problem)

    def _refusal(self, name, refused):
        """The message for a variable whose horizontal axes are not degrees."""
        what = {"lat": "latitude", "lon": "longitude"}
        found = ", ".join(f"dimension {d!r} ({cf.describe_axis(self.attrs(d))}) is not "
                          f"{what[k]} in degrees" for d, k in refused)
        needs = "; ".join(cf.AXIS_NEEDS[k] for k in sorted({k for _, k in refused}))
        return (f"variable {name!r} in {self.path!r}: {found}; {needs} (on a projected "
                "or index grid, name its 2-D latitude and longitude variables in the "
                "variable's coordinates attribute)")

    def find_variable(self, var=None):
        """The data variable to analyse: ``var``, or the one with time, lat and lon dimensions.

        ``var`` may be the path of a variable inside a group (``"/group/name"``); without
        ``var`` only the root's variables are candidates.

        Raises
        ------
        InputError
            Naming the candidates, if ``var`` is missing or the choice is ambiguous;
            naming the dimensions and their attributes, if latitude/longitude are not
            in degrees; naming the coordinates, if 2-D latitude/longitude are declared
            but unusable (see :func:`~clusterkit.io.horizontal.horizontal_coordinates`).
        """
        names = self.names()
        candidates = [n for n in names if {"time", "lat", "lon"} <=
                      set(self.axis_kinds(n).values()) and n not in self.dims(n)]
        if var is not None:
            if var not in names and not ("/" in var and var in self):
                raise self._not_found(var, f"candidates: {', '.join(candidates) or 'none'}")
            kinds = self.axis_kinds(var)
            problem = self._curvilinear_problem(var)
            if problem is not None:
                raise problem
            missing = {"time", "lat", "lon"} - set(kinds.values())
            refused = [(d, k) for d, k in self._refused_axes(var) if k in missing]
            if refused:
                raise InputError(self._refusal(var, refused))
            if missing:
                raise InputError(f"variable {var!r} has no identifiable "
                                 f"{'/'.join(sorted(missing))} dimension (dims "
                                 f"{self.dims(var)}); CF attributes standard_name, units or "
                                 "axis identify them")
            return var
        if len(candidates) == 1:
            return candidates[0]
        if not candidates:
            for n in names:
                kinds = self.axis_kinds(n)
                problem = self._curvilinear_problem(n)
                if "time" in kinds.values() and n not in self.dims(n) and problem:
                    raise problem
                refused = [(d, k) for d, k in self._refused_axes(n)
                           if k not in kinds.values()]
                if "time" in kinds.values() and n not in self.dims(n) and refused:
                    raise InputError(self._refusal(n, refused))
            raise InputError(f"no variable in {self.path!r} has identifiable time, latitude "
                             f"and longitude dimensions (variables: "
                             f"{', '.join(names) or 'none'})")
        raise InputError(f"several data variables in {self.path!r}: {', '.join(candidates)}; "
                         "choose one with --var")

    # -- data ------------------------------------------------------------------------
    @traced("io.read")
    def read(self, name, selection, dtype=None, decode=True, out=None):
        """Read (and CF-decode) the hyperslab ``selection`` of ``name``. Collective.

        Every rank must call it; ranks may pass empty selections. With the ``mpio``
        driver the transfer is collective when every rank reads something.
        ``out`` (raw reads only): a reusable buffer of the variable's dtype at least
        as large as the selection; a view of it is returned.
        """
        ds = self._var(name)
        shape = tuple(len(range(*s.indices(n))) for s, n in zip(selection, ds.shape))
        if out is not None and not decode:
            raw = out.reshape(-1)[:int(np.prod(shape))].reshape(shape)
        else:
            raw = np.empty(shape, ds.dtype)
        nonempty = raw.size > 0
        collective = self.parallel and bool(
            self.comm.allreduce(nonempty, op=MPI.LAND))
        if collective:
            with ds.collective:
                ds.read_direct(raw, tuple(selection))
        elif nonempty:
            ds.read_direct(raw, tuple(selection))
        return cf.unpack(raw, self.attrs(name), dtype) if decode else raw

    def read_into(self, name, selection, dest, dest_selection):
        """Read the hyperslab ``selection`` of ``name`` as stored (HDF5 converting to
        ``dest``'s dtype) into ``dest[dest_selection]``; ``dest`` is C-contiguous.
        Collective, like :meth:`read`; nothing is decoded."""
        ds = self._var(name)
        nonempty = all(len(range(*s.indices(n))) > 0 for s, n in zip(selection, ds.shape))
        if self.parallel and bool(self.comm.allreduce(nonempty, op=MPI.LAND)):
            with ds.collective:
                ds.read_direct(dest, tuple(selection), tuple(dest_selection))
        elif nonempty:
            ds.read_direct(dest, tuple(selection), tuple(dest_selection))

    def chunk_reader(self, name, max_elements):
        """``(decode, read)`` for streaming ``name`` through kernels that decode raw values.

        ``decode`` is :func:`cf.raw_decoding` of the variable's attributes. When it is
        set, ``read(selection)`` returns the raw hyperslab in one reused buffer of
        ``max_elements`` (the kernel decodes, no decoded copy is made); otherwise (float32
        packing, which only :func:`cf.unpack` decodes exactly) the decoded hyperslab.
        Each ``read`` is collective, like :meth:`read`.
        """
        decode = cf.raw_decoding(self.attrs(name))
        buf = np.empty(max_elements, self.dtype(name)) if decode is not None else None

        def read(selection):
            return self.read(name, selection, decode=decode is None, out=buf)
        return decode, read

    def advise(self, name, selection):
        """Hint that this rank will soon read the hyperslab ``selection`` of ``name``, so
        the OS reads it from disk meanwhile (:mod:`clusterkit.io.readahead`: contiguous,
        unfiltered variables only). Not collective; never raises."""
        if not self.netcdf3:
            self._fd = hint(self._var(name), selection, self.path, self._fd)

    def dtype(self, name):
        """The stored dtype of variable ``name``."""
        return self._once("dtype", name, lambda: self._var(name).dtype)


def _placeholder(ds):
    """Whether the h5py dataset ``ds`` is netCDF-4's placeholder for a dimension without a
    coordinate variable (not a variable)."""
    return cf.attr_str(ds.attrs, "NAME").startswith("This is a netCDF")


def _real_scale(ds):
    """Whether the h5py dataset ``ds`` is a dimension scale that is a coordinate variable."""
    return cf.attr_str(ds.attrs, "CLASS") == "DIMENSION_SCALE" and not _placeholder(ds)


def open_dataset(paths, comm=None):
    """Open NetCDF input on every rank of ``comm`` (default: the world), to use as a
    context manager. Collective.

    ``paths`` is one file, a glob pattern (expanded by clusterkit, so it may be quoted on
    a command line) or a list of files and patterns. One file gives a :class:`Dataset`;
    several files forming one time series of a variable (same variable, grid and
    calendar, no time step in two files, in any order) give a
    :class:`~clusterkit.io.multifile.MultiFileDataset` with the same interface, its
    time-dependent variables joined along time. ``ds[name]`` is a
    :class:`~clusterkit.io.variable.Variable`; ``ds[name].read(grid)`` its block as a
    DistArray.

    Raises
    ------
    InputError
        On every rank: a file missing, unreadable or not NetCDF; a pattern that matches
        no file; several files that do not form one time series (naming the file, or
        both files where they overlap).
    """
    files = expand_inputs(paths, comm)
    if len(files) == 1:
        return Dataset(files[0], comm)
    return MultiFileDataset(files, comm, open_file=_open_part)


def _open_part(path, comm):
    """One of several files of a series: every rank opens it and reads independently.
    Opening through MPI-IO is a collective set-up per file and a file's part of a read is
    small, so collective transfers would make each file switch cost more than they save."""
    return Dataset(path, comm, parallel=False)
