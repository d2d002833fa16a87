"""One-pass, NaN-skipping climate statistics over time chunks of a (time, level, lat, lon) block.

Per point the kernel keeps shifted sums: with a per-point shift ``K`` close to the
point's mean (the mean of the first chunk), ``d = x - K`` and it adds up ``Σd², Σt,
Σt², Σt·d``, the minimum, the maximum, and per calendar month ``Σd`` and the count
(whose totals over the months are ``Σd`` and ``n``). Shifting makes the sums of
squares as accurate as Welford's update (the cancellation in ``Σd² - (Σd)²/n`` is of
the size of the variance, not of the mean) while every operation is an add or a
multiply, so the loop vectorises: no division per element. The time coordinate is
centred the same way by the caller. Rows are independent: the parallel variant
splits them over threads; each row is processed in tiles of up to
``CLIMATE_TILE_COLUMNS`` (``_tuning``) lon points whose accumulators stay in L2 cache
across the chunk's time steps, and runs of four time steps in one month are folded at
once, so each accumulator is loaded and stored once per four values. Given a (Y, X)
field of weights (cell areas), the same pass also adds up ``Σ w·v`` and ``Σ w`` per row
for a weighted global mean; without, Numba compiles the variant without that code.
"""

import numpy as np
from numba import prange

from ._checks import check_array
from ._decode import RAW_DTYPES as _RAW_DTYPES
from ._decode import decode_vector as _decode_vector
from ._decode import decoded as _decoded
from ._jit import njit_cached, serial_and_parallel
from ._tuning import CLIMATE_TILE_COLUMNS

__all__ = ["TimeStats", "accumulate_time_stats", "climate_anomalies"]

