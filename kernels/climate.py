"""One-pass, NaN-skipping climate statistics over time chunks of a (time, level, lat, lon) block."""

import numpy as np
from numba import prange

from ._checks import check_array
from ._jit import serial_and_parallel

__all__ = ["TimeStats", "accumulate_time_stats", "accumulate_time_stats_serial",
           "accumulate_time_stats_parallel"]


def _accumulate_body(x, month, tyears, n, mean, m2, vmin, vmax, tmean, tm2, cty,
                     msum, mcnt, zsum, zcnt):
    """Fold a chunk ``x`` (T, Z, Y, X) into per-point accumulators (Z, Y, X).

    Per point, over the valid (non-NaN) samples: count ``n``; Welford mean and
    M2; min; max; the Welford mean/M2 of the time coordinate ``tyears`` and the
    co-moment ``cty`` of time and value (OLS slope = cty / tm2); per calendar
    month (``month`` in 0..11) the sum ``msum`` and count ``mcnt`` (12, Z, Y, X).
    Per time step and row it also writes ``zsum``/``zcnt`` (T, Z, Y): the sum
    and count of the valid values along X (the zonal partial sums).

    Rows (z, y) are independent: the parallel variant splits them over threads;
    each row's accumulators stay in cache across the chunk's time steps.
    """
    nt, nz, ny, nx = x.shape
    for zy in prange(nz * ny):
        z = zy // ny
        y = zy - z * ny
        for t in range(nt):
            m = month[t]
            tv = tyears[t]
            zs = 0.0
            zc = 0.0
            for i in range(nx):
                v = np.float64(x[t, z, y, i])
                if v != v:
                    continue
                zs += v
                zc += 1.0
                k = n[z, y, i] + 1.0
                n[z, y, i] = k
                inv = 1.0 / k
                d = v - mean[z, y, i]
                mu = mean[z, y, i] + d * inv
                mean[z, y, i] = mu
                m2[z, y, i] += d * (v - mu)
                dt = tv - tmean[z, y, i]
                tmean[z, y, i] += dt * inv
                tm2[z, y, i] += dt * (tv - tmean[z, y, i])
                cty[z, y, i] += dt * (v - mu)
                if v < vmin[z, y, i]:
                    vmin[z, y, i] = v
                if v > vmax[z, y, i]:
                    vmax[z, y, i] = v
                msum[m, z, y, i] += v
                mcnt[m, z, y, i] += 1.0
            zsum[t, z, y] = zs
            zcnt[t, z, y] = zc


accumulate_time_stats_serial, accumulate_time_stats_parallel = \
    serial_and_parallel(_accumulate_body)


class TimeStats:
    """Per-point accumulators for a (Z, Y, X) block, fed chunk by chunk along time.

    Parameters
    ----------
    shape : tuple of int
        (Z, Y, X) of the block.
    """

    FIELDS = ("n", "mean", "m2", "vmin", "vmax", "tmean", "tm2", "cty")

    def __init__(self, shape):
        self.shape = tuple(shape)
        for f in self.FIELDS:
            setattr(self, f, np.zeros(self.shape))
        self.vmin[...] = np.inf
        self.vmax[...] = -np.inf
        self.msum = np.zeros((12,) + self.shape)
        self.mcnt = np.zeros((12,) + self.shape)

    def results(self):
        """Time mean, std (ddof 0), min, max and OLS slope per year; NaN where undefined."""
        with np.errstate(invalid="ignore", divide="ignore"):
            valid = self.n > 0
            mean = np.where(valid, self.mean, np.nan)
            std = np.where(valid, np.sqrt(np.maximum(self.m2, 0.0) / self.n), np.nan)
            vmin = np.where(valid, self.vmin, np.nan)
            vmax = np.where(valid, self.vmax, np.nan)
            trend = np.where((self.n >= 2) & (self.tm2 > 0), self.cty / self.tm2, np.nan)
            clim = np.where(self.mcnt > 0, self.msum / self.mcnt, np.nan)
        return {"time_mean": mean, "time_std": std, "time_min": vmin, "time_max": vmax,
                "trend": trend, "climatology": clim}


def accumulate_time_stats(x, month, tyears, stats, zsum, zcnt, *, parallel=False):
    """Fold the chunk ``x`` (T, Z, Y, X) into ``stats`` (a :class:`TimeStats`).

    Parameters
    ----------
    x : numpy.ndarray
        float32/float64 values, NaN = missing.
    month : numpy.ndarray
        (T,) int64 calendar month index 0..11 of each step.
    tyears : numpy.ndarray
        (T,) float64 time coordinate for the trend (years since the first step).
    stats : TimeStats
        Accumulators of shape (Z, Y, X).
    zsum, zcnt : numpy.ndarray
        (T, Z, Y) float64 outputs: sum and count of valid values along X.
    parallel : bool
        Threaded variant.
    """
    check_array("x", x, ndim=4)
    if x.shape[1:] != stats.shape:
        raise ValueError(f"chunk of shape {x.shape} does not match accumulators {stats.shape}")
    nt = x.shape[0]
    month = np.ascontiguousarray(month, dtype=np.int64)
    tyears = np.ascontiguousarray(tyears, dtype=np.float64)
    if month.shape != (nt,) or tyears.shape != (nt,):
        raise ValueError(f"month and tyears must have shape ({nt},)")
    if nt and (month.min() < 0 or month.max() > 11):
        raise ValueError("month indices must be in 0..11")
    for name, arr in (("zsum", zsum), ("zcnt", zcnt)):
        check_array(name, arr, ndim=3, dtypes=(np.dtype(np.float64),), writeable=True)
        if arr.shape != (nt,) + stats.shape[:2]:
            raise ValueError(f"{name} must have shape {(nt,) + stats.shape[:2]}")
    kernel = accumulate_time_stats_parallel if parallel else accumulate_time_stats_serial
    kernel(x, month, tyears, stats.n, stats.mean, stats.m2, stats.vmin, stats.vmax,
           stats.tmean, stats.tm2, stats.cty, stats.msum, stats.mcnt, zsum, zcnt)
    return stats
