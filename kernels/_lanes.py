"""Lane loops of the chunked reductions: element ``i`` of a chunk goes to lane ``i % LANES``.

Each loop adds one chunk (a 1-D view, first element in lane 0) to per-lane
accumulators that the caller owns and keeps across chunks. The lanes are
independent, so the loop over them vectorises; ``ROWS`` rows of ``LANES``
elements per pass keep the lane accumulators in registers. Every lane sees
its elements in order, so the results depend only on the values and their
C order.
"""

from ._flat import AHEAD, LANES, prefetch_ahead
from ._jit import njit_cached
from ._prefetch import prefetch_range

__all__ = ["ROWS", "lane_tree_sum", "minmax_lanes", "neumaier_lanes", "shifted_lanes",
           "sq_dev_lanes", "sum_lanes", "two_sum"]

ROWS = 8  # rows of LANES elements per pass of the lane loops (lanes stay in registers)


@njit_cached
def two_sum(s, c, x):
    """Add ``x`` to the Neumaier pair ``(s, c)``; returns the new pair.

    The rounding error of ``s + x`` comes from Knuth's branch-free TwoSum,
    which gives the same value as Neumaier's branch on ``|s| >= |x|``.
    """
    t = s + x
    bb = t - s
    return t, c + ((s - (t - bb)) + (x - bb))


@njit_cached
def neumaier_lanes(w, s, c):
    """Add chunk ``w`` (first element in lane 0) to lane sums ``s`` and compensations ``c``.

    Element ``i`` goes to lane ``i % LANES``, each lane in order. The loop over
    the lanes vectorises; four rows of lanes per pass keep the lanes in registers.
    """
    n = w.shape[0]
    m = n - n % LANES
    m4 = n - n % (4 * LANES)
    for i in range(0, m4, 4 * LANES):
        v0 = w[i:i + LANES]
        v1 = w[i + LANES:i + 2 * LANES]
        v2 = w[i + 2 * LANES:i + 3 * LANES]
        v3 = w[i + 3 * LANES:i + 4 * LANES]
        for j in range(LANES):
            a, e = two_sum(float(s[j]), float(c[j]), float(v0[j]))
            a, e = two_sum(a, e, float(v1[j]))
            a, e = two_sum(a, e, float(v2[j]))
            a, e = two_sum(a, e, float(v3[j]))
            s[j] = a
            c[j] = e
    for i in range(m4, m, LANES):
        v = w[i:i + LANES]
        for j in range(LANES):
            s[j], c[j] = two_sum(float(s[j]), float(c[j]), float(v[j]))
    for j in range(n - m):
        s[j], c[j] = two_sum(float(s[j]), float(c[j]), float(w[m + j]))


@njit_cached
def lane_tree_sum(a):
    """Sum of the lanes ``a`` (a power of two of them), pairwise; clobbers ``a``."""
    w = a.shape[0] // 2
    while w > 0:
        for j in range(w):
            a[j] = a[j] + a[j + w]
        w //= 2
    return a[0]


@njit_cached
def sum_lanes(w, skipnan, cnt, sm):
    """Per lane (element ``i`` -> lane ``i % LANES``, in order): sum of the elements and,
    with ``skipnan``, count and sum of the non-NaN ones only (``cnt`` is then updated)."""
    n = w.shape[0]
    mr = n - n % (ROWS * LANES)
    if skipnan:
        for i in range(0, mr, ROWS * LANES):
            for j in range(LANES):
                a = cnt[j]
                b = sm[j]
                for k in range(ROWS):
                    x = float(w[i + k * LANES + j])
                    ok = x == x
                    a += 1.0 if ok else 0.0
                    b += x if ok else 0.0
                cnt[j] = a
                sm[j] = b
        for i in range(mr, n):
            j = (i - mr) % LANES
            x = float(w[i])
            ok = x == x
            cnt[j] += 1.0 if ok else 0.0
            sm[j] += x if ok else 0.0
    else:
        for i in range(0, mr, ROWS * LANES):
            for j in range(LANES):
                b = sm[j]
                for k in range(ROWS):
                    b += float(w[i + k * LANES + j])
                sm[j] = b
        for i in range(mr, n):
            sm[(i - mr) % LANES] += float(w[i])


