"""Local (per-rank) reductions whose partial results MPI collectives combine.

Over all elements (:func:`local_moments`; the exact sum is
:func:`~.exactsum.local_sum_exact`) an array is read once in C order, chunk
by chunk. Over some axes (:func:`axis_sums`, :func:`axis_moments`) it is
split into 3-D views of two forms
(:func:`~._flat.axis_pieces`): "outer" ``(R1, K, R2)``, whose rows are reduced
by the lane loops of the full reductions, and "middle" ``(P, R, Q)``, whose
rows are added element by element into accumulators of a tile of columns
(``REDUCTION_TILE_COLUMNS``) that stay in L1 cache while the ``R`` rows stream
past. Either way the array is read once, with no temporaries, whatever its
strides; the results go into (are combined with) caller-owned outputs, so that
MPI can combine the ranks' partial results in place. The chunk, lane and tile
sizes are in ``_tuning``.
"""

import numpy as np

from ._checks import check_array
from ._combine import chan_combine
from ._flat import axis_pieces, chunk_ahead, chunk_view, reduction_input, row_span
from ._jit import njit_cached
from ._lanes import (lane_tree_sum, shifted_columns, shifted_lanes, sq_dev_columns,
                     sq_dev_lanes, sum_columns, sum_lanes)
from ._tuning import (LANE_ROWS_PER_PASS, MOMENTS_CHUNK_ELEMENTS, REDUCTION_CHUNK_ELEMENTS,
                      REDUCTION_LANES, REDUCTION_TILE_COLUMNS)

__all__ = ["axis_moments", "axis_sums", "local_moments"]

# An accuracy bound, not tuning (the argument is in _chunk_moments): the bits the
# one-pass (shifted) moments may lose to cancellation before a chunk or tile is redone
# by two passes.
_SHIFT_BITS = 8
if LANE_ROWS_PER_PASS != 8:
    raise ImportError("reductions: _rows spells out 8 rows; LANE_ROWS_PER_PASS must be 8")


@njit_cached
def _one_pass_ok(n, sd, sq):
    """Whether ``sq - sd**2 / n`` loses at most ``_SHIFT_BITS`` bits (False for NaN, inf
    and overflowing squares: two passes handle those)."""
    lim = float(2 ** _SHIFT_BITS)
    return sq < np.inf and sd * sd * (lim + 1.0) <= lim * n * sq


@njit_cached
def _chunk_moments(w, skipnan, shift, la, lb, lc, ahead):
    """(count, mean, M2) of the chunk ``w``, in lanes.

    One pass of sums of ``d = x - shift`` and ``d*d`` (``shift``: the previous chunk's
    mean), then ``M2 = sum d*d - (sum d)**2 / n``, which can cancel: it loses about
    ``log2(1 + ((sum d)**2 / n) / M2)`` bits more than the two-pass algorithm. When
    that could exceed ``_SHIFT_BITS`` (the shift far from the chunk's mean) the
    chunk, in cache by now, is redone by the two-pass algorithm.
    """
    la[:] = 0.0
    lb[:] = 0.0
    lc[:] = 0.0
    shifted_lanes(w, skipnan, shift, la, lb, lc, ahead)
    count = lane_tree_sum(la) if skipnan else float(w.shape[0])
    if count == 0.0:
        return 0, 0.0, 0.0
    sd = lane_tree_sum(lb)
    sq = lane_tree_sum(lc)
    if _one_pass_ok(count, sd, sq):
        return int(count), shift + sd / count, sq - sd * sd / count
    la[:] = 0.0
    lb[:] = 0.0
    sum_lanes(w, skipnan, la, lb)
    count = lane_tree_sum(la) if skipnan else float(w.shape[0])
    mean = lane_tree_sum(lb) / count
    lb[:] = 0.0
    sq_dev_lanes(w, skipnan, mean, lb)
    return int(count), mean, lane_tree_sum(lb)


