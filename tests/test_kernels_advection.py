"""First-order upwind step: NumPy twin, exact shifts, monotonicity, argument checks."""

import numpy as np
import pytest

from clusterkit.kernels import advection as adv

VARIANTS = {"serial": False, "parallel": True}
INTERIORS = [(1, 1), (1, 8), (9, 1), (2, 3), (13, 11), (7, 19)]


def twin(q, cx, cy):
    """Donor-cell update written with np.where over whole interior slices."""
    q = q.astype(np.float64)
    if cx.shape == q.shape:
        cx = cx[1:-1, 1:-1]
    if cy.shape == q.shape:
        cy = cy[1:-1, 1:-1]
    c = q[1:-1, 1:-1]
    fx = np.where(cx > 0, cx * (c - q[1:-1, :-2]), cx * (q[1:-1, 2:] - c))
    fy = np.where(cy > 0, cy * (c - q[:-2, 1:-1]), cy * (q[2:, 1:-1] - c))
    return c - (fx + fy)


def courant(rng, shape, dtype):
    """Random Courant numbers with |cx| + |cy| <= 1, some exactly 0."""
    cx = rng.uniform(-0.5, 0.5, shape)
    cy = rng.uniform(-0.5, 0.5, shape)
    cx[rng.random(shape) < 0.1] = 0.0
    return cx.astype(dtype), cy.astype(dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("cshape", ["interior", "ghosted", "mixed"])
def test_matches_twin(dtype, variant, cshape):
    rng = np.random.default_rng([np.dtype(dtype).itemsize, len(cshape)])
    rtol = 1e-13 if dtype == np.float64 else 1e-5
    for ny, nx in INTERIORS:
        q = rng.standard_normal((ny + 2, nx + 2)).astype(dtype)
        full = cshape == "ghosted"
        cx, cy = courant(rng, q.shape if full else (ny, nx), dtype)
        if cshape == "mixed":
            cy = np.pad(cy, 1, constant_values=np.nan)  # ghost entries must not be read
        out = np.full_like(q, -7.0)
        assert adv.upwind_step(q, cx, cy, out, parallel=VARIANTS[variant]) is out
        np.testing.assert_allclose(out[1:-1, 1:-1], twin(q, cx, cy), rtol=rtol,
                                   atol=rtol * np.abs(q).max())
        ghost = np.ones(q.shape, bool)
        ghost[1:-1, 1:-1] = False
        assert np.all(out[ghost] == -7.0)


@pytest.mark.parametrize("variant", VARIANTS)
def test_unit_courant_numbers_shift_exactly(variant):
    rng = np.random.default_rng(2)
    q = rng.integers(-1000, 1000, (8, 10)).astype(np.float64)  # exact arithmetic
    one = np.ones((6, 8))
    out = np.zeros_like(q)
    run = lambda cx, cy: adv.upwind_step(q, cx, cy, out, parallel=VARIANTS[variant])[1:-1, 1:-1]
    np.testing.assert_array_equal(run(one, 0 * one), q[1:-1, :-2])    # flow to +x
    np.testing.assert_array_equal(run(-one, 0 * one), q[1:-1, 2:])    # flow to -x
    np.testing.assert_array_equal(run(0 * one, one), q[:-2, 1:-1])    # flow to +y
    np.testing.assert_array_equal(run(0 * one, -one), q[2:, 1:-1])    # flow to -y


@pytest.mark.parametrize("variant", VARIANTS)
def test_monotone_when_courant_sum_at_most_one(variant):
    rng = np.random.default_rng(4)
    q = rng.standard_normal((15, 17))
    cx, cy = courant(rng, (13, 15), np.float64)
    out = np.zeros_like(q)
    adv.upwind_step(q, cx, cy, out, parallel=VARIANTS[variant])
    nb = np.stack([q[1:-1, 1:-1], q[:-2, 1:-1], q[2:, 1:-1], q[1:-1, :-2], q[1:-1, 2:]])
    assert np.all(out[1:-1, 1:-1] <= nb.max(axis=0) + 1e-14)
    assert np.all(out[1:-1, 1:-1] >= nb.min(axis=0) - 1e-14)


def test_constant_field_is_preserved():
    q = np.full((6, 7), 2.5)
    cx, cy = courant(np.random.default_rng(0), (4, 5), np.float64)
    out = np.zeros_like(q)
    adv.upwind_step(q, cx, cy, out)
    np.testing.assert_array_equal(out[1:-1, 1:-1], 2.5)


def test_bad_args():
    q = np.zeros((5, 6))
    c = np.zeros((3, 4))
    out = np.zeros_like(q)
    with pytest.raises(ValueError, match=r"cx must have the interior shape \(3, 4\)"):
        adv.upwind_step(q, np.zeros((4, 4)), c, out)
    with pytest.raises(ValueError, match="cy must have"):
        adv.upwind_step(q, c, np.zeros((5, 5)), out)
    with pytest.raises(TypeError, match="cx must have dtype"):
        adv.upwind_step(q, c.astype(int), c, out)
    with pytest.raises(ValueError, match="shape"):
        adv.upwind_step(q, c, c, np.zeros((5, 7)))
    with pytest.raises(ValueError, match="at least 3 cells"):
        adv.upwind_step(np.zeros((2, 6)), c, c, np.zeros((2, 6)))
    with pytest.raises(ValueError, match="share memory"):
        adv.upwind_step(q, c, c, q)
    with pytest.raises(TypeError, match="numpy.ndarray"):
        adv.upwind_step(q, 0.5, c, out)