def _accumulate_body(x, month, tc, decode, shift, s2, vmin, vmax, st, stt, stv, msum, mcnt,
                     zsum, zcnt, wts, wsum, wcnt):
    """Fold a chunk ``x`` (T, Z, Y, X) into per-point shifted sums (Z, Y, X); see the module.

    With ``wts`` (Y, X) an array, also the weighted row sums ``wsum[t, z, y] = Σ_x w·v``
    and ``wcnt[t, z, y] = Σ_x w`` over the valid values; with ``wts`` None (Numba then
    compiles a variant without those branches) ``wsum`` and ``wcnt`` are None too.

    ``decode`` = (scale, offset, missing_1, missing_2): a raw value r is missing if it
    is NaN or equals a missing value, else it means ``r * scale + offset`` (float64).
    Runs of four time steps in the same month are folded together (the accumulators
    are loaded and stored once per four values); other steps one at a time.
    """
    scale, offset, miss1, miss2 = decode[0], decode[1], decode[2], decode[3]
    nt, nz, ny, nx = x.shape
    for row in prange(nz * ny):
        z = row // ny
        y = row - z * ny
        for t in range(nt):
            zsum[t, z, y] = 0.0
            zcnt[t, z, y] = 0.0
            if wts is not None:
                wsum[t, z, y] = 0.0
                wcnt[t, z, y] = 0.0
        for x0 in range(0, nx, CLIMATE_TILE_COLUMNS):
            x1 = min(nx, x0 + CLIMATE_TILE_COLUMNS)
            w_ = x1 - x0
            # 1-D views indexed from 0: LLVM can then prove the indices non-negative
            # and vectorise the loop (no wrap-around checks)
            sh = shift[z, y, x0:x1]
            s2r = s2[z, y, x0:x1]
            str_ = st[z, y, x0:x1]
            sttr = stt[z, y, x0:x1]
            stvr = stv[z, y, x0:x1]
            mnr = vmin[z, y, x0:x1]
            mxr = vmax[z, y, x0:x1]
            if wts is not None:
                wr = wts[y, x0:x1]
            t = 0
            while t < nt:
                m = month[t]
                msr = msum[m, z, y, x0:x1]
                mcr = mcnt[m, z, y, x0:x1]
                if t + 4 <= nt and month[t + 1] == m and month[t + 2] == m \
                        and month[t + 3] == m:
                    ta, tb, tg, td = tc[t], tc[t + 1], tc[t + 2], tc[t + 3]
                    xa, xb = x[t, z, y, x0:x1], x[t + 1, z, y, x0:x1]
                    xg, xd = x[t + 2, z, y, x0:x1], x[t + 3, z, y, x0:x1]
                    za = zb = zg = zd = 0.0
                    ca = cb = cg = cd = 0.0
                    ua = ub = ug = ud = 0.0    # weighted sums and weights (with wts)
                    ea = eb = eg = ed = 0.0
                    for i in range(w_):
                        s = sh[i]
                        wa, da, va, lo_a, hi_a = _decoded(xa[i], scale, offset, miss1, miss2, s)
                        wb, db, vb, lo_b, hi_b = _decoded(xb[i], scale, offset, miss1, miss2, s)
                        wg, dg, vg, lo_g, hi_g = _decoded(xg[i], scale, offset, miss1, miss2, s)
                        wd, dd, vd, lo_d, hi_d = _decoded(xd[i], scale, offset, miss1, miss2, s)
                        s2r[i] += (da * da + db * db) + (dg * dg + dd * dd)
                        str_[i] += (ta * wa + tb * wb) + (tg * wg + td * wd)
                        sttr[i] += (ta * ta * wa + tb * tb * wb) + (tg * tg * wg + td * td * wd)
                        stvr[i] += (ta * da + tb * db) + (tg * dg + td * dd)
                        mnr[i] = min(mnr[i], min(min(lo_a, lo_b), min(lo_g, lo_d)))
                        mxr[i] = max(mxr[i], max(max(hi_a, hi_b), max(hi_g, hi_d)))
                        msr[i] += (da + db) + (dg + dd)
                        mcr[i] += (wa + wb) + (wg + wd)
                        za += va
                        zb += vb
                        zg += vg
                        zd += vd
                        ca += wa
                        cb += wb
                        cg += wg
                        cd += wd
                        if wts is not None:
                            q = wr[i]
                            ua += q * va
                            ub += q * vb
                            ug += q * vg
                            ud += q * vd
                            ea += q * wa
                            eb += q * wb
                            eg += q * wg
                            ed += q * wd
                    zsum[t, z, y] += za
                    zsum[t + 1, z, y] += zb
                    zsum[t + 2, z, y] += zg
                    zsum[t + 3, z, y] += zd
                    zcnt[t, z, y] += ca
                    zcnt[t + 1, z, y] += cb
                    zcnt[t + 2, z, y] += cg
                    zcnt[t + 3, z, y] += cd
                    if wts is not None:
                        wsum[t, z, y] += ua
                        wsum[t + 1, z, y] += ub
                        wsum[t + 2, z, y] += ug
                        wsum[t + 3, z, y] += ud
                        wcnt[t, z, y] += ea
                        wcnt[t + 1, z, y] += eb
                        wcnt[t + 2, z, y] += eg
                        wcnt[t + 3, z, y] += ed
                    t += 4
                else:
                    tv = tc[t]
                    xr = x[t, z, y, x0:x1]
                    zs = 0.0
                    zc = 0.0
                    us = 0.0
                    uc = 0.0
                    for i in range(w_):
                        w, d, v, lo, hi = _decoded(xr[i], scale, offset, miss1, miss2, sh[i])
                        s2r[i] += d * d
                        str_[i] += tv * w
                        sttr[i] += tv * tv * w
                        stvr[i] += tv * d
                        mnr[i] = min(mnr[i], lo)
                        mxr[i] = max(mxr[i], hi)
                        msr[i] += d
                        mcr[i] += w
                        zs += v
                        zc += w
                        if wts is not None:
                            us += wr[i] * v
                            uc += wr[i] * w
                    zsum[t, z, y] += zs
                    zcnt[t, z, y] += zc
                    if wts is not None:
                        wsum[t, z, y] += us
                        wcnt[t, z, y] += uc
                    t += 1


