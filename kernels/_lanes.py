"""Lane loops of the reductions: element ``i`` of a chunk goes to lane ``i % REDUCTION_LANES``,
or column ``k`` of a tile of rows to accumulator ``k``.

Each ``*_lanes`` loop adds one chunk (a 1-D view, first element in lane 0) to
per-lane accumulators that the caller owns and keeps across chunks. The lanes
are independent, so the loop over them vectorises; ``LANE_ROWS_PER_PASS`` rows of
lanes per pass keep the lane accumulators in registers; the rest of the chunk
goes one (possibly partial) row of lanes at a time, still vectorised. Every
lane sees its elements in order, so the results depend only on the values and
their C order. Each ``*_columns`` loop folds ``LANE_ROWS_PER_PASS`` rows (or one)
of a tile into per-column accumulators the same way, loading and storing each
accumulator once per pass. (The constants are in ``_tuning``.)

The loops look alike but are written out one by one, the skipnan and plain
passes apart: each keeps its own set of accumulators in registers and tests
nothing per element that it does not need (a NaN test, a shift); the exact
sum's extraction loops (``exactsum``) are written the same way.
"""

from ._jit import njit_cached
from ._prefetch import prefetch_range
from ._tuning import LANE_ROWS_PER_PASS, REDUCTION_LANES

__all__ = ["lane_tree_sum", "shifted_columns", "shifted_lanes", "sq_dev_columns",
           "sq_dev_lanes", "sum_columns", "sum_lanes"]

if REDUCTION_LANES & (REDUCTION_LANES - 1):
    raise ImportError("_lanes: REDUCTION_LANES must be a power of two (lane_tree_sum)")


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
    """Per lane (element ``i`` -> lane ``i % REDUCTION_LANES``, in order): sum of the
    elements and, with ``skipnan``, count and sum of the non-NaN ones only (``cnt`` is
    then updated)."""
    n = w.shape[0]
    mr = n - n % (LANE_ROWS_PER_PASS * REDUCTION_LANES)
    if skipnan:
        for i in range(0, mr, LANE_ROWS_PER_PASS * REDUCTION_LANES):
            for j in range(REDUCTION_LANES):
                a = cnt[j]
                b = sm[j]
                for k in range(LANE_ROWS_PER_PASS):
                    x = float(w[i + k * REDUCTION_LANES + j])
                    ok = x == x
                    a += 1.0 if ok else 0.0
                    b += x if ok else 0.0
                cnt[j] = a
                sm[j] = b
        for i in range(mr, n, REDUCTION_LANES):
            v = w[i:min(n, i + REDUCTION_LANES)]
            for j in range(v.shape[0]):
                x = float(v[j])
                ok = x == x
                cnt[j] += 1.0 if ok else 0.0
                sm[j] += x if ok else 0.0
    else:
        for i in range(0, mr, LANE_ROWS_PER_PASS * REDUCTION_LANES):
            for j in range(REDUCTION_LANES):
                b = sm[j]
                for k in range(LANE_ROWS_PER_PASS):
                    b += float(w[i + k * REDUCTION_LANES + j])
                sm[j] = b
        for i in range(mr, n, REDUCTION_LANES):
            v = w[i:min(n, i + REDUCTION_LANES)]
            for j in range(v.shape[0]):
                sm[j] += float(v[j])


@njit_cached
def shifted_lanes(w, skipnan, shift, cnt, sd, sq, ahead):
    """Per lane, in one pass: with ``d = x - shift``, ``sum d`` into ``sd`` and ``sum d*d``
    into ``sq`` (the non-NaN elements only, counted into ``cnt``, with ``skipnan``).

    Four rows of lanes per pass, each a 0-based view (the loop vectorises with no
    index arithmetic); prefetches ``ahead`` (the next chunk) as it goes.
    """
    n = w.shape[0]
    L = REDUCTION_LANES
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
    for i in range(m4, n, L):
        v = w[i:min(n, i + L)]
        for j in range(v.shape[0]):
            x = float(v[j])
            ok = (x == x) | (not skipnan)
            d = x - shift if ok else 0.0
            cnt[j] += 1.0 if ok else 0.0
            sd[j] += d
            sq[j] += d * d


@njit_cached
def sq_dev_lanes(w, skipnan, mean, sq):
    """Per lane: sum of ``(x - mean)**2`` over the elements (the non-NaN ones with ``skipnan``)."""
    n = w.shape[0]
    step = LANE_ROWS_PER_PASS * REDUCTION_LANES
    mr = n - n % step
    if skipnan:
        for i in range(0, mr, step):
            for j in range(REDUCTION_LANES):
                a = sq[j]
                for k in range(LANE_ROWS_PER_PASS):
                    x = float(w[i + k * REDUCTION_LANES + j])
                    d = x - mean if x == x else 0.0
                    a += d * d
                sq[j] = a
    else:
        for i in range(0, mr, step):
            for j in range(REDUCTION_LANES):
                a = sq[j]
                for k in range(LANE_ROWS_PER_PASS):
                    d = float(w[i + k * REDUCTION_LANES + j]) - mean
                    a += d * d
                sq[j] = a
    for i in range(mr, n, REDUCTION_LANES):
        v = w[i:min(n, i + REDUCTION_LANES)]
        for j in range(v.shape[0]):
            x = float(v[j])
            d = x - mean if (x == x) | (not skipnan) else 0.0
            sq[j] += d * d


# -- columns as lanes: rows ``vs`` (LANE_ROWS_PER_PASS or one equal-length 1-D arrays) --

@njit_cached
def sum_columns(vs, skipnan, sm, cnt):
    """Add the rows ``vs`` to per-column sums ``sm`` and counts ``cnt`` (NaNs left out of
    both with ``skipnan``; otherwise ``cnt`` is not touched)."""
    if skipnan:
        for k in range(sm.shape[0]):
            a = sm[k]
            b = cnt[k]
            for v in vs:
                x = float(v[k])
                ok = x == x
                a += x if ok else 0.0
                b += 1.0 if ok else 0.0
            sm[k] = a
            cnt[k] = b
    else:
        for k in range(sm.shape[0]):
            a = sm[k]
            for v in vs:
                a += float(v[k])
            sm[k] = a


@njit_cached
def shifted_columns(vs, skipnan, h, cnt, sd, sq):
    """Per column, with ``d = x - h``: ``sum d`` into ``sd`` and ``sum d*d`` into ``sq``
    (with ``skipnan`` NaNs left out and the others counted into ``cnt``)."""
    if skipnan:
        for k in range(h.shape[0]):
            s = h[k]
            a = cnt[k]
            b = sd[k]
            c = sq[k]
            for v in vs:
                x = float(v[k])
                ok = x == x
                d = x - s if ok else 0.0
                a += 1.0 if ok else 0.0
                b += d
                c += d * d
            cnt[k] = a
            sd[k] = b
            sq[k] = c
    else:
        for k in range(h.shape[0]):
            s = h[k]
            b = sd[k]
            c = sq[k]
            for v in vs:
                d = float(v[k]) - s
                b += d
                c += d * d
            sd[k] = b
            sq[k] = c


@njit_cached
def sq_dev_columns(vs, skipnan, mean, sq):
    """Per column: add ``(x - mean)**2`` of the rows ``vs`` (non-NaN ``x`` with ``skipnan``)."""
    for k in range(mean.shape[0]):
        mu = mean[k]
        c = sq[k]
        for v in vs:
            x = float(v[k])
            d = x - mu if (x == x) | (not skipnan) else 0.0
            c += d * d
        sq[k] = c