@njit_cached
def _moments(x, skipnan):
    n = x.shape[0] * x.shape[1] * x.shape[2]
    buf = np.empty(min(n, MOMENTS_CHUNK_ELEMENTS), x.dtype)
    la = np.empty(REDUCTION_LANES)
    lb = np.empty(REDUCTION_LANES)
    lc = np.empty(REDUCTION_LANES)
    shift = 0.0
    sn = np.zeros(65, np.int64)
    sm = np.zeros(65)
    s2 = np.zeros(65)
    depth = 0
    nb = 0
    size = MOMENTS_CHUNK_ELEMENTS
    for start in range(0, n, size):
        cn, cm, cq = _chunk_moments(chunk_view(x, start, min(size, n - start), buf), skipnan,
                                    shift, la, lb, lc, chunk_ahead(x, start + size, size, buf))
        if cn > 0 and cm == cm and abs(cm) < np.inf:
            shift = cm  # the next chunk's shift
        sn[depth] = cn
        sm[depth] = cm
        s2[depth] = cq
        depth += 1
        nb += 1
        c = nb
        while c & 1 == 0:  # pairwise
            depth -= 1
            cn, cm, cq = chan_combine(sn[depth - 1], sm[depth - 1], s2[depth - 1],
                                      sn[depth], sm[depth], s2[depth])
            sn[depth - 1] = cn
            sm[depth - 1] = cm
            s2[depth - 1] = cq
            c >>= 1
    if depth == 0:
        return 0, 0.0, 0.0
    cn = sn[depth - 1]
    cm = sm[depth - 1]
    cq = s2[depth - 1]
    for d in range(depth - 2, -1, -1):
        cn, cm, cq = chan_combine(sn[d], sm[d], s2[d], cn, cm, cq)
    return cn, cm, cq


def local_moments(x, *, skipna=False):
    """Count, mean and sum of squared deviations (M2) of all elements.

    Blocked Welford/Chan update in float64: the elements (C order) are cut into
    chunks of ``MOMENTS_CHUNK_ELEMENTS``; each chunk's count, mean and M2 come from
    one pass of sums of ``d = x - shift`` and ``d*d`` with the previous chunk's mean
    as the shift (``M2 = sum d*d - (sum d)**2/n``), in ``REDUCTION_LANES`` lanes
    (element ``i`` to lane ``i % REDUCTION_LANES``, lanes added pairwise), leaving
    out the chunk's NaNs when ``skipna``. A chunk whose mean is so far from the
    shift that the difference could lose more than ``_SHIFT_BITS`` bits to
    cancellation (``(sum d)**2/n > 2**_SHIFT_BITS * M2``) is redone by the two-pass
    algorithm while it is in cache. The chunks are merged with Chan's formula
    pairwise (binary-counter order; Welford's per-element update is the chunk-size-1
    case). The result depends only on the values and their C order (strided views
    and contiguous copies give the same bits). Partial results combine with Chan's
    formula; the variance is ``M2 / n`` (``M2 / (n-1)`` sample).

    Parameters
    ----------
    x : numpy.ndarray
        float32/float64 array of any shape and strides.
    skipna : bool
        Ignore NaNs (otherwise a NaN makes mean and M2 NaN).

    Returns
    -------
    count, mean, m2 : int, float, float
        ``(0, 0.0, 0.0)`` when there is nothing to count (the identity of
        :func:`~._combine.chan_combine`).

    Raises
    ------
    TypeError
        If ``x`` is not a float32/float64 array.
    """
    n, m, q = _moments(reduction_input("x", x), bool(skipna))
    return int(n), float(m), float(q)



# -- over some axes: "outer" form (R1, K, R2) -> (K,), row by row ------------------------