# reassociation lets LLVM vectorise the zonal reductions; NaN/inf semantics are kept,
# and no contraction into FMAs (decoding rounds as a plain multiply-add).
# (serial, parallel) dispatchers; only accumulate_time_stats calls them.
_ACCUMULATE = serial_and_parallel(_accumulate_body, fastmath={"reassoc", "nsz"})


@njit_cached
def _first_mean(x, decode, out):
    """NaN-skipping mean over time of the decoded chunk ``x`` (T, Z, Y, X) into ``out``
    (Z, Y, X); 0 where a point has no valid value."""
    scale, offset, miss1, miss2 = decode[0], decode[1], decode[2], decode[3]
    nt, nz, ny, nx = x.shape
    cnt = np.empty(nx)
    for row in range(nz * ny):
        z = row // ny
        y = row - z * ny
        o = out[z, y, :]
        o[:] = 0.0
        cnt[:] = 0.0
        for t in range(nt):
            xr = x[t, z, y, :]
            for i in range(nx):
                w, d, v, lo, hi = _decoded(xr[i], scale, offset, miss1, miss2, 0.0)
                o[i] += v
                cnt[i] += w
        for i in range(nx):
            o[i] = o[i] / cnt[i] if cnt[i] > 0 else 0.0


@njit_cached
def _finish(shift, s2, vmin, vmax, st, stt, stv, msum, mcnt, mean, std, tmin, tmax, trend,
            clim):
    """Per point (flattened): the statistics from the shifted sums; NaN where undefined."""
    for p in range(shift.shape[0]):
        n = 0.0
        s1 = 0.0
        for m in range(12):
            c = mcnt[m, p]
            s = msum[m, p]
            n += c
            s1 += s
            clim[m, p] = shift[p] + s / c if c > 0 else np.nan
        if n > 0:
            mean[p] = shift[p] + s1 / n
            std[p] = np.sqrt(max(s2[p] - s1 * s1 / n, 0.0) / n)
            tmin[p] = vmin[p]
            tmax[p] = vmax[p]
            sxx = stt[p] - st[p] * st[p] / n
            sxy = stv[p] - st[p] * s1 / n
            trend[p] = sxy / sxx if n >= 2 and sxx > 0 else np.nan
        else:
            mean[p] = std[p] = tmin[p] = tmax[p] = trend[p] = np.nan


def _anomaly_body(x, month, decode, clim, out):
    """``out[t] = decode(x[t]) - clim[month[t]]`` (NaN where x is missing), row by row."""
    scale, offset, miss1, miss2 = decode[0], decode[1], decode[2], decode[3]
    nt, nz, ny, nx = x.shape
    for row in prange(nz * ny):
        z = row // ny
        y = row - z * ny
        for t in range(nt):
            xr = x[t, z, y, :]
            cr = clim[month[t], z, y, :]
            orow = out[t, z, y, :]
            for i in range(nx):
                w, d, v, lo, hi = _decoded(xr[i], scale, offset, miss1, miss2, 0.0)
                orow[i] = v - cr[i] if w > 0 else np.nan


#: (serial, parallel) dispatchers; only climate_anomalies calls them
_ANOMALIES = serial_and_parallel(_anomaly_body)


