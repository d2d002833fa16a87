"""Write NetCDF-4 files collectively from DistArray blocks, atomically (temporary, then rename).

The files are plain HDF5 laid out as netCDF-C expects (dimension scales with
``_Netcdf4Dimid``, coordinate variables, netCDF-C's placeholder datasets for dimensions
without one, fixed-length string attributes, ``_FillValue``), so xarray, CDO and
``ncdump`` read them. The temporary file, the agreement of every collective HDF5 step
across the ranks and the space reservation are :class:`~clusterkit.io.staged.StagedFile`'s.
"""

import os

import numpy as np

from .. import comm as _comm
from .parallel import funnel_write, parallel_io
from .output_path import check_output_path
from .staged import StagedFile
from .temporaries import remove_stale_temporaries, temporary_name
from ..trace import traced

__all__ = ["NCWriter", "NO_FILL"]

#: ``fill_value`` of :meth:`NCWriter.variable` for a variable without ``_FillValue``
NO_FILL = object()

#: the ``NAME`` netCDF-C gives the dataset standing for a dimension without a variable
_PHONY = "This is a netCDF dimension but not a netCDF variable.{:10d}"


# -- NetCDF-4 ----------------------------------------------------------------------------
def _attr_value(value):
    """Attributes as netCDF expects: strings fixed-length ASCII (NC_CHAR), numbers typed."""
    if isinstance(value, bytes):
        return np.bytes_(value)
    if isinstance(value, str):
        return np.bytes_(value.encode("utf-8"))
    return np.asarray(value) if not np.isscalar(value) else value


def _set_attrs(obj, attrs):
    if obj is None:
        return
    for k, v in attrs.items():
        if k in ("_FillValue",):
            continue
        obj.attrs[k] = _attr_value(v)