@njit_cached
def _sums_outer(x, skipnan, s, c):
    n0, n1, n2 = x.shape
    if n2 < REDUCTION_LANES:  # short rows: one by one (lanes would cost more than they save)
        for i0 in range(n0):
            for k in range(n1):
                v = x[i0, k]
                rs = 0.0
                rc = 0.0
                for j in range(n2):
                    y = float(v[j])
                    ok = (y == y) | (not skipnan)
                    rs += y if ok else 0.0
                    rc += 1.0 if ok else 0.0
                s[k] += rs
                c[k] += rc
        return
    buf = np.empty(min(n2, REDUCTION_CHUNK_ELEMENTS), x.dtype)
    la = np.empty(REDUCTION_LANES)
    lb = np.empty(REDUCTION_LANES)
    for i0 in range(n0):
        for k in range(n1):
            rs = 0.0
            rc = 0.0
            for start in range(0, n2, REDUCTION_CHUNK_ELEMENTS):
                m = min(REDUCTION_CHUNK_ELEMENTS, n2 - start)
                la[:] = 0.0
                lb[:] = 0.0
                sum_lanes(row_span(x, i0, k, start, m, buf), skipnan, la, lb)
                rc += lane_tree_sum(la) if skipnan else float(m)
                rs += lane_tree_sum(lb)
            s[k] += rs
            c[k] += rc


@njit_cached
def _short_row_moments(v, skipnan):
    """(count, mean, M2) of a short row by two passes."""
    c = 0.0
    t = 0.0
    for j in range(v.shape[0]):
        y = float(v[j])
        ok = (y == y) | (not skipnan)
        c += 1.0 if ok else 0.0
        t += y if ok else 0.0
    if c == 0.0:
        return 0.0, 0.0, 0.0
    mu = t / c
    q = 0.0
    for j in range(v.shape[0]):
        y = float(v[j])
        d = y - mu if (y == y) | (not skipnan) else 0.0
        q += d * d
    return c, mu, q


@njit_cached
def _moments_outer(x, skipnan, n, mean, m2):
    n0, n1, n2 = x.shape
    if n2 < REDUCTION_LANES:  # short rows: two passes each, in cache
        for i0 in range(n0):
            for k in range(n1):
                bn, bm, bq = _short_row_moments(x[i0, k], skipnan)
                n[k], mean[k], m2[k] = chan_combine(n[k], mean[k], m2[k], bn, bm, bq)
        return
    buf = np.empty(min(n2, MOMENTS_CHUNK_ELEMENTS), x.dtype)
    la = np.empty(REDUCTION_LANES)
    lb = np.empty(REDUCTION_LANES)
    lc = np.empty(REDUCTION_LANES)
    shift = 0.0
    for i0 in range(n0):
        for k in range(n1):
            cn = n[k]
            cm = mean[k]
            cq = m2[k]
            for start in range(0, n2, MOMENTS_CHUNK_ELEMENTS):
                w = row_span(x, i0, k, start, min(MOMENTS_CHUNK_ELEMENTS, n2 - start), buf)
                bn, bm, bq = _chunk_moments(w, skipnan, shift, la, lb, lc, buf[:0])
                if bn > 0 and bm == bm and abs(bm) < np.inf:
                    shift = bm  # the next row's (a neighbour's mean is a good shift)
                cn, cm, cq = chan_combine(cn, cm, cq, float(bn), bm, bq)
            n[k] = cn
            mean[k] = cm
            m2[k] = cq


# -- over some axes: "middle" form (P, R, Q) -> (P, Q), tiles of columns -----------------

@njit_cached
def _rows(x, p, r, q, m, buf):
    """Columns ``q .. q+m-1`` of the 8 (``LANE_ROWS_PER_PASS``) rows ``x[p, r:r+8]``, as
    1-D arrays."""
    return (row_span(x, p, r, q, m, buf[0]), row_span(x, p, r + 1, q, m, buf[1]),
            row_span(x, p, r + 2, q, m, buf[2]), row_span(x, p, r + 3, q, m, buf[3]),
            row_span(x, p, r + 4, q, m, buf[4]), row_span(x, p, r + 5, q, m, buf[5]),
            row_span(x, p, r + 6, q, m, buf[6]), row_span(x, p, r + 7, q, m, buf[7]))


