"""One explicit heat-diffusion step on a lat-lon grid (finite volumes, spherical metric)."""

import numpy as np
from numba import prange

from ._checks import check_array, check_disjoint, check_positive_float, check_same_shape
from ._jit import dispatch_route, serial_and_parallel
from ._prefetch import prefetch_row_ahead, row_segment

__all__ = ["diffusion_kappa_dt_limit", "diffusion_step"]


def _diffusion_body(u, v, kappa_dt, dphi, dlam, cos_c, cos_n, cos_s):
    """Jitted explicit diffusion step writing ``v``'s interior (no checks).

    See :func:`diffusion_step` for the discretisation and the arguments.

    Parameters
    ----------
    u, v : numpy.ndarray
        Ghosted ``(ny+2, nx+2)`` blocks (input, output).
    kappa_dt, dphi, dlam : float
        ``kappa*dt/R**2`` and the grid spacings in radians.
    cos_c, cos_n, cos_s : numpy.ndarray
        ``(ny,)`` cosines of latitude at the centres and the two faces.
    """
    ny = u.shape[0] - 2
    nx = u.shape[1] - 2
    inv_dphi2 = 1.0 / (dphi * dphi)
    inv_dlam2 = 1.0 / (dlam * dlam)
    for k in prange(ny):
        i = k + 1
        c = cos_c[k]
        a_n = kappa_dt * cos_n[k] * inv_dphi2 / c
        a_s = kappa_dt * cos_s[k] * inv_dphi2 / c
        a_x = kappa_dt * inv_dlam2 / (c * c)
        # The row in segments; each first hints the two streams from memory (the
        # row after, u[i+1], and the output row) some KiB on, running into the
        # next row at the end. Rows i-1 and i are in cache already, and with them
        # the hardware prefetchers alone keep too few misses in flight.
        seg, ahead = row_segment(u)
        for j0 in range(0, nx, seg):
            m = min(seg, nx - j0)
            t = j0 + ahead
            prefetch_row_ahead(u, i + 1, i + 2, 1, nx, t, t + m, False)
            prefetch_row_ahead(v, i, i + 1, 1, nx, t, t + m, True)
            uc = u[i, 1 + j0:1 + j0 + m]
            uw = u[i, j0:j0 + m]
            ue = u[i, 2 + j0:2 + j0 + m]
            un = u[i - 1, 1 + j0:1 + j0 + m]
            us = u[i + 1, 1 + j0:1 + j0 + m]
            vo = v[i, 1 + j0:1 + j0 + m]
            for j in range(m):
                x = uc[j]
                vo[j] = x + ((a_s * (us[j] - x) - a_n * (x - un[j]))
                             + a_x * ((ue[j] - x) - (x - uw[j])))


#: (serial, parallel) dispatchers of the diffusion body
_STEP = serial_and_parallel(_diffusion_body)


def unchecked(parallel=False):
    """The jitted step ``step(u, v, kappa_dt, dphi, dlam, cos_c, cos_n, cos_s)`` without
    :func:`diffusion_step`'s checks.

    Internal to clusterkit: for a job's time loop after one checked
    :func:`diffusion_step` call on the same arrays, and for the benchmarks. The
    dispatcher can be called from Python or from jitted code.

    Parameters
    ----------
    parallel : bool
        The threaded (``parallel=True``) variant.

    Returns
    -------
    numba dispatcher
        ``step(u, v, kappa_dt, dphi, dlam, cos_c, cos_n, cos_s)``, arguments as for
        :func:`diffusion_step` (floats as Python or NumPy floats).
    """
    return _STEP[1 if parallel else 0]


def _check_cos(ny, cos_c, cos_n, cos_s):
    for name, arr in (("cos_c", cos_c), ("cos_n", cos_n), ("cos_s", cos_s)):
        check_array(name, arr, ndim=1, dtypes=(np.dtype(np.float64),))
        if arr.shape != (ny,):
            raise ValueError(f"{name} must have shape ({ny},) (one value per interior row), "
                             f"got {arr.shape}")
    if not np.all(cos_c > 0.0):
        raise ValueError("cos_c must be > 0 in every row; for a cell centred on a pole "
                         "pass the polar cap's effective value, e.g. (1 - sin(phi_face))/dphi")
    for name, arr in (("cos_n", cos_n), ("cos_s", cos_s)):
        if not np.all(arr >= 0.0):
            raise ValueError(f"{name} must be >= 0 (0 on a face at a pole)")


@dispatch_route(lambda u, v, kappa_dt, dphi, dlam, cos_c, cos_n, cos_s, *, parallel=False:
                (unchecked(parallel), (u, v, float(kappa_dt), float(dphi), float(dlam), cos_c,
                                       cos_n, cos_s)))
