"""Combiners of partial reduction results: pairwise block sums, Neumaier pairs, Chan moments.

The kernels merge their blocks, chunks and lanes with them; the Neumaier and
Chan combiners also merge the partial results of several ranks.
"""

import math

import numpy as np

from ._jit import njit_cached

__all__ = ["chan_combine", "neumaier_combine", "pairwise_combine"]


@njit_cached
def pairwise_combine(partial):
    """Pairwise (binary-counter) sum of block partial sums, left to right.

    Block ``b`` is pushed on a stack; after each push, while the number of
    blocks pushed so far is even at the current level, the top two entries
    are replaced by their sum (left + right). The remaining entries are then
    added from the right. For ``2**k`` blocks this is the balanced binary
    tree; in general the tree depends only on ``len(partial)``.

    Parameters
    ----------
    partial : numpy.ndarray
        1-D float64 block sums.

    Returns
    -------
    float
        0.0 for an empty input.
    """
    stack = np.empty(65)
    depth = 0
    for b in range(partial.shape[0]):
        stack[depth] = partial[b]
        depth += 1
        c = b + 1
        while c & 1 == 0:
            depth -= 1
            stack[depth - 1] = stack[depth - 1] + stack[depth]
            c >>= 1
    s = 0.0
    if depth > 0:
        s = stack[depth - 1]
        for d in range(depth - 2, -1, -1):
            s = stack[d] + s
    return s


@njit_cached
def neumaier_combine(s_a, c_a, s_b, c_b):
    """Combine two Neumaier partial sums ``(s, c)`` into one.

    ``s = s_a + s_b`` with its rounding error (Knuth's TwoSum) added to the
    compensation ``c = c_a + c_b + err``; the total is ``s + c``.

    Parameters
    ----------
    s_a, c_a, s_b, c_b : float
        Sums and compensations of two parts.

    Returns
    -------
    s, c : float
    """
    s = s_a + s_b
    bb = s - s_a
    err = (s_a - (s - bb)) + (s_b - bb)
    c = c_a + c_b
    if math.isfinite(s):
        c += err
    else:
        c = 0.0
    return s, c


@njit_cached
def chan_combine(n_a, mean_a, m2_a, n_b, mean_b, m2_b):
    """Combine two (count, mean, M2) summaries (Chan, Golub & LeVeque, 1979).

    ``n = n_a + n_b``, ``delta = mean_b - mean_a``,
    ``mean = mean_a + delta * (n_b / n)``,
    ``M2 = M2_a + M2_b + delta**2 * n_a * (n_b / n)``. An empty side
    (``n == 0``) returns the other unchanged. The variance is ``M2 / n``
    (or ``M2 / (n - 1)``). The result can differ in the last bits when the
    operands are swapped, so combine in a fixed order for reproducibility.

    Parameters
    ----------
    n_a, mean_a, m2_a : int, float, float
        Count, mean and sum of squared deviations of part A.
    n_b, mean_b, m2_b : int, float, float
        The same for part B.

    Returns
    -------
    n, mean, m2 : int, float, float
    """
    if n_b == 0:
        return n_a, mean_a, m2_a
    if n_a == 0:
        return n_b, mean_b, m2_b
    n = n_a + n_b
    f = n_b / n
    delta = mean_b - mean_a
    return n, mean_a + delta * f, m2_a + m2_b + delta * delta * (n_a * f)