@njit_cached
def _sums_middle(x, skipnan, s, c):
    n0, n1, n2 = x.shape
    buf = np.empty((LANE_ROWS_PER_PASS, min(n2, REDUCTION_TILE_COLUMNS)), x.dtype)
    for p in range(n0):
        for q in range(0, n2, REDUCTION_TILE_COLUMNS):
            m = min(REDUCTION_TILE_COLUMNS, n2 - q)
            so = s[p, q:q + m]
            co = c[p, q:q + m]
            for r in range(0, n1 - n1 % LANE_ROWS_PER_PASS, LANE_ROWS_PER_PASS):
                sum_columns(_rows(x, p, r, q, m, buf), skipnan, so, co)
            for r in range(n1 - n1 % LANE_ROWS_PER_PASS, n1):
                sum_columns((row_span(x, p, r, q, m, buf[0]),), skipnan, so, co)
            if not skipnan:
                co += float(n1)


@njit_cached
def _tile_two_pass(x, p, q, m, skipnan, buf, cnt, mu, sq):
    """Count, mean and M2 of tile columns ``q .. q+m-1`` of ``x[p]`` by two passes."""
    n1 = x.shape[1]
    mu[:] = 0.0
    sq[:] = 0.0
    cnt[:] = 0.0 if skipnan else float(n1)
    for r in range(0, n1 - n1 % LANE_ROWS_PER_PASS, LANE_ROWS_PER_PASS):
        sum_columns(_rows(x, p, r, q, m, buf), skipnan, mu, cnt)
    for r in range(n1 - n1 % LANE_ROWS_PER_PASS, n1):
        sum_columns((row_span(x, p, r, q, m, buf[0]),), skipnan, mu, cnt)
    for k in range(m):
        mu[k] = mu[k] / cnt[k] if cnt[k] > 0.0 else 0.0
    for r in range(0, n1 - n1 % LANE_ROWS_PER_PASS, LANE_ROWS_PER_PASS):
        sq_dev_columns(_rows(x, p, r, q, m, buf), skipnan, mu, sq)
    for r in range(n1 - n1 % LANE_ROWS_PER_PASS, n1):
        sq_dev_columns((row_span(x, p, r, q, m, buf[0]),), skipnan, mu, sq)


@njit_cached
def _moments_middle(x, skipnan, n, mean, m2):
    """One pass of sums of ``d = x - h`` and ``d*d`` per column, ``h`` the column's first
    value (with ``skipnan`` its first non-NaN one among the first
    ``LANE_ROWS_PER_PASS`` rows, else 0); ``M2 = sum d*d - (sum d)**2 / n``. A tile
    where that difference could lose more than ``_SHIFT_BITS`` bits (a shift far from
    its column's mean) is redone by two passes. Tiles are combined into the outputs
    with Chan's formula."""
    n0, n1, n2 = x.shape
    t = min(n2, REDUCTION_TILE_COLUMNS)
    buf = np.empty((LANE_ROWS_PER_PASS, t), x.dtype)
    cnt = np.empty(t)
    sd = np.empty(t)
    sq = np.empty(t)
    sh = np.empty(t)
    for p in range(n0):
        for q in range(0, n2, REDUCTION_TILE_COLUMNS):
            m = min(REDUCTION_TILE_COLUMNS, n2 - q)
            c_, d_, s_, h_ = cnt[:m], sd[:m], sq[:m], sh[:m]
            c_[:] = 0.0 if skipnan else float(n1)
            d_[:] = 0.0
            s_[:] = 0.0
            v = row_span(x, p, 0, q, m, buf[0])
            for k in range(m):
                h_[k] = float(v[k])
            if skipnan:  # the first non-NaN value among the first rows, else 0
                for r in range(1, min(LANE_ROWS_PER_PASS, n1)):
                    v = row_span(x, p, r, q, m, buf[0])
                    for k in range(m):
                        y = float(v[k])
                        h_[k] = y if h_[k] != h_[k] else h_[k]
                for k in range(m):
                    h_[k] = h_[k] if h_[k] == h_[k] else 0.0
            for r in range(0, n1 - n1 % LANE_ROWS_PER_PASS, LANE_ROWS_PER_PASS):
                shifted_columns(_rows(x, p, r, q, m, buf), skipnan, h_, c_, d_, s_)
            for r in range(n1 - n1 % LANE_ROWS_PER_PASS, n1):
                shifted_columns((row_span(x, p, r, q, m, buf[0]),), skipnan, h_, c_, d_, s_)
            redo = False
            for k in range(m):
                c, a, b = c_[k], d_[k], s_[k]
                if c > 0.0:
                    d_[k] = h_[k] + a / c
                    s_[k] = b - a * a / c
                    redo |= a == a and not _one_pass_ok(c, a, b)  # (NaN: NaN either way)
                else:
                    d_[k] = 0.0
                    s_[k] = 0.0
            if redo:
                _tile_two_pass(x, p, q, m, skipnan, buf, c_, d_, s_)
            no = n[p, q:q + m]
            mo = mean[p, q:q + m]
            qo = m2[p, q:q + m]
            for k in range(m):
                no[k], mo[k], qo[k] = chan_combine(no[k], mo[k], qo[k], c_[k], d_[k], s_[k])


