"""Star and box stencils of the Parallel Research Kernels (PRK) "stencil" benchmark."""

import numpy as np
from numba import prange

from ._checks import check_array, check_disjoint, check_int, check_same_shape
from ._jit import dispatch_route, serial_and_parallel
from ._stencil_radius import stencil_rows
from ._tuning import output_rows_per_pass

__all__ = ["STENCIL_PATTERNS", "box_stencil", "star_stencil", "stencil_weights"]

STENCIL_PATTERNS = ("star", "box")


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


def _kernel_body(pattern, radius):
    """The jitted body of the ``pattern`` stencil of ``radius``: ``out[r:-r, r:-r] +=``
    the stencil of ``a`` (no checks; :func:`star_stencil` and :func:`box_stencil` give
    the formulas).

    The rows are taken in blocks of ``output_rows_per_pass`` (one block per ``prange``
    iteration), each by the loop generated for this pattern and radius
    (:func:`~clusterkit.kernels._stencil_radius.stencil_rows`); ``pattern`` and
    ``radius`` are closure constants, so each compiles to its own machine code and is
    cached under its own key.
    """
    block = output_rows_per_pass(pattern, radius)

    def body(a, w, out):
        n0 = a.shape[0]
        for b in prange((n0 - 2 * radius + block - 1) // block):
            i = radius + b * block
            stencil_rows(a, w, out, i, min(block, n0 - radius - i), pattern, radius)

    # a name per pattern and radius: each kernel gets its own cache index and data files
    # and its own machine-code symbols (with one name for every radius, kernels compiled
    # in different processes could share a symbol, and a jitted caller linking one of
    # them could be linked to another radius's code)
    body.__name__ = body.__qualname__ = f"{pattern}_r{radius}_body"
    return body


#: (pattern, radius) -> (serial, parallel) jitted kernels, compiled on first use
_KERNELS = {}


def unchecked(pattern, radius, parallel=False):
    """The jitted kernel ``kernel(a, w, out)`` of one pattern and radius, without the
    checks of :func:`star_stencil` / :func:`box_stencil`.

    Internal to clusterkit: for a job's iteration loop after one checked call on the
    same arrays, and for the benchmarks. The dispatcher can be called from Python or
    from jitted code (``radius`` is fixed in it). Each pattern and radius is its own
    Numba dispatcher (with its own cache entry), made on first use: a job compiles only
    the radius it runs.

    Parameters
    ----------
    pattern : {"star", "box"}
    radius : int
        Stencil radius ``>= 1``.
    parallel : bool
        The threaded (``parallel=True``) variant.

    Returns
    -------
    numba dispatcher
        ``kernel(a, w, out)``, arguments as for :func:`star_stencil`.

    Raises
    ------
    TypeError, ValueError
        On a radius that is not an integer ``>= 1``, or an unknown pattern.
    """
    pair = _KERNELS.get((pattern, radius))
    if pair is None:
        r = check_int("radius", radius, 1)
        if pattern not in STENCIL_PATTERNS:
            raise ValueError(f"pattern must be one of {STENCIL_PATTERNS}, got {pattern!r}")
        pair = _KERNELS[(pattern, radius)] = serial_and_parallel(_kernel_body(pattern, r))
    return pair[1 if parallel else 0]


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


@dispatch_route(lambda a, w, radius, out, *, parallel=False:
                (unchecked("star", int(radius), parallel), (a, w, out)))
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
    unchecked("star", r, parallel)(a, w, out)
    return out


@dispatch_route(lambda a, w, radius, out, *, parallel=False:
                (unchecked("box", int(radius), parallel), (a, w, out)))
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
    unchecked("box", r, parallel)(a, w, out)
    return out