def climate_anomalies(x, month, climatology, out, *, decode=None, parallel=False):
    """Write ``out[t] = x[t] - climatology[month[t]]`` for the chunk ``x`` (T, Z, Y, X).

    Parameters
    ----------
    x : numpy.ndarray
        Raw or decoded values (NaN = missing), dtypes as :func:`accumulate_time_stats`.
    month : numpy.ndarray
        (T,) month index 0..11 of each step.
    climatology : numpy.ndarray
        (12, Z, Y, X) float64 monthly means (:meth:`TimeStats.results`).
    out : numpy.ndarray
        (T, Z, Y, X) float32 or float64; NaN where ``x`` is missing.
    decode : tuple, optional
        As in :func:`accumulate_time_stats`.
    parallel : bool
        Threaded variant.
    """
    check_array("x", x, ndim=4, dtypes=_RAW_DTYPES)
    check_array("climatology", climatology, ndim=4, dtypes=(np.dtype(np.float64),))
    check_array("out", out, ndim=4, writeable=True)
    month = np.ascontiguousarray(month, dtype=np.int64)
    if out.shape != x.shape or climatology.shape != (12,) + x.shape[1:] \
            or month.shape != x.shape[:1]:
        raise ValueError(f"shapes do not fit: x {x.shape}, month {month.shape}, "
                         f"climatology {climatology.shape}, out {out.shape}")
    if month.size and (month.min() < 0 or month.max() > 11):
        raise ValueError("month indices must be in 0..11")
    kernel = _ANOMALIES[1 if parallel else 0]
    kernel(x, month, _decode_vector(decode), climatology, out)
    return out


class TimeStats:
    """Per-point accumulators for a (Z, Y, X) block, fed chunk by chunk along time.

    Parameters
    ----------
    shape : tuple of int
        (Z, Y, X) of the block.
    shift : numpy.ndarray, optional
        Per-point shift (Z, Y, X), ideally near each point's mean (NaN → 0).
        :meth:`from_first_chunk` picks the first chunk's mean.
    """

    FIELDS = ("s2", "st", "stt", "stv", "vmin", "vmax")

    def __init__(self, shape, shift=None):
        self.shape = tuple(shape)
        for f in self.FIELDS:
            setattr(self, f, np.zeros(self.shape))
        self.vmin[...] = np.inf
        self.vmax[...] = -np.inf
        self.msum = np.zeros((12,) + self.shape)
        self.mcnt = np.zeros((12,) + self.shape)
        self.shift = np.zeros(self.shape) if shift is None else \
            np.nan_to_num(np.asarray(shift, dtype=np.float64), nan=0.0, posinf=0.0,
                          neginf=0.0).reshape(self.shape)

    @classmethod
    def from_first_chunk(cls, chunk, *, decode=None):
        """Accumulators whose shift is the NaN-skipping mean of ``chunk`` (T, Z, Y, X),
        decoded as in :func:`accumulate_time_stats` (raw values in, ``decode`` given)."""
        check_array("chunk", chunk, ndim=4, dtypes=_RAW_DTYPES)
        shift = np.empty(chunk.shape[1:])
        _first_mean(chunk, _decode_vector(decode), shift)
        return cls(chunk.shape[1:], shift)

    def results(self):
        """Time mean, std (ddof 0), min, max, OLS slope per unit of t, monthly means.

        NaN where undefined: no valid sample (all), fewer than 2 (trend).
        """
        names = ("time_mean", "time_std", "time_min", "time_max", "trend")
        out = {k: np.empty(self.shape) for k in names}
        out["climatology"] = np.empty((12,) + self.shape)
        flat = [a.reshape(-1) for a in (self.shift, self.s2, self.vmin, self.vmax, self.st,
                                         self.stt, self.stv)]
        _finish(*flat, self.msum.reshape(12, -1), self.mcnt.reshape(12, -1),
                *[out[k].reshape(-1) for k in names], out["climatology"].reshape(12, -1))
        return out


    def pooled_means(self, month_sets):
        """NaN-skipping means over the steps of each set of calendar months (0..11), from
        the monthly sums (e.g. seasons pooled over the years: ``[(11, 0, 1), (2, 3, 4),
        ...]``): (len(month_sets), Z, Y, X), NaN where a set has no valid value."""
        out = np.full((len(month_sets),) + self.shape, np.nan)
        for i, months in enumerate(month_sets):
            if not len(months):
                continue
            rows = list(months)
            s, c = (self.msum[rows[0]], self.mcnt[rows[0]]) if len(rows) == 1 else \
                (self.msum[rows].sum(axis=0), self.mcnt[rows].sum(axis=0))
            with np.errstate(invalid="ignore", divide="ignore"):   # 0 / 0: NaN
                np.divide(s, c, out=out[i])
            out[i] += self.shift
        return out


