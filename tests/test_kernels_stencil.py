"""PRK star/box stencil kernels against an independent NumPy (sliding-window) twin."""

import os

import numba
import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from clusterkit.kernels import stencil as st

VARIANTS = {"serial": False, "parallel": True}
# Interior shapes: primes, 1-cell-wide, single cell, rectangular, wider than a row segment.
INTERIORS = [(1, 1), (1, 7), (11, 1), (2, 3), (13, 17), (5, 29), (3, 1100)]


def weights_twin(r, pattern):
    """PRK weights from the closed form, vectorised over the (2r+1)^2 offsets."""
    di, dj = np.meshgrid(np.arange(-r, r + 1), np.arange(-r, r + 1), indexing="ij")
    if pattern == "star":
        k = np.abs(di) + np.abs(dj)
        on_cross = ((di == 0) | (dj == 0)) & (k > 0)
        return np.where(on_cross, np.sign(di + dj) / (2.0 * np.maximum(k, 1) * r), 0.0)
    k = np.maximum(np.abs(di), np.abs(dj))
    kk = np.maximum(k, 1)
    edge = np.where((dj == k) | (di == k), 1.0, -1.0) / (4.0 * kk * (2 * kk - 1) * r)
    diag = np.sign(di) / (4.0 * kk * r)
    w = np.where(di == dj, diag, np.where(di == -dj, 0.0, edge))
    return np.where(k == 0, 0.0, w)


def stencil_twin(a, w, r, pattern):
    """``sum W * window`` at every interior point, in float64, via sliding windows."""
    win = sliding_window_view(a.astype(np.float64), (2 * r + 1, 2 * r + 1))
    wm = w.copy()
    if pattern == "star":  # the star kernel reads only the centre row and column
        mask = np.zeros_like(wm, dtype=bool)
        mask[r, :] = mask[:, r] = True
        wm = np.where(mask, wm, 0.0)
    return np.einsum("ijkl,kl->ij", win, wm)


KERNELS = {"star": st.star_stencil, "box": st.box_stencil}


def test_weights_known_values_radius_1():
    star = st.stencil_weights(1, "star")
    np.testing.assert_array_equal(star, [[0, -0.5, 0], [-0.5, 0, 0.5], [0, 0.5, 0]])
    box = st.stencil_weights(1, "box")
    np.testing.assert_array_equal(box, [[-0.25, -0.25, 0], [-0.25, 0, 0.25], [0, 0.25, 0.25]])


@pytest.mark.parametrize("pattern", st.STENCIL_PATTERNS)
@pytest.mark.parametrize("r", [1, 2, 3, 4])
def test_weights_match_closed_form(pattern, r):
    w = st.stencil_weights(r, pattern)
    assert w.shape == (2 * r + 1, 2 * r + 1) and w.dtype == np.float64
    np.testing.assert_allclose(w, weights_twin(r, pattern), rtol=1e-15, atol=0)
    np.testing.assert_array_equal(w, -w[::-1, ::-1])  # antisymmetric