@njit_cached
def shifted_lanes(w, skipnan, shift, cnt, sd, sq, ahead):
    """Per lane, in one pass: with ``d = x - shift``, ``sum d`` into ``sd`` and ``sum d*d``
    into ``sq`` (the non-NaN elements only, counted into ``cnt``, with ``skipnan``).

    Four rows of lanes per pass, each a 0-based view (the loop vectorises with no
    index arithmetic); prefetches ``ahead`` (the next chunk) as it goes.
    """
    n = w.shape[0]
    L = LANES
    m4 = n - n % (4 * L)
    if skipnan:
        for i in range(0, m4, 4 * L):
            prefetch_range(ahead, i, i + 4 * L)
            v0, v1, v2, v3 = w[i:i + L], w[i + L:i + 2 * L], w[i + 2 * L:i + 3 * L], \
                w[i + 3 * L:i + 4 * L]
            for j in range(L):
                x0, x1, x2, x3 = float(v0[j]), float(v1[j]), float(v2[j]), float(v3[j])
                d0 = x0 - shift if x0 == x0 else 0.0
                d1 = x1 - shift if x1 == x1 else 0.0
                d2 = x2 - shift if x2 == x2 else 0.0
                d3 = x3 - shift if x3 == x3 else 0.0
                cnt[j] += (((1.0 if x0 == x0 else 0.0) + (1.0 if x1 == x1 else 0.0))
                           + ((1.0 if x2 == x2 else 0.0) + (1.0 if x3 == x3 else 0.0)))
                sd[j] += (d0 + d1) + (d2 + d3)
                sq[j] += (d0 * d0 + d1 * d1) + (d2 * d2 + d3 * d3)
    else:
        for i in range(0, m4, 4 * L):
            prefetch_range(ahead, i, i + 4 * L)
            v0, v1, v2, v3 = w[i:i + L], w[i + L:i + 2 * L], w[i + 2 * L:i + 3 * L], \
                w[i + 3 * L:i + 4 * L]
            for j in range(L):
                d0 = float(v0[j]) - shift
                d1 = float(v1[j]) - shift
                d2 = float(v2[j]) - shift
                d3 = float(v3[j]) - shift
                sd[j] += (d0 + d1) + (d2 + d3)
                sq[j] += (d0 * d0 + d1 * d1) + (d2 * d2 + d3 * d3)
    for i in range(m4, n):
        x = float(w[i])
        ok = (x == x) | (not skipnan)
        d = x - shift if ok else 0.0
        j = (i - m4) % L
        cnt[j] += 1.0 if ok else 0.0
        sd[j] += d
        sq[j] += d * d


@njit_cached
def sq_dev_lanes(w, skipnan, mean, sq, ahead):
    """Per lane: sum of ``(x - mean)**2`` over the elements (the non-NaN ones with ``skipnan``).

    ``w`` is in cache by now; the loop prefetches ``ahead`` (the next chunk) as it goes.
    """
    n = w.shape[0]
    step = ROWS * LANES
    mr = n - n % step
    if skipnan:
        for i in range(0, mr, step):
            prefetch_range(ahead, i, i + step)
            for j in range(LANES):
                a = sq[j]
                for k in range(ROWS):
                    x = float(w[i + k * LANES + j])
                    d = x - mean if x == x else 0.0
                    a += d * d
                sq[j] = a
    else:
        for i in range(0, mr, step):
            prefetch_range(ahead, i, i + step)
            for j in range(LANES):
                a = sq[j]
                for k in range(ROWS):
                    d = float(w[i + k * LANES + j]) - mean
                    a += d * d
                sq[j] = a
    for i in range(mr, n):
        x = float(w[i])
        d = x - mean if (x == x) | (not skipnan) else 0.0
        sq[(i - mr) % LANES] += d * d


@njit_cached
def minmax_lanes(w, lo, hi, nans, ahead):
    """Per lane: minimum, maximum and number of NaNs (a NaN leaves min and max unchanged).

    Prefetches :data:`AHEAD` elements on (into ``ahead``, the next chunk, at the end).
    """
    n = w.shape[0]
    step = ROWS * LANES
    mr = n - n % step
    for i in range(0, mr, step):
        prefetch_ahead(w, ahead, i + AHEAD, i + AHEAD + step)
        for j in range(LANES):
            a = lo[j]
            b = hi[j]
            c = nans[j]
            for k in range(ROWS):
                x = float(w[i + k * LANES + j])
                a = x if x < a else a
                b = x if x > b else b
                c += 1.0 if x != x else 0.0
            lo[j] = a
            hi[j] = b
            nans[j] = c
    for i in range(mr, n):
        j = (i - mr) % LANES
        x = float(w[i])
        lo[j] = x if x < lo[j] else lo[j]
        hi[j] = x if x > hi[j] else hi[j]
        nans[j] += 1.0 if x != x else 0.0