def _pieces(x, axes, outs):
    """Check the arguments of an ``axis_*`` reduction; yield its pieces with their outputs."""
    check_array("x", x)
    if (not isinstance(axes, tuple) or list(axes) != sorted(set(axes))
            or not all(isinstance(a, int) and 0 <= a < x.ndim for a in axes)):
        raise ValueError(f"axes must be a sorted tuple of distinct axes of a {x.ndim}-D "
                         f"array, got {axes!r}")
    kept = tuple(n for a, n in enumerate(x.shape) if a not in axes)
    for name, o in outs:
        check_array(name, o, dtypes=(np.dtype(np.float64),), writeable=True)
        if o.shape != kept or not o.flags.c_contiguous:
            raise ValueError(f"{name} must be a C-contiguous float64 array of shape {kept} "
                             f"(the kept axes), got shape {o.shape}")
    if x.size == 0:
        return
    flat = [o.reshape(-1) for _, o in outs]
    for form, x3, offset in axis_pieces(x, axes):
        shape = (x3.shape[1],) if form == "outer" else (x3.shape[0], x3.shape[2])
        size = shape[0] * (shape[1] if len(shape) > 1 else 1)
        yield form, x3, [f[offset:offset + size].reshape(shape) for f in flat]


_AXES_DOC = """
    Parameters
    ----------
    x : numpy.ndarray
        float32/float64 array of any shape and strides (read once, never copied
        whole).
    axes : tuple of int
        Sorted, distinct axes to reduce.
    {outs}
        C-contiguous float64 arrays of the shape of the kept axes, updated in
        place (several arrays, e.g. the blocks of a stream, can go into the
        same outputs).

    Raises
    ------
    TypeError, ValueError
        If an argument has the wrong dtype, shape or layout.
"""


def axis_sums(x, axes, sums, counts, *, skipna=False):
    """Add the sums of ``x`` over ``axes`` to ``sums`` and the numbers of elements summed
    to ``counts`` (leaving NaNs out of both with ``skipna``).

    Rows are summed in ``REDUCTION_LANES`` lanes, columns element by element, in
    float64: the order depends only on the shape and strides (deterministic).
    """
    for form, x3, (s, c) in _pieces(x, axes, (("sums", sums), ("counts", counts))):
        (_sums_outer if form == "outer" else _sums_middle)(x3, bool(skipna), s, c)


def axis_moments(x, axes, n, mean, m2, *, skipna=False):
    """Combine count, mean and M2 of ``x`` over ``axes`` into ``n``, ``mean``, ``m2``
    (Chan's formula; start from zeros), leaving NaNs out with ``skipna``.

    Rows go chunk by chunk as in :func:`local_moments`; columns in one pass of
    sums shifted by each column's first value, a tile redone by two passes where
    that could lose more than ``_SHIFT_BITS`` bits.
    """
    for form, x3, (a, b, c) in _pieces(x, axes, (("n", n), ("mean", mean), ("m2", m2))):
        (_moments_outer if form == "outer" else _moments_middle)(x3, bool(skipna), a, b, c)


axis_sums.__doc__ += _AXES_DOC.format(outs="sums, counts : numpy.ndarray")
axis_moments.__doc__ += _AXES_DOC.format(outs="n, mean, m2 : numpy.ndarray")
