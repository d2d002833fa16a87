"""Read-ahead hints: the byte ranges of a hyperslab are the file's bytes of its values."""

import numpy as np
import pytest

from clusterkit.io.readahead import advise, byte_ranges

h5py = pytest.importorskip("h5py")


@pytest.mark.parametrize("selection", [
    (slice(3, 9), slice(0, 7), slice(0, 11)),        # whole rows: one range
    (slice(0, 13), slice(2, 5), slice(0, 11)),       # a rank's rows: a range a step
    (slice(4, 6), slice(1, 6), slice(3, 8)),         # a box: a range a row a step
    (slice(12, 13), slice(6, 7), slice(10, 11)),     # one value
])
def test_ranges_hold_exactly_the_hyperslabs_values(tmp_path, selection):
    data = np.arange(13 * 7 * 11, dtype="f4").reshape(13, 7, 11)
    path = tmp_path / "c.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("pad", data=np.zeros(37, "i1"))    # the data not at offset 0
        f.create_dataset("x", data=data)
    with h5py.File(path, "r") as f:
        offset = f["x"].id.get_offset()
    ranges = byte_ranges(data.shape, 4, offset, selection)
    raw = path.read_bytes()
    got = np.concatenate([np.frombuffer(raw[a:a + n], "f4") for a, n in ranges])
    np.testing.assert_array_equal(got, data[selection].ravel())
    starts = [a for a, _ in ranges]
    assert starts == sorted(starts) and all(
        a + n < b for (a, n), (b, _) in zip(ranges, ranges[1:]))   # adjacent ones merged
    with open(path, "rb") as fh:
        assert advise(fh.fileno(), ranges) is True


def test_no_ranges_for_steps_empty_or_too_many():
    assert byte_ranges((5, 4), 8, 0, (slice(0, 5, 2), slice(0, 4))) is None
    assert byte_ranges((5, 4), 8, 0, (slice(2, 2), slice(0, 4))) == []
    assert byte_ranges((100, 100, 3), 4, 0, (slice(0, 100), slice(0, 100), slice(0, 2)),
                       max_ranges=999) is None
    assert byte_ranges((100, 100, 3), 4, 16, (slice(0, 100), slice(0, 100), slice(0, 3))) \
        == [(16, 120000)]


def test_hint_opens_the_file_once_and_skips_chunked_variables(tmp_path):
    import os
    from clusterkit.io.readahead import hint
    path = tmp_path / "h.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("flat", data=np.zeros((6, 5), "f4"))
        f.create_dataset("chunked", data=np.zeros((6, 5), "f4"), chunks=(2, 5))
    with h5py.File(path, "r") as f:
        assert hint(f["chunked"], (slice(0, 2), slice(0, 5)), str(path)) is None
        fd = hint(f["flat"], (slice(0, 2), slice(0, 5)), str(path))
        assert isinstance(fd, int)
        assert hint(f["flat"], (slice(2, 4), slice(0, 5)), str(path), fd) == fd
        os.close(fd)