@pytest.mark.parametrize("pattern", st.STENCIL_PATTERNS)
@pytest.mark.parametrize("r", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("variant", VARIANTS)
def test_prk_verification_identity(pattern, r, variant):
    # a = cx*i + cy*j  ->  every interior point gets cx + cy (PRK's check).
    n0, n1 = 2 * r + 4, 2 * r + 7
    i, j = np.meshgrid(np.arange(n0), np.arange(n1), indexing="ij")
    a = 1.0 * i + 2.0 * j
    out = np.zeros_like(a)
    KERNELS[pattern](a, st.stencil_weights(r, pattern), r, out, parallel=VARIANTS[variant])
    np.testing.assert_allclose(out[r:-r, r:-r], 3.0, rtol=1e-13)


@pytest.mark.parametrize("pattern", st.STENCIL_PATTERNS)
@pytest.mark.parametrize("r", [1, 2, 3, 4, 5, 6, 7])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("variant", VARIANTS)
def test_kernel_matches_twin(pattern, r, dtype, variant):
    rng = np.random.default_rng([r, len(pattern), np.dtype(dtype).itemsize])
    w = st.stencil_weights(r, pattern)
    # Non-PRK weights as well: every used weight must be read from w.
    w_random = rng.standard_normal(w.shape)
    rtol = 1e-12 if dtype == np.float64 else 2e-5
    for ny, nx in INTERIORS:
        for weights in (w, w_random):
            a = rng.standard_normal((ny + 2 * r, nx + 2 * r)).astype(dtype)
            out0 = rng.standard_normal(a.shape).astype(dtype)
            out = out0.copy()
            KERNELS[pattern](a, weights, r, out, parallel=VARIANTS[variant])
            expect = out0[r:-r, r:-r].astype(np.float64) + stencil_twin(a, weights, r, pattern)
            scale = np.abs(a).max() * np.abs(weights).sum() + 1.0
            np.testing.assert_allclose(out[r:-r, r:-r], expect, rtol=rtol, atol=rtol * scale)
            # Ghost cells untouched, bit for bit.
            ghost = np.ones(a.shape, dtype=bool)
            ghost[r:-r, r:-r] = False
            np.testing.assert_array_equal(out[ghost], out0[ghost])


@pytest.mark.parametrize("pattern", st.STENCIL_PATTERNS)
@pytest.mark.parametrize("r", [2, 3])
@pytest.mark.parametrize("variant", VARIANTS)
def test_strided_views(pattern, r, variant):
    rng = np.random.default_rng(7)
    big = rng.standard_normal((40, 60))
    a = big[1::3, 2::4]  # (13, 15), non-contiguous
    out = np.asfortranarray(rng.standard_normal(a.shape))
    out0 = out.copy()
    w = st.stencil_weights(r, pattern)
    KERNELS[pattern](a, w, r, out, parallel=VARIANTS[variant])
    np.testing.assert_allclose(out[r:-r, r:-r], out0[r:-r, r:-r] + stencil_twin(a, w, r, pattern),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("pattern", st.STENCIL_PATTERNS)
@pytest.mark.parametrize("r", [1, 2, 3, 4])
@pytest.mark.parametrize("variant", VARIANTS)
def test_wide_strided_views(pattern, r, variant):
    rng = np.random.default_rng(r)
    a = rng.standard_normal((12 + 4 * r, 2 * 1030 + 3))[::2, 1::2]  # rows of 1031 > one segment
    out = rng.standard_normal((a.shape[0], 2 * a.shape[1]))[:, ::2]
    out0 = out.copy()
    w = st.stencil_weights(r, pattern)
    KERNELS[pattern](a, w, r, out, parallel=VARIANTS[variant])
    np.testing.assert_allclose(out[r:-r, r:-r], out0[r:-r, r:-r] + stencil_twin(a, w, r, pattern),
                               rtol=1e-12, atol=1e-12)


def test_star_ignores_off_cross_weights():
    r = 2
    rng = np.random.default_rng(3)
    a = rng.standard_normal((9, 10))
    w = st.stencil_weights(r, "star")
    w_noise = w + np.where(w == 0, 1.0, 0.0) * rng.standard_normal(w.shape)
    w_noise[r, r] = w[r, r]
    out1, out2 = np.zeros_like(a), np.zeros_like(a)
    st.star_stencil(a, w, r, out1)
    st.star_stencil(a, w_noise, r, out2)
    np.testing.assert_array_equal(out1, out2)


def test_wrappers_return_out_and_jitted_kernels_are_callable():
    a = np.arange(49.0).reshape(7, 7)
    w = st.stencil_weights(1, "box")
    out = np.zeros_like(a)
    assert st.box_stencil(a, w, 1, out) is out
    out2 = np.zeros_like(a)
    st.box_stencil_serial(a, w, 1, out2)
    np.testing.assert_array_equal(out, out2)


@pytest.mark.parametrize("bad, exc, match", [
    (dict(radius=0), ValueError, "radius"),
    (dict(radius=1.5), TypeError, "radius"),
    (dict(radius=True), TypeError, "radius"),
    (dict(pattern="cross"), ValueError, "pattern"),
])
def test_weights_bad_args(bad, exc, match):
    kw = dict(radius=2, pattern="star") | bad
    with pytest.raises(exc, match=match):
        st.stencil_weights(**kw)


@pytest.mark.parametrize("pattern", st.STENCIL_PATTERNS)
def test_wrapper_bad_args(pattern):
    f = KERNELS[pattern]
    w = st.stencil_weights(1, pattern)
    a = np.zeros((6, 6))
    with pytest.raises(TypeError, match="a must be a numpy.ndarray"):
        f(a.tolist(), w, 1, np.zeros((6, 6)))
    with pytest.raises(TypeError, match="dtype"):
        f(a.astype(np.int64), w, 1, np.zeros((6, 6)))
    with pytest.raises(ValueError, match="2-D"):
        f(np.zeros((6, 6, 1)), w, 1, np.zeros((6, 6, 1)))
    with pytest.raises(ValueError, match="shape"):
        f(a, w, 1, np.zeros((6, 7)))
    with pytest.raises(ValueError, match=r"w must have shape \(5, 5\)"):
        f(a, w, 2, np.zeros((6, 6)))
    with pytest.raises(ValueError, match="at least 3 cells"):
        f(np.zeros((2, 6)), w, 1, np.zeros((2, 6)))
    with pytest.raises(ValueError, match="share memory"):
        f(a, w, 1, a)
    with pytest.raises(ValueError, match="share memory"):
        big = np.zeros((7, 7))
        f(big[:6, :6], w, 1, big[1:, 1:])
    ro = np.zeros((6, 6))
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        f(a, w, 1, ro)


@pytest.mark.parametrize("pattern, r", [("star", 1), ("star", 2), ("box", 1), ("star", 3),
                                        ("star", 4), ("box", 2), ("star", 5), ("star", 6),
                                        ("box", 3)])
def test_row_blocks_give_the_same_bits_as_single_rows(pattern, r):
    """Star r=1, 2 and box r=1 run four output rows per pass, the generated loops (star
    r=3..6, box r=2, 3) three or two; a point's value must not depend on where the blocks
    fall: shifting the array by 1-3 rows moves every block boundary (the one-row tail
    path then computes rows the multi-row path computed before)."""
    rng = np.random.default_rng(r)
    w = rng.standard_normal((2 * r + 1, 2 * r + 1))   # every weight matters
    a = rng.standard_normal((2 * r + 19, 37))
    out0 = rng.standard_normal(a.shape)
    ref = out0.copy()
    KERNELS[pattern](a, w, r, ref)
    for shift in (1, 2, 3):
        out = out0[shift:].copy()
        KERNELS[pattern](a[shift:], w, r, out)
        np.testing.assert_array_equal(out[r:-r], ref[shift + r:-r])
    par = out0.copy()
    KERNELS[pattern](a, w, r, par, parallel=True)
    np.testing.assert_array_equal(par, ref)


def test_generated_radius_loops_compile_only_for_a_constant_radius():
    """The generated loops are spelled out per radius; compiled code must name it."""
    from clusterkit.kernels import _stencil_radius as gen

    assert "def star_rows_r3(a, w, out, i, rows, radius):" in gen.star_rows_source(3)
    assert gen.box_rows_source(2).count(" += ") == gen.box_block_rows(2) + 1 == 4
    assert gen.star_rows_source(5).count(" += ") == gen.star_block_rows(5) + 1 == 3
    if os.environ.get("NUMBA_DISABLE_JIT", "0") not in ("", "0"):
        return

    @numba.njit
    def call(a, w, out, radius):
        gen.star_rows_radius(a, w, out, 3, 3, radius)

    a = np.zeros((12, 12))
    with pytest.raises(numba.core.errors.TypingError, match="radius must be a constant"):
        call(a, np.zeros((7, 7)), a.copy(), 3)
