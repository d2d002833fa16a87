"""PRK star/box stencil kernels against an independent NumPy (sliding-window) twin."""

import os
import subprocess
import sys

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


# The loop is generated per pattern and radius and compiled per variant; the dtype only
# changes the signature. float64: every pattern, radius and variant (radii 1-6: the
# machine code test_row_blocks_give_the_same_bits_as_single_rows compiles too). float32:
# every radius once, patterns and variants alternating (each pattern with each variant).
TWIN_CASES = (
    [(v, "float64", r, p) for v in VARIANTS for r in range(1, 8) for p in st.STENCIL_PATTERNS]
    + [(("serial", "parallel")[(r - 1) // 2 % 2], "float32", r, ("star", "box")[(r - 1) % 2])
       for r in range(1, 8)])


@pytest.mark.parametrize("variant, dtype, r, pattern", TWIN_CASES,
                         ids=["-".join(map(str, c)) for c in TWIN_CASES])
def test_kernel_matches_twin(pattern, r, dtype, variant):
    dtype = np.dtype(dtype).type
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


def _pairwise(radii):
    """``(variant, r, pattern)``: every pattern with every radius, the variant alternating
    so that each pattern and each radius meets both variants (each case compiles its
    kernel anew for the strided layout; the full product repeats the same loops)."""
    return [pytest.param(v, r, p, id=f"{v}-{r}-{p}") for r in radii for p in st.STENCIL_PATTERNS
            for v in [list(VARIANTS)[(r + (p == "box")) % 2]]]


@pytest.mark.parametrize("variant, r, pattern", _pairwise([2, 3]))
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


@pytest.mark.parametrize("variant, r, pattern", _pairwise([1, 2, 3, 4]))
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
    st.unchecked("box", 1)(a, w, out2)
    np.testing.assert_array_equal(out, out2)


def test_unchecked_kernel_is_callable_from_jitted_code():
    """``unchecked`` hands out the Numba dispatcher itself: jitted code can call it."""
    kernel = st.unchecked("star", 2)

    @numba.njit
    def twice(a, w, out):
        kernel(a, w, out)
        kernel(a, w, out)

    rng = np.random.default_rng(5)
    a = rng.standard_normal((9, 12))
    w = st.stencil_weights(2, "star")
    out, want = np.zeros_like(a), np.zeros_like(a)
    twice(a, w, out)
    st.star_stencil(a, w, 2, want)
    st.star_stencil(a, w, 2, want)
    np.testing.assert_array_equal(out, want)


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


@pytest.mark.parametrize("pattern, r", [(p, r) for p in st.STENCIL_PATTERNS for r in range(1, 7)])
def test_row_blocks_give_the_same_bits_as_single_rows(pattern, r):
    """Every radius runs several output rows per pass (four, three or two; box r >= 4
    one); a point's value must not depend on where the blocks fall: shifting the array
    by 1-3 rows moves every block boundary (the one-row tail loop then computes rows the
    multi-row pass computed before)."""
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


@pytest.mark.parametrize("pattern, r", [("star", 24), ("star", 25), ("box", 4), ("box", 5)])
def test_largest_spelled_out_and_smallest_per_distance_stencils_match_twin(pattern, r):
    """Up to SPELLED_OUT_TAPS_MAX taps (star r=24, box r=4) the loop spells out every
    tap; beyond (star r=25, box r=5), one pass per tap distance."""
    from clusterkit.kernels import _tuning

    spelled = _tuning.stencil_taps(pattern, r) <= _tuning.SPELLED_OUT_TAPS_MAX
    assert spelled == (r in (24, 4))
    rng = np.random.default_rng(r)
    w = rng.standard_normal((2 * r + 1, 2 * r + 1))
    a = rng.standard_normal((2 * r + 9, 2 * r + 13))
    out0 = rng.standard_normal(a.shape)
    out = out0.copy()
    KERNELS[pattern](a, w, r, out)
    np.testing.assert_allclose(out[r:-r, r:-r], out0[r:-r, r:-r] + stencil_twin(a, w, r, pattern),
                               rtol=1e-12, atol=1e-12 * np.abs(w).sum())
    shifted = out0[1:].copy()
    KERNELS[pattern](a[1:], w, r, shifted)   # the blocks fall elsewhere: the same bits
    np.testing.assert_array_equal(shifted[r:-r], out[1 + r:-r])


def test_generated_loops_need_a_constant_pattern_and_radius():
    """The generated loops are spelled out per pattern and radius; compiled code must
    name both."""
    from clusterkit.kernels import _stencil_radius as gen

    assert "def star_rows_r3(a, w, out, i, rows, pattern, radius):" in gen.rows_source("star", 3)
    assert gen.rows_source("box", 2, 3).count(" += ") == 3 + 1
    assert gen.rows_source("star", 5, 2).count(" += ") == 2 + 1
    if os.environ.get("NUMBA_DISABLE_JIT", "0") not in ("", "0"):
        return

    @numba.njit
    def call(a, w, out, radius):
        gen.stencil_rows(a, w, out, 3, 3, "star", radius)

    a = np.zeros((12, 12))
    with pytest.raises(numba.core.errors.TypingError, match="radius .* must be constants"):
        call(a, np.zeros((7, 7)), a.copy(), 3)


@pytest.mark.skipif(os.environ.get("NUMBA_DISABLE_JIT", "0") not in ("", "0"),
                    reason="nothing is compiled with NUMBA_DISABLE_JIT")
def test_a_call_compiles_only_the_loop_of_its_radius(tmp_path):
    """A job runs one radius: with an empty Numba cache, its first stencil call must
    generate and compile the loop of that pattern and radius only (the cold-compile
    time of a signature was that of every generated radius)."""
    code = ("import numpy as np\n"
            "from clusterkit.kernels import _stencil_radius, star_stencil\n"
            "a = np.zeros((16, 16))\n"
            "star_stencil(a, np.ones((5, 5)), 2, a.copy())\n"
            "star_stencil(a, np.ones((5, 5)), 2, a.copy(), parallel=True)\n"
            "print(_stencil_radius.rows_loop.cache_info().currsize)\n")
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path), NUMBA_NUM_THREADS="1")
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["1"]


def test_kernels_are_cached_per_pattern_and_radius():
    k2 = st.unchecked("star", 2)
    assert st.unchecked("star", 2) is k2
    assert st.unchecked("star", 2, parallel=True) is not k2
    assert st.unchecked("star", 3) is not k2
    assert st.unchecked("box", 2) is not k2
    with pytest.raises(ValueError, match="radius"):
        st.unchecked("star", 0)
    with pytest.raises(ValueError, match="pattern"):
        st.unchecked("cross", 1)


def test_every_pattern_and_radius_is_its_own_kernel():
    """Each (pattern, radius) kernel has its own name: its own Numba cache files and
    machine-code symbols, never shared with another radius's code."""
    names = {getattr(k, "py_func", k).__qualname__ for k in
             (st.unchecked(p, r, par)
             for p in ("star", "box") for r in (1, 2, 3) for par in (False, True))}
    assert len(names) == 12
