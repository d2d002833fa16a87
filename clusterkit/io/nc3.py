"""NetCDF-3 files (classic, 64-bit offset, CDF-5) for :class:`~clusterkit.io.dataset.Dataset`.

NetCDF-3 is not HDF5, so parallel HDF5 cannot read it; netCDF4-python (the netCDF-C
library) can. Every rank opens the file itself and reads its own hyperslab
independently; values come back as stored (no masking or scaling: the Dataset decodes
them as it decodes NetCDF-4). The classes give the few h5py operations the Dataset
uses, so the rest of clusterkit does not know which format it reads.
"""

import numpy as np

from ..errors import InputError

__all__ = ["NC3_SIGNATURES", "is_netcdf3", "NC3File"]

#: the first four bytes of NetCDF-3 classic, 64-bit offset and CDF-5 files
NC3_SIGNATURES = (b"CDF\x01", b"CDF\x02", b"CDF\x05")


def is_netcdf3(path):
    """Whether ``path`` starts with a NetCDF-3 signature."""
    try:
        with open(path, "rb") as f:
            return f.read(4) in NC3_SIGNATURES
    except OSError:
        return False


def _netcdf4():
    try:
        import netCDF4
    except ImportError:
        raise InputError("reading NetCDF-3 files needs the netCDF4 package "
                         "(pip install netCDF4), or convert with 'nccopy -k nc4'") from None
    return netCDF4


class NC3Variable:
    """One variable: ``dims``, ``shape``, ``dtype``, ``ndim``, ``attrs`` and raw reads."""

    def __init__(self, var):
        self._var = var
        self.dims = tuple(var.dimensions)
        self.shape = tuple(var.shape)
        self.dtype = np.dtype(var.dtype) if not isinstance(var.dtype, type) else np.dtype("O")
        self.ndim = len(self.shape)
        self.attrs = {k: var.getncattr(k) for k in var.ncattrs()}

    def __getitem__(self, selection):
        return np.asarray(self._var[selection])

    def read_direct(self, dest, source_sel, dest_sel=None):
        """Read ``source_sel`` into ``dest[dest_sel]`` (converting to ``dest``'s dtype)."""
        target = dest if dest_sel is None else dest[tuple(dest_sel)]
        if all(n > 0 for n in target.shape):
            target[...] = self._var[tuple(source_sel)]


class NC3File:
    """A NetCDF-3 file opened on this rank for reading (raw values)."""

    def __init__(self, path):
        netCDF4 = _netcdf4()
        try:
            self._nc = netCDF4.Dataset(path, "r")
        except OSError as exc:
            raise InputError(f"input {path!r} has a NetCDF-3 signature but does not open "
                             f"({' '.join(str(exc).split())})") from None
        self._nc.set_auto_maskandscale(False)
        self._vars = {}

    def close(self):
        self._nc.close()

    def names(self):
        """Variable names in file order."""
        return list(self._nc.variables)

    def variable(self, name):
        """The :class:`NC3Variable` ``name``, or None."""
        if not isinstance(name, str) or name not in self._nc.variables:
            return None
        if name not in self._vars:
            self._vars[name] = NC3Variable(self._nc.variables[name])
        return self._vars[name]
