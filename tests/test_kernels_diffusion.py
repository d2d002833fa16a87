"""Spherical diffusion step: NumPy twin, conservation, accuracy, max principle, checks."""

import numpy as np
import pytest

from clusterkit.kernels import diffusion as df

VARIANTS = {"serial": False, "parallel": True}
INTERIORS = [(1, 1), (1, 9), (7, 1), (3, 2), (11, 13), (17, 5),
             (3, 200), (2, 257)]  # rows of several prefetching segments, a part one


def twin(u, kappa_dt, dphi, dlam, cos_c, cos_n, cos_s):
    """The documented discretisation, vectorised over the whole interior (float64)."""
    u = u.astype(np.float64)
    c = cos_c[:, None]
    a_n = kappa_dt * cos_n[:, None] / dphi**2 / c
    a_s = kappa_dt * cos_s[:, None] / dphi**2 / c
    a_x = kappa_dt / dlam**2 / c**2
    mid = u[1:-1, 1:-1]
    merid = a_s * (u[2:, 1:-1] - mid) - a_n * (mid - u[:-2, 1:-1])
    zonal = a_x * (u[1:-1, 2:] - 2.0 * mid + u[1:-1, :-2])
    return mid + merid + zonal


def random_metric(rng, ny):
    cos_c = rng.uniform(0.1, 1.0, ny)
    cos_n = rng.uniform(0.0, 1.0, ny)
    cos_s = rng.uniform(0.0, 1.0, ny)
    return cos_c, cos_n, cos_s


def sphere(ny, nx):
    """Pole-to-pole grid of ny rows (north to south), faces at the poles have cos = 0."""
    dphi = np.pi / ny
    dlam = 2 * np.pi / nx
    phi_c = np.pi / 2 - dphi * (np.arange(ny) + 0.5)
    lam_c = dlam * (np.arange(nx) + 0.5)
    cos_c = np.cos(phi_c)
    cos_n = np.cos(phi_c + dphi / 2)
    cos_s = np.cos(phi_c - dphi / 2)
    cos_n[0] = 0.0
    cos_s[-1] = 0.0
    return dphi, dlam, phi_c, lam_c, cos_c, cos_n, cos_s


def ghosted(field):
    """Ghosted copy with periodic longitude halo and pole rows copied (never used: cos = 0)."""
    g = np.pad(field, ((1, 1), (0, 0)), mode="edge")
    return np.pad(g, ((0, 0), (1, 1)), mode="wrap")


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("variant", VARIANTS)
def test_matches_twin(dtype, variant):
    rng = np.random.default_rng(np.dtype(dtype).itemsize)
    rtol = 1e-12 if dtype == np.float64 else 1e-5
    for ny, nx in INTERIORS:
        u = rng.standard_normal((ny + 2, nx + 2)).astype(dtype)
        v = np.full_like(u, 123.0)
        dphi, dlam = rng.uniform(0.01, 0.1, 2)
        metric = random_metric(rng, ny)
        kdt = float(0.5 * df.diffusion_kappa_dt_limit(dphi, dlam, *metric))
        out = df.diffusion_step(u, v, kdt, dphi, dlam, *metric, parallel=VARIANTS[variant])
        assert out is v
        np.testing.assert_allclose(v[1:-1, 1:-1], twin(u, kdt, dphi, dlam, *metric),
                                   rtol=rtol, atol=rtol * np.abs(u).max())
        ghost = np.ones(u.shape, bool)
        ghost[1:-1, 1:-1] = False
        assert np.all(v[ghost] == 123.0)


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("layout", ["fortran", "strided"])
def test_non_contiguous_blocks_match_twin(variant, layout):
    """Fortran-ordered and strided blocks (the row loop hints rows by 2-D index) give the
    contiguous result; rows span several prefetching segments."""
    rng = np.random.default_rng(7)
    ny, nx = 5, 300
    field = rng.standard_normal((ny + 2, nx + 2))
    if layout == "fortran":
        u, v = np.asfortranarray(field), np.asfortranarray(np.full(field.shape, 9.0))
    else:
        u = np.zeros((2 * (ny + 2), 3 * (nx + 2)))[::2, ::3]
        v = np.full((ny + 2, 2 * (nx + 2)), 9.0)[:, ::2]
        u[...] = field
    metric = random_metric(rng, ny)
    df.diffusion_step(u, v, 1e-4, 0.05, 0.05, *metric, parallel=VARIANTS[variant])
    np.testing.assert_allclose(v[1:-1, 1:-1], twin(field, 1e-4, 0.05, 0.05, *metric),
                               rtol=1e-12, atol=1e-12)
    ghost = np.ones(field.shape, bool)
    ghost[1:-1, 1:-1] = False
    assert np.all(v[ghost] == 9.0)


@pytest.mark.parametrize("variant", VARIANTS)
def test_constant_field_is_steady(variant):
    dphi, dlam, _, _, cos_c, cos_n, cos_s = sphere(12, 16)
    u = np.full((14, 18), 3.25)
    v = np.zeros_like(u)
    df.diffusion_step(u, v, 1e-3, dphi, dlam, cos_c, cos_n, cos_s, parallel=VARIANTS[variant])
    np.testing.assert_array_equal(v[1:-1, 1:-1], 3.25)