class NCWriter:
    """A NetCDF-4 file being written by every rank of ``comm``.

    Data go to a hidden temporary file beside ``path`` (:func:`temporary_name`; stale
    ones of the same output are removed first, :func:`remove_stale_temporaries`);
    :meth:`close` renames it to ``path`` once every rank has finished, and leaving the
    ``with`` block on an exception deletes it, so no partial output file is ever left
    at ``path``. A write the file system refuses on any rank raises the same
    ``OSError`` on every rank (see :class:`StagedFile`).

    Parameters
    ----------
    path : str
        Final file name.
    comm : mpi4py.MPI.Intracomm, optional
    overwrite : bool
        Replace an existing ``path``.
    attrs : mapping, optional
        Global attributes (``Conventions`` defaults to ``CF-1.8``).
    """

    def __init__(self, path, comm=None, overwrite=False, attrs=None):
        self.comm = _comm.resolve(comm)
        check_output_path(path, overwrite, self.comm)
        self.path = os.fspath(path)

        def prepare():
            remove_stale_temporaries(self.path)
            return temporary_name(self.path)
        self.tmp = self.comm.bcast(prepare() if self.comm.Get_rank() == 0 else None, root=0)
        self.parallel = parallel_io(self.comm)
        self._staged = StagedFile(self.path, self.tmp, self.comm, self.parallel,
                                  track_order=True)
        self._dimids = {}
        self._names = []
        self._reserved_for = 0
        try:
            self._staged.step(_set_attrs, self.file,
                              {"Conventions": "CF-1.8", **(attrs or {})})
        except BaseException as exc:
            self._staged.abandon(exc)
            raise

    @property
    def file(self):
        """The open ``h5py.File`` (``None`` on ranks other than 0 with serial h5py)."""
        return self._staged.file

    # -- structure -------------------------------------------------------------------
    def dimension(self, name, values, attrs=None):
        """Create dimension ``name`` with its coordinate variable (1-D ``values``). Collective."""
        values = np.asarray(values)

        def define():
            if self.file is None:
                return
            ds = self.file.create_dataset(name, shape=values.shape, dtype=values.dtype,
                                          track_order=True)
            ds.make_scale(name)
            ds.attrs["_Netcdf4Dimid"] = np.int32(len(self._dimids))
            _set_attrs(ds, attrs or {})
        self._staged.step(define)
        self._dimids[name] = values.shape[0]
        self._names.append(name)
        self._staged.reserve(self._datasets)

        def fill():
            if self.file is not None and self.comm.Get_rank() == 0:
                self.file[name][...] = values
        self._staged.step(fill)

    def index_dimension(self, name, size):
        """Create dimension ``name`` of ``size`` without a coordinate variable. Collective.

        For dimensions the input has no coordinate variable for (an ocean grid's rows and
        columns, a bounds variable's vertices): CF and xarray keep them without one.
        Written as netCDF-C does, a dimension scale named :data:`_PHONY` that netCDF
        readers do not list as a variable.
        """
        dimid = len(self._dimids)

        def define():
            if self.file is not None:
                self._phony(name, size, dimid)
        self._staged.step(define)
        self._dimids[name] = int(size)
        self._names.append(name)
        self._staged.reserve(self._datasets)

    def _phony(self, name, size, dimid):
        """netCDF-C's placeholder dataset of a dimension without a coordinate variable."""
        d = self.file.create_dataset(name, shape=(size,), dtype="f4", track_order=True)
        d.make_scale(_PHONY.format(size))
        d.attrs["_Netcdf4Dimid"] = np.int32(dimid)

    def scalar(self, name, value, attrs=None):
        """Create the scalar variable ``name`` holding ``value``, without ``_FillValue``
        (e.g. a CF grid-mapping variable, whose attributes are what matters). Collective."""
        value = np.asarray(value)

        def define():
            if self.file is not None:
                ds = self.file.create_dataset(name, shape=(), dtype=value.dtype,
                                              track_order=True)
                _set_attrs(ds, attrs or {})
        self._staged.step(define)
        self._names.append(name)
        self._staged.reserve(self._datasets)

        def fill():
            if self.file is not None and self.comm.Get_rank() == 0:
                self.file[name][()] = value
        self._staged.step(fill)

    def label_dimension(self, name, labels, attrs=None):
        """Create dimension ``name`` whose coordinate holds the strings ``labels`` (e.g.
        seasons). Collective.

        Written as netCDF-C writes a char coordinate: ``name(name, name_strlen)`` of
        NC_CHAR, since parallel HDF5 cannot write variable-length strings, with
        ``name_strlen`` a dimension without a variable; a scale cannot be attached to a
        scale, so ``_Netcdf4Coordinates`` names both dimensions. xarray and ncdump read
        the labels as strings.
        """
        data = [str(v).encode() for v in labels]
        n = max(len(v) for v in data)
        chars = np.array([v.ljust(n) for v in data], f"S{n}").view("S1").reshape(len(data), n)
        strlen, first = f"{name}_strlen", len(self._dimids)

        def define():
            if self.file is None:
                return
            self._phony(strlen, n, first)
            c = self.file.create_dataset(name, shape=chars.shape, dtype="S1",
                                         track_order=True)
            c.make_scale(name)
            c.attrs["_Netcdf4Dimid"] = np.int32(first + 1)
            c.attrs["_Netcdf4Coordinates"] = np.array([first + 1, first], np.int32)
            c.attrs["_Encoding"] = "utf-8"
            _set_attrs(c, attrs or {})
        self._staged.step(define)
        self._dimids[strlen], self._dimids[name] = n, len(data)
        self._names += [strlen, name]
        self._staged.reserve(self._datasets)

        def fill():
            if self.file is not None and self.comm.Get_rank() == 0:
                self.file[name][...] = chars
        self._staged.step(fill)

    def variable(self, name, dims, dtype="f8", attrs=None, fill_value=None, chunks=None,
                 compression=None, prefill=True):
        """Create variable ``name`` over existing ``dims``. Collective.

        Floating-point variables get ``_FillValue`` NaN unless ``fill_value`` is given;
        ``fill_value=NO_FILL``: none (CF: coordinates, auxiliary ones and their bounds
        included, hold no missing values).
        With ``prefill=False`` the caller promises to write every element: HDF5 then
        does not write the fill value into the whole variable first (parallel HDF5
        allocates at creation, so prefilling costs a full extra write of the variable).
        """
        for d in dims:
            if d not in self._dimids:
                raise ValueError(f"variable {name!r} uses dimension {d!r}, which was not "
                                 "created with dimension()")
        dtype = np.dtype(dtype)
        if fill_value is NO_FILL:
            fill_value = None
        elif fill_value is None and dtype.kind == "f":
            fill_value = np.nan
        shape = tuple(self._dimids[d] for d in dims)
        # parallel HDF5 allocates (and, prefilled, writes) the variable when creating it
        self._staged.reserve(self._datasets,
                             extra=int(np.prod(shape, dtype=np.int64)) * dtype.itemsize)

        def define():
            if self.file is None:
                return
            ds = self.file.create_dataset(name, shape=shape, dtype=dtype, chunks=chunks,
                                          fillvalue=fill_value, track_order=True,
                                          compression=compression,
                                          fill_time="ifset" if prefill else "never")
            if fill_value is not None:
                ds.attrs["_FillValue"] = np.asarray(fill_value, dtype=dtype)
            for i, d in enumerate(dims):
                ds.dims[i].attach_scale(self.file[d])
            _set_attrs(ds, attrs or {})
        self._staged.step(define)
        self._names.append(name)

    def _datasets(self):
        return [self.file[n] for n in self._names] if self.file is not None else []

    # -- data ------------------------------------------------------------------------
    @traced("io.write")
    def write(self, name, block, start):
        """Write this rank's ``block`` of ``name`` at global index ``start``. Collective.

        Every rank calls it (an empty block is fine). Parallel HDF5: one collective
        transfer. Serial h5py: the blocks are sent to rank 0, which writes them in
        rank order (:func:`~clusterkit.io.parallel.funnel_write`).
        """
        block = np.ascontiguousarray(block)
        sel = tuple(slice(s, s + n) for s, n in zip(start, block.shape))
        if self._reserved_for != len(self._names):     # variables created since
            self._staged.reserve(self._datasets)
            self._reserved_for = len(self._names)
        if not self.parallel:
            self._staged.step(lambda: funnel_write(
                self.comm, self.file[name] if self.file is not None else None, block, sel))
            return
        every = self.comm.allreduce(block.size > 0, op=_comm.MPI.LAND)

        def put():
            ds = self.file[name]
            if every:
                with ds.collective:
                    ds.write_direct(block, dest_sel=sel)
            elif block.size:
                ds.write_direct(block, dest_sel=sel)
        self._staged.step(put)

    # -- completion --------------------------------------------------------------------
    @traced("io.close")
    def close(self):
        """Finish the file and rename it to its final name (collective)."""
        if self._staged.done:
            return
        self._staged.reserve(self._datasets)
        self._staged.commit()

    def discard(self):
        """Abandon the file: close and delete the temporary (collective)."""
        self._staged.abandon()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.close()
        else:
            self._staged.abandon(exc)
        return False
