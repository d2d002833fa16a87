"""STREAM triad kernel against NumPy; argument checks."""

import numpy as np
import pytest

from clusterkit.kernels import stream

VARIANTS = {"serial": False, "parallel": True}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("n", [0, 1, 7, 1009])
def test_triad_matches_numpy(dtype, variant, n):
    rng = np.random.default_rng(n)
    b = rng.standard_normal(n).astype(dtype)
    c = rng.standard_normal(n).astype(dtype)
    a = np.full(n, np.nan, dtype=dtype)
    out = stream.stream_triad(a, b, c, 3.0, parallel=VARIANTS[variant])
    assert out is a
    expect = (b.astype(np.float64) + 3.0 * c.astype(np.float64)).astype(dtype)
    np.testing.assert_array_equal(a, expect)


def test_triad_strided_views():
    rng = np.random.default_rng(0)
    big = rng.standard_normal((3, 50))
    a = np.zeros(100)[::4]
    stream.stream_triad(a, big[0, ::2], big[1, 1::2], -0.5)
    np.testing.assert_array_equal(a, big[0, ::2] - 0.5 * big[1, 1::2])


def test_triad_bad_args():
    a, b = np.zeros(4), np.ones(4)
    with pytest.raises(ValueError, match="shape"):
        stream.stream_triad(a, b, np.ones(5), 1.0)
    with pytest.raises(TypeError, match="scalar"):
        stream.stream_triad(a, b, b, "2")
    with pytest.raises(TypeError, match="scalar"):
        stream.stream_triad(a, b, b, True)
    with pytest.raises(ValueError, match="share memory"):
        stream.stream_triad(b, b, a, 1.0)
    with pytest.raises(ValueError, match="1-D"):
        stream.stream_triad(np.zeros((2, 2)), np.zeros((2, 2)), np.zeros((2, 2)), 1.0)
