"""Write NetCDF-4 files collectively from DistArray blocks, atomically (temporary name, then rename).

The files are plain HDF5 laid out as netCDF-C expects (dimension scales with
``_Netcdf4Dimid``, coordinate variables, fixed-length string attributes,
``_FillValue``), so xarray, CDO and ``ncdump`` read them.
"""

import os
import secrets

import h5py
import numpy as np

from .. import comm as _comm
from ..comm import check
from .dataset import funnel_write, parallel_io
from ..trace import traced
from ..errors import InputError, InputFileExistsError, InputFileNotFoundError, InputIsADirectoryError, InputPermissionError

__all__ = ["NCWriter", "check_output_path"]


def _output_problem(path, overwrite):
    """The exception that makes ``path`` unusable as output, or ``None``."""
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        return InputIsADirectoryError(f"output {path!r} is a directory")
    if os.path.exists(path) and not overwrite:
        return InputFileExistsError(f"output {path!r} exists; pass --overwrite to replace it")
    if not os.path.isdir(folder):
        return InputFileNotFoundError(f"output directory {folder!r} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        return InputPermissionError(f"output directory {folder!r} is not writable")
    return None


def check_output_path(path, overwrite=False, comm=None):
    """Check on rank 0 that ``path`` can be written; raise the same error on every rank."""
    _comm.root_decides(lambda: _output_problem(path, overwrite), comm)


def _attr_value(value):
    """Attributes as netCDF expects: strings fixed-length ASCII (NC_CHAR), numbers typed."""
    if isinstance(value, bytes):
        return np.bytes_(value)
    if isinstance(value, str):
        return np.bytes_(value.encode("utf-8"))
    return np.asarray(value) if not np.isscalar(value) else value


class NCWriter:
    """A NetCDF-4 file being written by every rank of ``comm``.

    Data go to a hidden temporary file beside ``path``; :meth:`close` renames it
    to ``path`` once every rank has finished, and leaving the ``with`` block on
    an exception deletes it, so no partial output file is ever left at ``path``.

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
        self.path = path
        token = self.comm.bcast(secrets.token_hex(4), root=0)
        folder, base = os.path.split(os.path.abspath(path))
        self.tmp = os.path.join(folder, f".{base}.tmp-{token}")
        self.parallel = parallel_io(self.comm)
        kwargs = {"driver": "mpio", "comm": self.comm} if self.parallel else {}
        if self.parallel or self.comm.Get_rank() == 0:
            self.file = h5py.File(self.tmp, "w", track_order=True, **kwargs)
        else:
            self.file = None
        self._dimids = {}
        from ..runtime import on_abort
        on_abort(self._remove_tmp)
        self._set_attrs(self.file, {"Conventions": "CF-1.8", **(attrs or {})})

    # -- structure -------------------------------------------------------------------
    def _set_attrs(self, obj, attrs):
        if obj is None:
            return
        for k, v in attrs.items():
            if k in ("_FillValue",):
                continue
            obj.attrs[k] = _attr_value(v)

    def dimension(self, name, values, attrs=None):
        """Create dimension ``name`` with its coordinate variable (1-D ``values``). Collective."""
        values = np.asarray(values)
        if self.file is not None:
            ds = self.file.create_dataset(name, shape=values.shape, dtype=values.dtype,
                                          track_order=True)
            if self.comm.Get_rank() == 0:
                ds[...] = values
            ds.make_scale(name)
            ds.attrs["_Netcdf4Dimid"] = np.int32(len(self._dimids))
            self._set_attrs(ds, attrs or {})
        self._dimids[name] = values.shape[0]

    def variable(self, name, dims, dtype="f8", attrs=None, fill_value=None, chunks=None,
                 compression=None, prefill=True):
        """Create data variable ``name`` over existing ``dims``. Collective.

        Floating-point variables get ``_FillValue`` NaN unless ``fill_value`` is given.
        With ``prefill=False`` the caller promises to write every element: HDF5 then
        does not write the fill value into the whole variable first (parallel HDF5
        allocates at creation, so prefilling costs a full extra write of the variable).
        """
        for d in dims:
            if d not in self._dimids:
                raise InputError(f"variable {name!r} uses dimension {d!r}, which was not "
                                 "created with dimension()")
        dtype = np.dtype(dtype)
        if fill_value is None and dtype.kind == "f":
            fill_value = np.nan
        shape = tuple(self._dimids[d] for d in dims)
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
        self._set_attrs(ds, attrs or {})

    # -- data ------------------------------------------------------------------------
    @traced("io.write")
    def write(self, name, block, start):
        """Write this rank's ``block`` of ``name`` at global index ``start``. Collective.

        Every rank calls it (an empty block is fine). Parallel HDF5: one collective
        transfer. Serial h5py: the blocks are sent to rank 0, which writes them in
        rank order (:func:`~clusterkit.io.dataset.funnel_write`).
        """
        block = np.ascontiguousarray(block)
        sel = tuple(slice(s, s + n) for s, n in zip(start, block.shape))
        if self.parallel:
            ds = self.file[name]
            if self.comm.allreduce(block.size > 0, op=_comm.MPI.LAND):
                with ds.collective:
                    ds.write_direct(block, dest_sel=sel)
            elif block.size:
                ds.write_direct(block, dest_sel=sel)
            return
        funnel_write(self.comm, self.file[name] if self.file is not None else None, block,
                     sel)

    # -- completion --------------------------------------------------------------------
    def _remove_tmp(self):
        try:
            os.unlink(self.tmp)
        except OSError:
            pass

    @traced("io.close")
    def close(self):
        """Finish the file and rename it to its final name (collective)."""
        if self.file is not None:
            self.file.close()
            self.file = None
        self.comm.Barrier()
        ok = True
        if self.comm.Get_rank() == 0:
            try:
                os.replace(self.tmp, self.path)
            except OSError:
                ok = False
        check(ok, f"could not rename the finished output to {self.path!r}", comm=self.comm)

    def discard(self):
        """Abandon the file: close and delete the temporary (collective)."""
        if self.file is not None:
            try:
                self.file.close()
            finally:
                self.file = None
        self.comm.Barrier()
        if self.comm.Get_rank() == 0:
            self._remove_tmp()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.close()
        else:
            self.discard()
        return False
