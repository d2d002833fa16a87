"""Star and box stencils of the Parallel Research Kernels (PRK) "stencil" benchmark."""

import numpy as np
from numba import prange

from ._checks import check_array, check_disjoint, check_int, check_same_shape
from ._jit import serial_and_parallel
from ._prefetch import prefetch_range
from ._stencil_radius import (MAX_BOX_RADIUS, MAX_STAR_RADIUS, box_block_rows,
                              box_rows_radius, star_block_rows, star_rows_radius)
from ._stencil_rows import BLOCK_ROWS, box1_rows, prefetch_next_block, star1_rows, star2_rows

__all__ = [
    "STENCIL_PATTERNS",
    "box_stencil",
    "box_stencil_parallel",
    "box_stencil_serial",
    "star_stencil",
    "star_stencil_parallel",
    "star_stencil_serial",
    "stencil_weights",
]

STENCIL_PATTERNS = ("star", "box")
_SEG = 512  # row segment of the fused loops (prefetch granularity)


def stencil_weights(radius, pattern="star"):
    """Weights of the PRK star or box stencil of a given radius.

    ``W[radius + di, radius + dj]`` multiplies ``a[i + di, j + dj]``. With
    ``r = radius``, for ``k = 1..r`` (all other entries are 0):

    * star: ``W[r, r+k] = W[r+k, r] = 1/(2 k r)`` and
      ``W[r, r-k] = W[r-k, r] = -1/(2 k r)``;
    * box: ``W[r+i, r+k] = W[r+k, r+i] = 1/(4 k (2k-1) r)`` and
      ``W[r+i, r-k] = W[r-k, r+i] = -1/(4 k (2k-1) r)`` for ``i = -k+1..k-1``,
      plus ``W[r+k, r+k] = 1/(4 k r)`` and ``W[r-k, r-k] = -1/(4 k r)``.

    Applied to ``a[i, j] = cx*i + cy*j`` either stencil gives ``cx + cy``
    at every interior point (the PRK verification identity).

    Parameters
    ----------
    radius : int
        Stencil radius ``r >= 1``.
    pattern : {"star", "box"}
        Stencil shape.

    Returns
    -------
    numpy.ndarray
        ``(2r+1, 2r+1)`` float64 weights.

    Raises
    ------
    ValueError
        If ``radius < 1`` or ``pattern`` is unknown.
    TypeError
        If ``radius`` is not an integer.
    """
    r = check_int("radius", radius, 1)
    if pattern not in STENCIL_PATTERNS:
        raise ValueError(f"pattern must be one of {STENCIL_PATTERNS}, got {pattern!r}")
    w = np.zeros((2 * r + 1, 2 * r + 1), dtype=np.float64)
    if pattern == "star":
        for k in range(1, r + 1):
            c = 1.0 / (2.0 * k * r)
            w[r, r + k] = w[r + k, r] = c
            w[r, r - k] = w[r - k, r] = -c
    else:
        for k in range(1, r + 1):
            c = 1.0 / (4.0 * k * (2.0 * k - 1.0) * r)
            for i in range(-k + 1, k):
                w[r + i, r + k] = w[r + k, r + i] = c
                w[r + i, r - k] = w[r - k, r + i] = -c
            w[r + k, r + k] = 1.0 / (4.0 * k * r)
            w[r - k, r - k] = -1.0 / (4.0 * k * r)
    return w


