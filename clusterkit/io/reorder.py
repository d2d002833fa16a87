"""One variable of an open dataset seen with its dimensions in another order.

A :class:`Reordered` wraps a :class:`~clusterkit.io.dataset.Dataset` or a
:class:`~clusterkit.io.multifile.MultiFileDataset` and presents one variable with its
dimensions permuted: selections are given in the new order, each read fetches the file's
hyperslab in the file's own order (one HDF5 read, contiguous where the file's layout
allows) and copies it once, transposed, into a C-contiguous array in the new order. Code
written for one order (climate-stats' passes, :class:`~clusterkit.io.variable.Variable`)
then reads a variable stored in any order unchanged. Every other name and method is the
wrapped dataset's.
"""

import numpy as np

from .view import VariableView

__all__ = ["Reordered", "reordered"]


def reordered(dataset, name, axes):
    """``dataset`` with variable ``name`` seen in the order ``axes``, or ``dataset`` itself
    when ``axes`` is the file's order (no wrapper, no copy).

    Parameters
    ----------
    dataset : Dataset or MultiFileDataset
    name : str
        The variable to reorder.
    axes : sequence of int
        A permutation of the variable's axes: axis ``i`` of the view is axis ``axes[i]``
        of the file (as in :func:`numpy.transpose`).
    """
    axes = tuple(int(a) for a in axes)
    if axes == tuple(range(len(axes))):
        return dataset
    return Reordered(dataset, name, axes)


class Reordered(VariableView):
    """A dataset whose variable ``name`` is seen with its axes in the order ``axes``.

    ``dims``, ``shape``, ``read``, ``read_into`` and ``chunk_reader`` of ``name`` take and
    give that order; values, dtypes and decoding are the wrapped dataset's. Each read
    costs one transposed copy of the selection (plus, for :meth:`read_into`, a
    temporary in the file's order).

    Parameters
    ----------
    dataset : Dataset or MultiFileDataset
    name : str
    axes : sequence of int
        Axis ``i`` of the view is axis ``axes[i]`` of the file.
    """

    def __init__(self, dataset, name, axes):
        super().__init__(dataset, name)
        self.axes = tuple(int(a) for a in axes)
        if sorted(self.axes) != list(range(len(dataset.dims(name)))):
            raise ValueError(f"axes {self.axes} are not a permutation of the "
                             f"{len(dataset.dims(name))} axes of {name!r}")

    def __repr__(self):
        return f"<Reordered {self.name!r} axes {self.axes} of {self.dataset!r}>"

    def buffer_bytes(self, elements):
        """Bytes of the copy in the view's order a read of ``elements`` values holds."""
        return int(elements) * np.dtype(self.dataset.dtype(self.name)).itemsize

    # -- structure -------------------------------------------------------------------
    def dims(self, name):
        """Dimension names of variable ``name`` (``self.name``: in the view's order)."""
        dims = tuple(self.dataset.dims(name))
        return tuple(dims[a] for a in self.axes) if name == self.name else dims

    def shape(self, name):
        """Shape of variable ``name`` (``self.name``: in the view's order)."""
        shape = tuple(self.dataset.shape(name))
        return tuple(shape[a] for a in self.axes) if name == self.name else shape

    def axis_kinds(self, name):
        """``{dim: kind}`` of variable ``name``'s dimensions (in the view's order)."""
        kinds = self.dataset.axis_kinds(name)
        return {d: kinds[d] for d in self.dims(name)}

    # -- data ------------------------------------------------------------------------
    def _file_selection(self, selection):
        """``selection`` (in the view's order) in the file's order."""
        out = [None] * len(self.axes)
        for i, a in enumerate(self.axes):
            out[a] = selection[i]
        return tuple(out)

    def _into(self, block, out=None):
        """``block`` (file order) copied into a C-contiguous array in the view's order:
        a view of ``out`` (a flat reusable buffer of ``block``'s dtype) when given."""
        view = block.transpose(self.axes)
        if out is None or out.dtype != block.dtype or out.size < block.size:
            dest = np.empty(view.shape, block.dtype)
        else:
            dest = out[:block.size].reshape(view.shape)
        np.copyto(dest, view)
        return dest

    def read(self, name, selection, dtype=None, decode=True, out=None):
        """Read (and CF-decode) the hyperslab ``selection`` (in the view's order) of
        ``name``, as the wrapped dataset's ``read``. Collective. ``out`` (raw reads
        only): a reusable buffer of the stored dtype; a view of it is returned."""
        if name != self.name:
            return self.dataset.read(name, selection, dtype=dtype, decode=decode, out=out)
        block = self.dataset.read(name, self._file_selection(selection), dtype=dtype,
                                  decode=decode)
        return self._into(block, None if decode else out)

    def advise(self, name, selection):
        """Read-ahead hint for ``selection`` (in the view's order) of ``name``."""
        if name != self.name:
            return self.dataset.advise(name, selection)
        return self.dataset.advise(name, self._file_selection(selection))

    def read_into(self, name, selection, dest, dest_selection):
        """Read the hyperslab ``selection`` (in the view's order) of ``name`` as stored,
        converted to ``dest``'s dtype, into ``dest[dest_selection]``. Collective."""
        if name != self.name:
            return self.dataset.read_into(name, selection, dest, dest_selection)
        file_sel = self._file_selection(selection)
        shape = tuple(len(range(*s.indices(n)))
                      for s, n in zip(file_sel, self.dataset.shape(name)))
        block = np.empty(shape, dest.dtype)
        self.dataset.read_into(name, file_sel, block, tuple(slice(None) for _ in shape))
        dest[tuple(dest_selection)] = block.transpose(self.axes)
        return None

    def chunk_reader(self, name, max_elements):
        """``(decode, read)`` as the wrapped dataset's ``chunk_reader``, ``read`` taking
        selections in the view's order and returning C-contiguous blocks in that order,
        copied into one reused buffer of ``max_elements``. Each ``read`` is collective."""
        decode, read_file = self.dataset.chunk_reader(name, max_elements)
        if name != self.name:
            return decode, read_file
        buf = [None]

        def read(selection):
            block = read_file(self._file_selection(selection))
            if buf[0] is None or buf[0].dtype != block.dtype:
                buf[0] = np.empty(max(int(max_elements), block.size), block.dtype)
            return self._into(block, buf[0])
        return decode, read
