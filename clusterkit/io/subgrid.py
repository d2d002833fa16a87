"""One variable of an open dataset seen on a part of its horizontal grid.

A :class:`Subgrid` wraps a dataset (or a :class:`~clusterkit.io.reorder.Reordered` view)
whose variable ``name`` has latitude and longitude as its last two axes, and presents
that variable restricted to a region (:func:`clusterkit.io.region.select_region`): one
run of latitudes and one or more runs of longitudes, which the view places side by side
in output order. Selections are given in the region's coordinates; each read fetches
only the region's hyperslabs. A region inside one longitude run costs nothing beyond
the shifted read; a region across the seam of the file's longitudes is read run by run
straight into one C-contiguous block (HDF5 places each run in its columns: no copy).
Code written for a whole grid (climate-stats' passes) then reads a region unchanged.
Every other name and method is the wrapped dataset's.
"""

import numpy as np

from .view import VariableView

__all__ = ["Subgrid", "subgrid"]


def subgrid(dataset, name, lat, lon_runs):
    """``dataset`` with variable ``name`` seen on the latitudes ``lat`` (a slice) and
    the longitude runs ``lon_runs`` (slices, in output order) of its last two axes, or
    ``dataset`` itself when they are the whole grid in file order."""
    ny, nx = tuple(dataset.shape(name))[-2:]
    if lat.indices(ny) == (0, ny, 1) and len(lon_runs) == 1 and \
            lon_runs[0].indices(nx) == (0, nx, 1):
        return dataset
    return Subgrid(dataset, name, lat, lon_runs)


