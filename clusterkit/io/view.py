"""The base of dataset views that present one variable differently (another axis order:
:class:`~clusterkit.io.reorder.Reordered`; a region of its grid:
:class:`~clusterkit.io.subgrid.Subgrid`): every other name, method and variable is the
wrapped dataset's, and the view closes it as a ``with`` block ends."""

__all__ = ["VariableView", "copy_bytes"]


class VariableView:
    """A dataset whose variable ``name`` a subclass presents differently.

    Parameters
    ----------
    dataset : Dataset, MultiFileDataset or another view
    name : str
    """

    def __init__(self, dataset, name):
        self.dataset = dataset
        self.name = name

    def __getattr__(self, attr):
        return getattr(self.dataset, attr)

    def __contains__(self, name):
        return name in self.dataset

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return self.dataset.__exit__(*exc)

    def buffer_bytes(self, elements):
        """Bytes a read of ``elements`` values of the variable holds beyond the wrapped
        dataset's own buffer (a subclass's copy)."""
        return 0


def copy_bytes(dataset, name, elements):
    """Bytes a read of up to ``elements`` values of ``name`` from ``dataset`` holds beyond
    the file's own read buffer: the buffers of every view of ``name`` it is made of (0
    for a plain dataset)."""
    total = 0
    while isinstance(dataset, VariableView):
        if dataset.name == name:
            total += dataset.buffer_bytes(elements)
        dataset = dataset.dataset
    return total
