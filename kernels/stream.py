"""STREAM triad ``a = b + s*c``: the memory-bandwidth ceiling used by the benchmarks."""

import numbers

import numpy as np
from numba import prange

from ._checks import check_array, check_disjoint, check_same_shape
from ._jit import dispatch_route, serial_and_parallel

__all__ = ["stream_triad"]


def _triad_body(a, b, c, scalar):
    """Jitted STREAM triad ``a[i] = b[i] + scalar * c[i]`` on 1-D arrays (no checks).

    Parameters
    ----------
    a : numpy.ndarray
        1-D output.
    b, c : numpy.ndarray
        1-D inputs of ``a``'s length.
    scalar : float
        Multiplier of ``c``.
    """
    for i in prange(a.shape[0]):
        a[i] = b[i] + scalar * c[i]


#: (serial, parallel) dispatchers of the triad body
_TRIAD = serial_and_parallel(_triad_body)


def unchecked(parallel=False):
    """The jitted triad ``triad(a, b, c, scalar)`` without :func:`stream_triad`'s checks.

    Internal to clusterkit (the benchmarks' ceiling): the caller guarantees what
    :func:`stream_triad` checks, and passes ``scalar`` as a float. The dispatcher can be
    called from Python or from jitted code.

    Parameters
    ----------
    parallel : bool
        The threaded (``parallel=True``) variant.

    Returns
    -------
    numba dispatcher
        ``triad(a, b, c, scalar)``.
    """
    return _TRIAD[1 if parallel else 0]


@dispatch_route(lambda a, b, c, scalar, *, parallel=False:
                (unchecked(parallel), (a, b, c, np.float64(scalar))))
def stream_triad(a, b, c, scalar, *, parallel=False):
    """STREAM triad: ``a[i] = b[i] + scalar * c[i]``.

    Parameters
    ----------
    a : numpy.ndarray
        1-D float32/float64 output array.
    b, c : numpy.ndarray
        1-D inputs of the same length (and any float dtype); must not
        overlap ``a``.
    scalar : float
        Multiplier of ``c``.
    parallel : bool
        Use the threaded (``parallel=True``) variant.

    Returns
    -------
    numpy.ndarray
        ``a``.

    Raises
    ------
    TypeError, ValueError
        On wrong types, dtypes, shapes or overlapping arrays.
    """
    check_array("a", a, ndim=1, writeable=True)
    check_array("b", b, ndim=1)
    check_array("c", c, ndim=1)
    check_same_shape("a", a, "b", b)
    check_same_shape("a", a, "c", c)
    check_disjoint("b", b, "a", a)
    check_disjoint("c", c, "a", a)
    if isinstance(scalar, (bool, np.bool_)) or not isinstance(scalar, numbers.Real):
        raise TypeError(f"scalar must be a real number, got {type(scalar).__name__}")
    unchecked(parallel)(a, b, c, np.float64(scalar))
    return a