class Subgrid(VariableView):
    """A dataset whose variable ``name`` is seen on a region of its (lat, lon) axes.

    ``shape``, ``read``, ``read_into`` and ``chunk_reader`` of ``name`` take and give
    the region's extent: latitude ``lat`` (file indices, step 1) and the longitude runs
    ``lon_runs`` (file index slices, step 1) concatenated in order. Every read of
    ``name`` issues one read of the wrapped dataset per longitude run on every rank
    (an empty one where a rank's columns miss a run), so collective reads pair up
    across ranks without a message.

    Parameters
    ----------
    dataset : Dataset, MultiFileDataset or Reordered
        Its variable ``name`` has latitude and longitude as the last two axes.
    name : str
    lat : slice
    lon_runs : sequence of slice
    """

    def __init__(self, dataset, name, lat, lon_runs):
        super().__init__(dataset, name)
        ny, nx = tuple(dataset.shape(name))[-2:]
        self.lat = slice(*lat.indices(ny)[:2])
        self.lon_runs = tuple(slice(*r.indices(nx)[:2]) for r in lon_runs)
        if not self.lon_runs or any(r.stop <= r.start for r in (self.lat,) + self.lon_runs):
            raise ValueError(f"empty region {lat}, {lon_runs} of {name!r}")
        self._widths = [r.stop - r.start for r in self.lon_runs]
        self._offsets = np.concatenate([[0], np.cumsum(self._widths)]).astype(int)

    def __repr__(self):
        return (f"<Subgrid {self.name!r} lat {self.lat} lon {self.lon_runs} of "
                f"{self.dataset!r}>")

    def buffer_bytes(self, elements):
        """Bytes of the block a read of ``elements`` values is assembled in (across the
        seam only)."""
        if len(self.lon_runs) == 1:
            return 0
        return int(elements) * np.dtype(self.dataset.dtype(self.name)).itemsize

    def shape(self, name):
        """Shape of variable ``name`` (``self.name``: the region's)."""
        shape = tuple(self.dataset.shape(name))
        if name != self.name:
            return shape
        return shape[:-2] + (self.lat.stop - self.lat.start, int(self._offsets[-1]))

    # -- data ------------------------------------------------------------------------
    def pieces(self, lat, lon):
        """The file selections of the region's rows ``lat`` and columns ``lon`` (slices
        in region coordinates): ``(file_lat, [(file_lon, dest_lon), ...])``, one pair per
        longitude run (``file_lon`` empty where ``lon`` misses the run), ``dest_lon``
        the columns of the result the run fills."""
        ny, nx = self.lat.stop - self.lat.start, int(self._offsets[-1])
        y0, y1, _ = lat.indices(ny)
        x0, x1, _ = lon.indices(nx)
        file_lat = slice(self.lat.start + y0, self.lat.start + max(y0, y1))
        out = []
        for run, off, width in zip(self.lon_runs, self._offsets, self._widths):
            a, b = max(x0, off), min(x1, off + width)
            if b <= a:
                out.append((slice(run.start, run.start), slice(0, 0)))
            else:
                out.append((slice(run.start + a - off, run.start + b - off),
                            slice(a - x0, b - x0)))
        return file_lat, out

    def _split(self, selection):
        """``selection`` of the region → its leading part, the file's latitude slice
        and the longitude pieces (see :meth:`pieces`)."""
        lead = tuple(selection[:-2])
        file_lat, runs = self.pieces(selection[-2], selection[-1])
        return lead, file_lat, runs

    def _block_shape(self, name, lead, file_lat, runs):
        shape = tuple(self.dataset.shape(name))
        sizes = [len(range(*s.indices(n))) for s, n in zip(lead, shape)]
        return tuple(sizes) + (file_lat.stop - file_lat.start,
                               sum(d.stop - d.start for _, d in runs))

    def read(self, name, selection, dtype=None, decode=True, out=None):
        """Read (and CF-decode) the hyperslab ``selection`` (in region coordinates) of
        ``name``, as the wrapped dataset's ``read``. Collective. ``out`` (raw reads
        only): a reusable buffer of the stored dtype; a view of it is returned."""
        if name != self.name:
            return self.dataset.read(name, selection, dtype=dtype, decode=decode, out=out)
        lead, file_lat, runs = self._split(selection)
        if len(runs) == 1:
            return self.dataset.read(name, lead + (file_lat, runs[0][0]), dtype=dtype,
                                     decode=decode, out=out)
        if decode:    # decoded values (packed float32): read each run, then join them
            parts = [self.dataset.read(name, lead + (file_lat, f), dtype=dtype)
                     for f, _ in runs]
            return np.concatenate(parts, axis=-1)
        shape = self._block_shape(name, lead, file_lat, runs)
        stored = np.dtype(self.dataset.dtype(name))
        if out is None or out.dtype != stored or out.size < int(np.prod(shape)):
            block = np.empty(shape, stored)
        else:
            block = out.reshape(-1)[:int(np.prod(shape))].reshape(shape)
        self._read_runs(name, lead, file_lat, runs, block)
        return block

    def _read_runs(self, name, lead, file_lat, runs, block):
        """Each longitude run straight into its columns of ``block``. Collective."""
        whole = tuple(slice(None) for _ in range(block.ndim - 1))
        for file_lon, dest_lon in runs:
            self.dataset.read_into(name, lead + (file_lat, file_lon), block,
                                   whole + (dest_lon,))

    def advise(self, name, selection):
        """Read-ahead hint for ``selection`` (region coordinates) of ``name``."""
        if name != self.name:
            return self.dataset.advise(name, selection)
        lead, file_lat, runs = self._split(selection)
        for file_lon, _ in runs:
            if file_lon.stop > file_lon.start:
                self.dataset.advise(name, lead + (file_lat, file_lon))
        return None

    def read_into(self, name, selection, dest, dest_selection):
        """Read the hyperslab ``selection`` (region coordinates) of ``name`` as stored,
        converted to ``dest``'s dtype, into ``dest[dest_selection]``. Collective."""
        if name != self.name:
            return self.dataset.read_into(name, selection, dest, dest_selection)
        lead, file_lat, runs = self._split(selection)
        dest_sel = tuple(dest_selection)
        base = dest_sel[-1].indices(dest.shape[-1])[0]
        for file_lon, dest_lon in runs:
            cols = slice(base + dest_lon.start, base + dest_lon.stop)
            self.dataset.read_into(name, lead + (file_lat, file_lon), dest,
                                   dest_sel[:-1] + (cols,))
        return None

    def chunk_reader(self, name, max_elements):
        """``(decode, read)`` as the wrapped dataset's ``chunk_reader``, ``read`` taking
        selections in region coordinates and returning C-contiguous blocks of the
        region, in one reused buffer of ``max_elements`` when the values stay raw. Each
        ``read`` is collective."""
        decode, read_file = self.dataset.chunk_reader(name, max_elements)
        if name != self.name:
            return decode, read_file
        if len(self.lon_runs) == 1:
            def shifted(selection):
                lead, file_lat, runs = self._split(selection)
                return read_file(lead + (file_lat, runs[0][0]))
            return decode, shifted
        if decode is None:        # values decoded on reading: read_file decodes each run
            def joined(selection):
                return self.read(name, selection)
            return decode, joined
        buf = np.empty(int(max_elements), np.dtype(self.dataset.dtype(name)))

        def read(selection):
            return self.read(name, selection, decode=False, out=buf)
        return decode, read
