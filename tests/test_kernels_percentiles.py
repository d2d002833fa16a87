"""nan_percentiles against its NumPy twin, np.nanpercentile (linear), on awkward inputs."""

import warnings

import numpy as np
import pytest

from clusterkit.kernels import nan_percentiles


def twin(x, q):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)   # all-NaN slices
        return np.nanpercentile(x.astype(np.float64), q, axis=0)


@pytest.mark.parametrize("shape", [(1, 5), (2, 3), (7, 1), (365, 70), (13, 3, 4), (40, 129)])
@pytest.mark.parametrize("dtype", ["f4", "f8"])
@pytest.mark.parametrize("parallel", [False, True])
def test_matches_numpy(shape, dtype, parallel):
    rng = np.random.default_rng(sum(shape))
    x = (280 + 10 * rng.standard_normal(shape)).astype(dtype)
    x[rng.random(shape) < 0.3] = np.nan
    x[:, 0] = np.nan                      # a point never valid
    if shape[0] > 1:
        x[1:, -1] = np.nan                # a point valid once
        x[:, 1 % x.shape[1]] = x[0, 1 % x.shape[1]]   # ties
    q = [0, 5, 33.3, 50, 95, 99.9, 100, 2.5]    # not sorted: the last goes first
    got = nan_percentiles(x, q, parallel=parallel)
    np.testing.assert_allclose(got, twin(x, q), rtol=1e-15, atol=0)
    assert np.array_equal(np.isnan(got), np.isnan(twin(x, q)))


def test_out_argument_and_bad_input():
    x = np.arange(12.0).reshape(4, 3)
    out = np.empty((2, 3))
    assert nan_percentiles(x, [25, 75], out=out) is out
    np.testing.assert_array_equal(out, np.percentile(x, [25, 75], axis=0))
    with pytest.raises(ValueError, match=r"percentiles must lie in \[0, 100\]"):
        nan_percentiles(x, [101])
    with pytest.raises(ValueError, match="out must be"):
        nan_percentiles(x, [5], out=np.empty((2, 3)))
    with pytest.raises(TypeError):
        nan_percentiles(x.astype(int), [5])


@pytest.mark.parametrize("parallel", [False, True])
def test_raw_values_decoded_in_the_kernel(parallel):
    rng = np.random.default_rng(5)
    raw = rng.integers(-3000, 3000, size=(50, 4, 7)).astype(np.int16)
    raw[rng.random(raw.shape) < 0.2] = -32767
    raw[:, 0, 0] = 9999                                # a point with only missing values
    scale, offset = 0.01, 280.0
    x = np.where((raw == -32767) | (raw == 9999), np.nan, raw * scale + offset)
    q = [5, 50, 95]
    got = nan_percentiles(raw, q, decode=(scale, offset, (-32767, 9999)), parallel=parallel)
    np.testing.assert_array_equal(got, twin(x, q))
