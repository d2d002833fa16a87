"""NaN-skipping percentiles along the first axis, NumPy's default (linear) method.

``np.nanpercentile`` along an axis falls back to a Python-level loop over the
points as soon as any value is NaN (``apply_along_axis``), ~25 µs a point; here
each point costs one copy of its valid values and, per percentile, a
quickselect of the lower order statistic it needs (continuing from the previous
one, percentiles taken in ascending order) and a scan for the next one.
Points are processed in tiles whose values are first gathered, missing ones
dropped, into a contiguous buffer per point (one pass over the rows of the tile);
raw packed or fill-valued input is decoded on the way (:mod:`._decode`).
The arithmetic mirrors NumPy's ``method="linear"``: virtual index
``(n - 1) * q``, neighbours clipped to ``[0, n-1]``, and its two-sided
``lerp``, so results match ``np.nanpercentile`` to the last bit or nearly.
"""

import numpy as np
from numba import prange

from ._checks import check_array
from ._decode import RAW_DTYPES, decode_vector, decoded
from ._jit import njit_cached, serial_and_parallel
from ._tuning import PERCENTILE_TILE_POINTS

__all__ = ["nan_percentiles"]



@njit_cached
def _select(a, lo, hi, k):
    """Partially order ``a[lo:hi]`` in place so that ``a[k]`` is the value sorted order
    puts there, everything before it is <= and everything after it >= (quickselect,
    median-of-three pivots)."""
    hi -= 1
    while hi > lo:
        mid = (lo + hi) // 2
        if a[mid] < a[lo]:
            a[mid], a[lo] = a[lo], a[mid]
        if a[hi] < a[lo]:
            a[hi], a[lo] = a[lo], a[hi]
        if a[hi] < a[mid]:
            a[hi], a[mid] = a[mid], a[hi]
        pivot = a[mid]
        i, j = lo, hi
        while i <= j:
            while a[i] < pivot:
                i += 1
            while a[j] > pivot:
                j -= 1
            if i <= j:
                a[i], a[j] = a[j], a[i]
                i += 1
                j -= 1
        if k <= j:
            hi = j
        elif k >= i:
            lo = i
        else:
            return


def _percentiles_body(x, decode, frac, out):
    """``x`` (T, P) raw values decoded with ``decode`` (see :mod:`._decode`), ``frac``
    (Q,) ascending quantiles in [0, 1] → ``out`` (Q, P)."""
    scale, offset, miss1, miss2 = decode[0], decode[1], decode[2], decode[3]
    nt, npt = x.shape
    nq = frac.shape[0]
    for tile in prange((npt + PERCENTILE_TILE_POINTS - 1) // PERCENTILE_TILE_POINTS):
        p0 = tile * PERCENTILE_TILE_POINTS
        w = min(npt, p0 + PERCENTILE_TILE_POINTS) - p0
        buf = np.empty((PERCENTILE_TILE_POINTS, max(nt, 1)))
        cnt = np.zeros(PERCENTILE_TILE_POINTS, np.int64)
        for t in range(nt):
            row = x[t, p0:p0 + w]
            for j in range(w):
                ok, d, v, lo, hi = decoded(row[j], scale, offset, miss1, miss2, 0.0)
                if ok > 0:
                    buf[j, cnt[j]] = v
                    cnt[j] += 1
        for j in range(w):
            n = cnt[j]
            if n == 0:
                for k in range(nq):
                    out[k, p0 + j] = np.nan
                continue
            b = buf[j, :n]
            start = 0                  # b[:start] is settled (<= every later value)
            for k in range(nq):
                vi = (n - 1) * frac[k]
                fl = np.floor(vi)
                lo = min(max(int(fl), 0), n - 1)
                hi = min(lo + 1, n - 1)
                if lo >= start:
                    _select(b, start, n, lo)
                a = b[lo]
                # the next order statistic is the smallest value after position lo
                nxt = b[hi]
                for i in range(lo + 2, n):
                    nxt = min(nxt, b[i])
                if hi > lo:
                    start = lo + 1     # b[lo] is in place; b[lo+1:] unordered but >= it
                g = vi - fl
                d = nxt - a
                out[k, p0 + j] = nxt - d * (1.0 - g) if g >= 0.5 else a + d * g


#: (serial, parallel) dispatchers; only nan_percentiles calls them
_PERCENTILES = serial_and_parallel(_percentiles_body)


def nan_percentiles(x, q, out=None, *, decode=None, parallel=False):
    """Percentiles ``q`` (in [0, 100]) of ``x`` along axis 0, NaNs skipped.

    Parameters
    ----------
    x : numpy.ndarray
        (T, ...) float32/float64, NaN = missing; or raw packed/fill-valued values
        (see ``decode``).
    q : sequence of float
        Percentiles in [0, 100].
    out : numpy.ndarray, optional
        (len(q), ...) float64 output; all-NaN points give NaN.
    decode : tuple, optional
        ``(scale, offset, missing_values)``: raw ``x`` means ``x * scale + offset``
        (float64), values equal to one of the (at most two) missing values are missing.
    parallel : bool
        Threaded variant.

    Returns
    -------
    numpy.ndarray
        ``out``: what ``np.nanpercentile(x, q, axis=0)`` returns (without its warnings).
    """
    check_array("x", x, dtypes=RAW_DTYPES)
    if x.ndim < 1:
        raise ValueError("x must have a leading axis to reduce")
    frac = np.asarray(q, dtype=np.float64).reshape(-1) / 100.0
    if frac.size == 0 or not np.all((frac >= 0) & (frac <= 1)):
        raise ValueError(f"percentiles must lie in [0, 100], got {q!r}")
    shape = (frac.size,) + x.shape[1:]
    if out is None:
        out = np.empty(shape)
    check_array("out", out, dtypes=(np.dtype(np.float64),), writeable=True)
    if out.shape != shape or not out.flags.c_contiguous:
        raise ValueError(f"out must be a C-contiguous array of shape {shape}")
    flat = np.ascontiguousarray(x).reshape(x.shape[0], -1)
    dec = decode_vector(decode)
    kernel = _PERCENTILES[1 if parallel else 0]
    order = np.argsort(frac, kind="stable")    # the kernel selects in ascending order
    if np.all(order == np.arange(frac.size)):
        kernel(flat, dec, frac, out.reshape(frac.size, -1))
    else:
        tmp = np.empty((frac.size, flat.shape[1]))
        kernel(flat, dec, np.ascontiguousarray(frac[order]), tmp)
        out.reshape(frac.size, -1)[order] = tmp
    return out