def diffusion_step(u, v, kappa_dt, dphi, dlam, cos_c, cos_n, cos_s, *, parallel=False):
    """One explicit (forward-Euler) diffusion step on the sphere, written into ``v``.

    ``u`` is a ghosted block with one ghost cell on each side of both axes;
    axis 0 runs over latitude rows, axis 1 over longitude. The halos
    (including the periodic longitude wrap) are filled by the caller. Rows
    are numbered in array order; ``cos_n[k]`` is the face between interior
    row ``k`` (``u[k+1]``) and the row before it (``u[k]``), ``cos_s[k]`` the
    face to the row after it (``u[k+2]``); with rows ordered north to south
    these are the north and south faces. The result does not depend on the
    direction.

    Finite-volume form of ``du/dt = kappa * Laplacian(u)``::

        Laplacian(u) = 1/(R^2 cos(phi)) d/dphi(cos(phi) du/dphi)
                       + 1/(R^2 cos(phi)^2) d^2u/dlambda^2

    For interior cell ``(i, j)`` (``i = k+1``, ``k = 0..ny-1``, ``j = 1..nx``)
    with ``c = cos_c[k]``::

        a_n = kappa_dt * cos_n[k] / dphi**2 / c
        a_s = kappa_dt * cos_s[k] / dphi**2 / c
        a_x = kappa_dt / dlam**2 / c**2
        v[i, j] = u[i, j] + (a_s*(u[i+1, j] - u[i, j]) - a_n*(u[i, j] - u[i-1, j]))
                          + a_x*((u[i, j+1] - u[i, j]) - (u[i, j] - u[i, j-1]))

    (coefficients in float64, computed as ``kappa_dt * cos_face * (1/dphi**2)
    / c`` and ``kappa_dt * (1/dlam**2) / (c*c)``). The meridional fluxes are
    weighted by the face cosines, so a face on a pole passes ``cos = 0`` and
    carries no flux; the scheme then conserves ``sum(cos_c[k] * u[k+1, j])``
    over a closed (pole-to-pole, periodic) domain. ``cos_c`` serves as both
    the area factor and the zonal metric; passing ``|sin(phi_face_after) -
    sin(phi_face_before)| / dphi`` instead of ``cos(phi_centre)`` makes the
    area factor exact (useful for a polar-cap cell centred on a pole).
    Only ``v``'s interior is written; its ghost cells are left untouched.

    Stability (max principle): ``a_n + a_s + 2*a_x <= 1`` in every row, see
    :func:`diffusion_kappa_dt_limit`.

    Parameters
    ----------
    u : numpy.ndarray
        Ghosted ``(ny+2, nx+2)`` float32/float64 input.
    v : numpy.ndarray
        Output of ``u``'s shape, not overlapping ``u``.
    kappa_dt : float
        ``kappa * dt / R**2`` (dimensionless with ``dphi``, ``dlam`` in
        radians), ``>= 0``.
    dphi, dlam : float
        Latitude and longitude spacing in radians, ``> 0``.
    cos_c : numpy.ndarray
        ``(ny,)`` float64 cos(latitude) at the interior row centres, ``> 0``.
    cos_n, cos_s : numpy.ndarray
        ``(ny,)`` float64 cos(latitude) at each row's faces (before/after),
        ``>= 0`` (0 on a pole).
    parallel : bool
        Use the threaded (``parallel=True``) variant.

    Returns
    -------
    numpy.ndarray
        ``v``.

    Raises
    ------
    TypeError, ValueError
        On wrong types, dtypes, shapes, non-positive spacings or cosines,
        overlapping ``u``/``v``.
    """
    check_array("u", u, ndim=2)
    check_array("v", v, ndim=2, writeable=True)
    check_same_shape("u", u, "v", v)
    if min(u.shape) < 3:
        raise ValueError(f"u must have at least 3 cells along each axis (1 interior + "
                         f"2 ghosts), got shape {u.shape}")
    check_disjoint("u", u, "v", v)
    kappa_dt = check_positive_float("kappa_dt", kappa_dt, allow_zero=True)
    dphi = check_positive_float("dphi", dphi)
    dlam = check_positive_float("dlam", dlam)
    _check_cos(u.shape[0] - 2, cos_c, cos_n, cos_s)
    unchecked(parallel)(u, v, kappa_dt, dphi, dlam, cos_c, cos_n, cos_s)
    return v


def diffusion_kappa_dt_limit(dphi, dlam, cos_c, cos_n, cos_s):
    """Largest ``kappa_dt`` for which :func:`diffusion_step` obeys the max principle.

    Returns ``min_k 1 / ((cos_n[k] + cos_s[k]) / (dphi**2 cos_c[k])
    + 2 / (dlam**2 cos_c[k]**2))``: with a smaller ``kappa_dt`` each new value
    is a convex combination of its five neighbours.

    Parameters
    ----------
    dphi, dlam : float
        Grid spacings in radians.
    cos_c, cos_n, cos_s : numpy.ndarray
        As for :func:`diffusion_step`.

    Returns
    -------
    float
        The limit (combine across ranks with a min-reduction).
    """
    dphi = check_positive_float("dphi", dphi)
    dlam = check_positive_float("dlam", dlam)
    ny = np.shape(cos_c)[0] if np.ndim(cos_c) == 1 else -1
    if ny < 1:
        raise ValueError(f"cos_c must be a non-empty 1-D array, got shape {np.shape(cos_c)}")
    _check_cos(ny, cos_c, cos_n, cos_s)
    rate = (cos_n + cos_s) / (dphi * dphi * cos_c) + 2.0 / (dlam * dlam * cos_c * cos_c)
    return float(np.min(1.0 / rate))