def accumulate_time_stats(x, month, tc, stats, zsum, zcnt, *, decode=None, parallel=False,
                          weights=None, wsum=None, wcnt=None):
    """Fold the chunk ``x`` (T, Z, Y, X) into ``stats`` (a :class:`TimeStats`).

    With ``weights``, the same pass also adds up the weighted sums a global mean with
    any (Y, X) field of weights needs (cell areas of a regular or curvilinear grid), so
    no second pass over the chunk is made; without, the code run is today's.

    Parameters
    ----------
    x : numpy.ndarray
        float32/float64 values, NaN = missing.
    month : numpy.ndarray
        (T,) int64 calendar month index 0..11 of each step.
    tc : numpy.ndarray
        (T,) float64 time coordinate for the trend, best centred (e.g. years
        minus the middle of the record).
    stats : TimeStats
        Accumulators of shape (Z, Y, X).
    zsum, zcnt : numpy.ndarray
        (T, Z, Y) float64 outputs: sum and count of valid values along X.
    decode : tuple, optional
        ``(scale, offset, missing_values)`` to decode raw (packed or fill-valued)
        input on the fly: ``x * scale + offset`` in float64, with values equal to
        one of ``missing_values`` (at most two) treated as missing.
    parallel : bool
        Threaded variant.
    weights : numpy.ndarray, optional
        (Y, X) float64 weight of each point of the block (e.g. its cell area), finite
        and non-negative.
    wsum, wcnt : numpy.ndarray, optional
        (T, Z, Y) float64 outputs, required with ``weights``: per row, ``Σ_x w·v`` and
        ``Σ_x w`` over the valid values (the caller adds the rows up: a weighted global
        mean is ``Σ wsum / Σ wcnt``).
    """
    check_array("x", x, ndim=4, dtypes=_RAW_DTYPES)
    dec = _decode_vector(decode)
    if x.shape[1:] != stats.shape:
        raise ValueError(f"chunk of shape {x.shape} does not match accumulators {stats.shape}")
    nt = x.shape[0]
    month = np.ascontiguousarray(month, dtype=np.int64)
    tc = np.ascontiguousarray(tc, dtype=np.float64)
    if month.shape != (nt,) or tc.shape != (nt,):
        raise ValueError(f"month and tc must have shape ({nt},)")
    if nt and (month.min() < 0 or month.max() > 11):
        raise ValueError("month indices must be in 0..11")
    for name, arr in (("zsum", zsum), ("zcnt", zcnt)):
        check_array(name, arr, ndim=3, dtypes=(np.dtype(np.float64),), writeable=True)
        if arr.shape != (nt,) + stats.shape[:2]:
            raise ValueError(f"{name} must have shape {(nt,) + stats.shape[:2]}")
    if weights is None:
        if wsum is not None or wcnt is not None:
            raise ValueError("wsum and wcnt are outputs of the weighted sums: pass weights")
    else:
        check_array("weights", weights, ndim=2, dtypes=(np.dtype(np.float64),))
        if weights.shape != stats.shape[1:]:
            raise ValueError(f"weights must have shape {stats.shape[1:]} (Y, X), "
                             f"got {weights.shape}")
        for name, arr in (("wsum", wsum), ("wcnt", wcnt)):
            if arr is None:
                raise ValueError(f"{name} is required with weights")
            check_array(name, arr, ndim=3, dtypes=(np.dtype(np.float64),), writeable=True)
            if arr.shape != zsum.shape:
                raise ValueError(f"{name} must have shape {zsum.shape}")
    kernel = _ACCUMULATE[1 if parallel else 0]
    kernel(x, month, tc, dec, stats.shift, stats.s2, stats.vmin, stats.vmax, stats.st,
           stats.stt, stats.stv, stats.msum, stats.mcnt, zsum, zcnt, weights, wsum, wcnt)
    return stats
