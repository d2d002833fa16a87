"""Chan's combination of two (count, mean, M2) summaries: how the moment kernels merge
their chunks, rows and tiles."""

from ._jit import njit_cached

__all__ = ["chan_combine"]


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
