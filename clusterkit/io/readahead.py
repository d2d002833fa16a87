"""Read-ahead hints: ask the operating system to start reading a hyperslab that will be
read soon, so that a cold read (from disk, not the page cache) of the next time chunk
overlaps with the computation on this one.

Only contiguous, unfiltered HDF5 datasets are hinted: their hyperslabs are byte ranges
of the file (``posix_fadvise(POSIX_FADV_WILLNEED)`` on each). A hint never changes what
is read, never blocks on the data and never raises; where the OS has no
``posix_fadvise`` it does nothing.
"""

import math
import os

__all__ = ["byte_ranges", "advise", "hint"]

#: at most this many ranges a hint (a time chunk of a rank's block is one range a step)
MAX_RANGES = 4096


def byte_ranges(shape, itemsize, offset, selection, max_ranges=MAX_RANGES):
    """The byte ranges ``[(start, length)]`` of the C-order hyperslab ``selection``
    (slices of step 1) of an array of ``shape`` stored contiguously at file ``offset``,
    adjacent ranges merged; [] for an empty selection, None if a slice has another step
    or the selection is more than ``max_ranges`` ranges."""
    bounds = []
    for s, n in zip(selection, shape):
        start, stop, step = s.indices(n)
        if step != 1:
            return None
        if stop <= start:
            return []
        bounds.append((start, stop))
    k = len(shape) - 1            # the axes after k are whole: one run spans them
    while k > 0 and bounds[k] == (0, shape[k]):
        k -= 1
    inner = math.prod(shape[k + 1:])
    run = (bounds[k][1] - bounds[k][0]) * inner * itemsize
    outer = bounds[:k]
    if math.prod(b - a for a, b in outer) > max_ranges:
        return None
    strides = [math.prod(shape[i + 1:]) for i in range(len(shape))]
    ranges = []
    index = [a for a, _ in outer]
    while True:
        first = sum(i * strides[d] for d, i in enumerate(index)) + bounds[k][0] * strides[k]
        start = offset + first * itemsize
        if ranges and ranges[-1][0] + ranges[-1][1] == start:
            ranges[-1] = (ranges[-1][0], ranges[-1][1] + run)
        else:
            ranges.append((start, run))
        d = len(index) - 1        # the next index of the outer axes, last fastest
        while d >= 0:
            index[d] += 1
            if index[d] < outer[d][1]:
                break
            index[d] = outer[d][0]
            d -= 1
        if d < 0:
            return ranges


def advise(fd, ranges):
    """Hint the OS to read ``ranges`` of the open file ``fd`` ahead; True if hinted."""
    if not ranges or not hasattr(os, "posix_fadvise"):
        return False
    try:
        for start, length in ranges:
            os.posix_fadvise(fd, start, length, os.POSIX_FADV_WILLNEED)
    except OSError:
        return False
    return True


def hint(dataset, selection, path, fd=None):
    """Hint the OS to read the hyperslab ``selection`` of the h5py ``dataset`` of the file
    ``path`` ahead, if the dataset is contiguous and unfiltered; ``fd``: the file opened
    for hints by an earlier call, or None (then opened here). Returns the descriptor to
    pass next time (the caller closes it), or None."""
    offset = dataset.id.get_offset() if dataset.chunks is None else None
    ranges = None if offset is None else \
        byte_ranges(dataset.shape, dataset.dtype.itemsize, offset, selection)
    if ranges:
        if fd is None:
            try:
                fd = os.open(path, os.O_RDONLY)
            except OSError:
                return None
        advise(fd, ranges)
    return fd