def _star_body(a, w, radius, out):
    """Jitted star stencil ``out[r:-r, r:-r] += star(W) * a`` (no checks).

    See :func:`star_stencil` for the formula; only the centre row and
    column of ``w`` are read.

    Parameters
    ----------
    a : numpy.ndarray
        Ghosted 2-D input block, ghost width ``radius``.
    w : numpy.ndarray
        ``(2r+1, 2r+1)`` weights.
    radius : int
        Stencil radius ``r >= 1``.
    out : numpy.ndarray
        Output of ``a``'s shape (interior updated in place).
    """
    r = radius
    n0, n1 = a.shape
    if r <= 2:
        # radius 1 and 2: four output rows per pass (kernels/_stencil_rows.py)
        for b in prange((n0 - 2 * r + BLOCK_ROWS - 1) // BLOCK_ROWS):
            i = r + b * BLOCK_ROWS
            prefetch_next_block(a, out, i, r, BLOCK_ROWS)
            if r == 1:
                star1_rows(a, w, out, i, min(BLOCK_ROWS, n0 - r - i))
            else:
                star2_rows(a, w, out, i, min(BLOCK_ROWS, n0 - r - i))
        return
    if r <= MAX_STAR_RADIUS:
        # two or three output rows per pass, the taps spelled out for this radius
        # (kernels/_stencil_radius.py); each branch passes the radius as a constant
        rb = star_block_rows(r)
        for b in prange((n0 - 2 * r + rb - 1) // rb):
            i = r + b * rb
            rows = min(rb, n0 - r - i)
            prefetch_next_block(a, out, i, r, rb)
            if r == 3:
                star_rows_radius(a, w, out, i, rows, 3)
            elif r == 4:
                star_rows_radius(a, w, out, i, rows, 4)
            elif r == 5:
                star_rows_radius(a, w, out, i, rows, 5)
            else:
                star_rows_radius(a, w, out, i, rows, 6)
        return
    hi = n1 - r
    m = hi - r
    wc = w[r, r]
    for i in prange(r, n0 - r):
        # One pass per k, in row segments that stay in L1 (row slices with 0-based
        # loop indices: no wrap-around checks, so the inner loops vectorise); the
        # same segment of the rows the next output row adds is prefetched meanwhile
        # (measured ~7% faster than whole-row passes with one rank).
        o = out[i, r:hi]
        ac = a[i, r:hi]
        a_next = a[min(i + r + 1, n0 - 1)]
        o_next = out[min(i + 1, n0 - 1)]
        for j0 in range(0, m, _SEG):
            j1 = min(m, j0 + _SEG)
            prefetch_range(a_next, r + j0, r + j1)
            prefetch_range(o_next, r + j0, r + j1)
            os_ = o[j0:j1]
            cs = ac[j0:j1]
            for j in range(j1 - j0):
                os_[j] += wc * cs[j]
            for k in range(1, r + 1):
                w_w = w[r, r - k]
                w_e = w[r, r + k]
                w_n = w[r - k, r]
                w_s = w[r + k, r]
                aw = a[i, r - k + j0:r - k + j1]
                ae = a[i, r + k + j0:r + k + j1]
                an = a[i - k, r + j0:r + j1]
                as_ = a[i + k, r + j0:r + j1]
                for j in range(j1 - j0):
                    os_[j] += (w_w * aw[j] + w_e * ae[j]) + (w_n * an[j] + w_s * as_[j])

def _box_body(a, w, radius, out):
    """Jitted box stencil ``out[r:-r, r:-r] += sum(W * a-window)`` (no checks).

    See :func:`box_stencil` for the formula.

    Parameters
    ----------
    a : numpy.ndarray
        Ghosted 2-D input block, ghost width ``radius``.
    w : numpy.ndarray
        ``(2r+1, 2r+1)`` weights.
    radius : int
        Stencil radius ``r >= 1``.
    out : numpy.ndarray
        Output of ``a``'s shape (interior updated in place).
    """
    r = radius
    n0, n1 = a.shape
    hi = n1 - r
    m = hi - r
    if r == 1:
        # four output rows per pass (kernels/_stencil_rows.py)
        for b in prange((n0 - 2 + BLOCK_ROWS - 1) // BLOCK_ROWS):
            i = 1 + b * BLOCK_ROWS
            prefetch_next_block(a, out, i, 1, BLOCK_ROWS)
            box1_rows(a, w, out, i, min(BLOCK_ROWS, n0 - 1 - i))
        return
    if r <= MAX_BOX_RADIUS:
        # two or three output rows per pass, the taps spelled out for this radius
        # (kernels/_stencil_radius.py)
        rb = box_block_rows(r)
        for b in prange((n0 - 2 * r + rb - 1) // rb):
            i = r + b * rb
            rows = min(rb, n0 - r - i)
            prefetch_next_block(a, out, i, r, rb)
            if r == 2:
                box_rows_radius(a, w, out, i, rows, 2)
            else:
                box_rows_radius(a, w, out, i, rows, 3)
        return
    for i in prange(r, n0 - r):
        o = out[i, r:hi]
        for di in range(-r, r + 1):
            row = i + di
            wc = w[r + di, r]
            ac = a[row, r:hi]
            for j in range(m):
                o[j] += wc * ac[j]
            for k in range(1, r + 1):
                w_w = w[r + di, r - k]
                w_e = w[r + di, r + k]
                aw = a[row, r - k:hi - k]
                ae = a[row, r + k:hi + k]
                for j in range(m):
                    o[j] += w_w * aw[j] + w_e * ae[j]


star_stencil_serial, star_stencil_parallel = serial_and_parallel(_star_body)
box_stencil_serial, box_stencil_parallel = serial_and_parallel(_box_body)


def _check(a, w, radius, out):
    r = check_int("radius", radius, 1)
    check_array("a", a, ndim=2)
    check_array("out", out, ndim=2, writeable=True)
    check_same_shape("a", a, "out", out)
    check_array("w", w, ndim=2)
    if w.shape != (2 * r + 1, 2 * r + 1):
        raise ValueError(f"w must have shape {(2 * r + 1, 2 * r + 1)} for radius {r}, "
                         f"got {w.shape}")
    if min(a.shape) < 2 * r + 1:
        raise ValueError(f"a has shape {a.shape}, but a ghosted block of radius {r} needs "
                         f"at least {2 * r + 1} cells along each axis")
    check_disjoint("a", a, "out", out)
    return r


def star_stencil(a, w, radius, out, *, parallel=False):
    """Add the star stencil of ``a`` to the interior of ``out``.

    For every interior point ``r <= i < a.shape[0] - r``,
    ``r <= j < a.shape[1] - r``::

        out[i, j] += W[r, r] a[i, j] + sum_{k=1..r} (W[r, r-k] a[i, j-k]
                     + W[r, r+k] a[i, j+k] + W[r-k, r] a[i-k, j] + W[r+k, r] a[i+k, j])

    Only the centre row and column of ``w`` are read. Ghost cells of ``out``
    are left untouched.

    Parameters
    ----------
    a : numpy.ndarray
        Ghosted 2-D input block (float32/float64), ghost width ``radius``.
    w : numpy.ndarray
        ``(2r+1, 2r+1)`` weights, e.g. ``stencil_weights(r, "star")``.
    radius : int
        Stencil radius ``r >= 1`` (= ghost width).
    out : numpy.ndarray
        Output block, same shape as ``a``, not overlapping ``a``.
    parallel : bool
        Use the threaded (``parallel=True``) variant.

    Returns
    -------
    numpy.ndarray
        ``out``.

    Raises
    ------
    TypeError, ValueError
        On wrong types, dtypes, shapes, overlapping ``a``/``out``.
    """
    r = _check(a, w, radius, out)
    (star_stencil_parallel if parallel else star_stencil_serial)(a, w, r, out)
    return out


def box_stencil(a, w, radius, out, *, parallel=False):
    """Add the box stencil of ``a`` to the interior of ``out``.

    For every interior point ``(i, j)`` (as in :func:`star_stencil`)::

        out[i, j] += sum_{di, dj = -r..r} W[r+di, r+dj] a[i+di, j+dj]

    Parameters
    ----------
    a : numpy.ndarray
        Ghosted 2-D input block (float32/float64), ghost width ``radius``.
    w : numpy.ndarray
        ``(2r+1, 2r+1)`` weights, e.g. ``stencil_weights(r, "box")``.
    radius : int
        Stencil radius ``r >= 1`` (= ghost width).
    out : numpy.ndarray
        Output block, same shape as ``a``, not overlapping ``a``.
    parallel : bool
        Use the threaded (``parallel=True``) variant.

    Returns
    -------
    numpy.ndarray
        ``out``.

    Raises
    ------
    TypeError, ValueError
        On wrong types, dtypes, shapes, overlapping ``a``/``out``.
    """
    r = _check(a, w, radius, out)
    (box_stencil_parallel if parallel else box_stencil_serial)(a, w, r, out)
    return out