@pytest.mark.parametrize("variant", VARIANTS)
def test_conserves_area_weighted_total(variant):
    ny, nx = 18, 24
    dphi, dlam, _, _, cos_c, cos_n, cos_s = sphere(ny, nx)
    rng = np.random.default_rng(1)
    field = rng.standard_normal((ny, nx))
    kdt = 0.9 * df.diffusion_kappa_dt_limit(dphi, dlam, cos_c, cos_n, cos_s)
    u = ghosted(field)
    v = np.zeros_like(u)
    df.diffusion_step(u, v, kdt, dphi, dlam, cos_c, cos_n, cos_s, parallel=VARIANTS[variant])
    before = np.sum(cos_c[:, None] * field)
    after = np.sum(cos_c[:, None] * v[1:-1, 1:-1])
    assert abs(after - before) < 1e-12 * np.sum(cos_c[:, None] * np.abs(field))
    assert not np.allclose(v[1:-1, 1:-1], field)  # it did diffuse


def _laplacian_error(ny, field_fn, exact_fn, rows):
    nx = 2 * ny
    dphi, dlam, phi_c, lam_c, cos_c, cos_n, cos_s = sphere(ny, nx)
    phi, lam = np.meshgrid(phi_c, lam_c, indexing="ij")
    u = ghosted(field_fn(phi, lam))
    v = np.zeros_like(u)
    kdt = 1e-3
    df.diffusion_step(u, v, kdt, dphi, dlam, cos_c, cos_n, cos_s)
    lap = (v[1:-1, 1:-1] - u[1:-1, 1:-1]) / kdt
    sel = rows(phi_c)
    return np.max(np.abs(lap[sel] - exact_fn(phi, lam)[sel]))


def test_meridional_term_is_second_order():
    # u = sin(phi) (Y_1^0): Laplacian = -2 sin(phi); measured away from the pole cells.
    args = (lambda p, l: np.sin(p), lambda p, l: -2 * np.sin(p),
            lambda pc: np.abs(pc) < np.deg2rad(60))
    e1 = _laplacian_error(36, *args)
    e2 = _laplacian_error(72, *args)
    assert e1 < 5e-3
    assert 3.0 < e1 / e2 < 5.0


def test_zonal_term_is_second_order():
    # u = cos(2 lambda): Laplacian = -4 cos(2 lambda) / cos(phi)^2.
    args = (lambda p, l: np.cos(2 * l), lambda p, l: -4 * np.cos(2 * l) / np.cos(p) ** 2,
            lambda pc: np.abs(pc) < np.deg2rad(60))
    e1 = _laplacian_error(36, *args)
    e2 = _laplacian_error(72, *args)
    assert e1 < 0.05
    assert 3.0 < e1 / e2 < 5.0


@pytest.mark.parametrize("variant", VARIANTS)
def test_max_principle_at_the_stability_limit(variant):
    rng = np.random.default_rng(5)
    ny, nx = 9, 11
    u = rng.standard_normal((ny + 2, nx + 2))
    metric = random_metric(rng, ny)
    dphi, dlam = 0.05, 0.07
    kdt = df.diffusion_kappa_dt_limit(dphi, dlam, *metric)
    v = np.zeros_like(u)
    df.diffusion_step(u, v, kdt, dphi, dlam, *metric, parallel=VARIANTS[variant])
    nb = np.stack([u[1:-1, 1:-1], u[:-2, 1:-1], u[2:, 1:-1], u[1:-1, :-2], u[1:-1, 2:]])
    assert np.all(v[1:-1, 1:-1] <= nb.max(axis=0) + 1e-12)
    assert np.all(v[1:-1, 1:-1] >= nb.min(axis=0) - 1e-12)
    # ... and some row reaches the limit: 3x the step violates it somewhere.
    df.diffusion_step(u, v, 3 * kdt, dphi, dlam, *metric)
    assert np.any(v[1:-1, 1:-1] > nb.max(axis=0) + 1e-12) or np.any(
        v[1:-1, 1:-1] < nb.min(axis=0) - 1e-12)


def test_bad_args():
    ny, nx = 4, 5
    u = np.zeros((ny + 2, nx + 2))
    v = np.zeros_like(u)
    good = (np.ones(ny), np.ones(ny), np.ones(ny))
    with pytest.raises(ValueError, match="shape"):
        df.diffusion_step(u, np.zeros((ny + 2, nx + 3)), 0.1, 0.1, 0.1, *good)
    with pytest.raises(TypeError, match="dtype"):
        df.diffusion_step(u.astype(np.int32), v, 0.1, 0.1, 0.1, *good)
    with pytest.raises(ValueError, match="at least 3 cells"):
        df.diffusion_step(np.zeros((2, 5)), np.zeros((2, 5)), 0.1, 0.1, 0.1, *good)
    with pytest.raises(ValueError, match="share memory"):
        df.diffusion_step(u, u, 0.1, 0.1, 0.1, *good)
    with pytest.raises(ValueError, match="dphi"):
        df.diffusion_step(u, v, 0.1, 0.0, 0.1, *good)
    with pytest.raises(ValueError, match="kappa_dt"):
        df.diffusion_step(u, v, -0.1, 0.1, 0.1, *good)
    with pytest.raises(TypeError, match="dlam"):
        df.diffusion_step(u, v, 0.1, 0.1, "0.1", *good)
    with pytest.raises(ValueError, match=r"cos_n must have shape \(4,\)"):
        df.diffusion_step(u, v, 0.1, 0.1, 0.1, good[0], np.ones(ny + 2), good[2])
    with pytest.raises(ValueError, match="cos_c must be > 0"):
        df.diffusion_step(u, v, 0.1, 0.1, 0.1, np.zeros(ny), good[1], good[2])
    with pytest.raises(ValueError, match="cos_s must be >= 0"):
        df.diffusion_step(u, v, 0.1, 0.1, 0.1, good[0], good[1], -np.ones(ny))
    with pytest.raises(TypeError, match="cos_c must have dtype float64"):
        df.diffusion_step(u, v, 0.1, 0.1, 0.1, np.ones(ny, np.float32), good[1], good[2])
