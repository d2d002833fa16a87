"""Grouped, NaN-skipping sums, counts, minima and maxima over the time steps of a
(time, level, lat, lon) chunk: the base of seasonal, annual and monthly means, annual
extremes and a base period's climatology, all fed by one pass over the chunk.

Every step belongs to at most one group of each of K groupings (``ids[k, t]``; -1: none).
The chunk is cut into runs of steps in which no grouping changes group (a month of
daily data for monthly, seasonal and annual groupings together). Per row and per tile
of up to ``GROUP_TILE_COLUMNS`` points, a run's decoded values are added into one set of
scratch sums (and minima, maxima) that stay in L1 cache, and only at the end of the run
are those added into each grouping's group: each value is read and decoded once and
costs the same whatever K is, and the groups' accumulators are touched once per run.
Runs in which no grouping takes the steps are not read at all.
"""

import numpy as np
from numba import prange

from ._checks import check_array
from ._decode import RAW_DTYPES as _RAW_DTYPES
from ._decode import decode_vector as _decode_vector
from ._decode import decoded as _decoded
from ._jit import serial_and_parallel
from ._tuning import GROUP_TILE_COLUMNS

__all__ = ["GroupStats", "accumulate_groups"]

_F64 = (np.dtype(np.float64),)


def _groups_body(x, ids, xids, starts, decode, gsum, gcnt, gmin, gmax):
    """Fold the chunk ``x`` (T, Z, Y, X) into the groups' accumulators (G|H, Z, Y, X).

    ``ids``/``xids`` (K, T): row of ``gsum``/``gcnt`` and of ``gmin``/``gmax`` each step
    feeds in grouping k (-1: none), constant over each run ``starts[r] .. starts[r+1]-1``.
    With ``gmin`` None (Numba then compiles a variant without them) no extremes are kept.
    """
    scale, offset, miss1, miss2 = decode[0], decode[1], decode[2], decode[3]
    nt, nz, ny, nx = x.shape
    nk = ids.shape[0]
    nruns = starts.shape[0] - 1
    tile = min(nx, GROUP_TILE_COLUMNS)
    for row in prange(nz * ny):
        z = row // ny
        y = row - z * ny
        rs = np.empty(tile)
        rc = np.empty(tile)
        rlo = np.empty(tile)
        rhi = np.empty(tile)
        for x0 in range(0, nx, tile):
            x1 = min(nx, x0 + tile)
            w_ = x1 - x0
            for r in range(nruns):
                t0, t1 = starts[r], starts[r + 1]
                used = False
                for k in range(nk):
                    if ids[k, t0] >= 0 or xids[k, t0] >= 0:
                        used = True
                if not used:
                    continue
                for i in range(w_):
                    rs[i] = 0.0
                    rc[i] = 0.0
                    if gmin is not None:
                        rlo[i] = np.inf
                        rhi[i] = -np.inf
                t = t0
                while t + 4 <= t1:
                    xa, xb = x[t, z, y, x0:x1], x[t + 1, z, y, x0:x1]
                    xg, xd = x[t + 2, z, y, x0:x1], x[t + 3, z, y, x0:x1]
                    for i in range(w_):
                        wa, da, va, lo_a, hi_a = _decoded(xa[i], scale, offset, miss1, miss2,
                                                          0.0)
                        wb, db, vb, lo_b, hi_b = _decoded(xb[i], scale, offset, miss1, miss2,
                                                          0.0)
                        wg, dg, vg, lo_g, hi_g = _decoded(xg[i], scale, offset, miss1, miss2,
                                                          0.0)
                        wd, dd, vd, lo_d, hi_d = _decoded(xd[i], scale, offset, miss1, miss2,
                                                          0.0)
                        rs[i] += (va + vb) + (vg + vd)
                        rc[i] += (wa + wb) + (wg + wd)
                        if gmin is not None:
                            rlo[i] = min(rlo[i], min(min(lo_a, lo_b), min(lo_g, lo_d)))
                            rhi[i] = max(rhi[i], max(max(hi_a, hi_b), max(hi_g, hi_d)))
                    t += 4
                while t < t1:
                    xr = x[t, z, y, x0:x1]
                    for i in range(w_):
                        w, d, v, lo, hi = _decoded(xr[i], scale, offset, miss1, miss2, 0.0)
                        rs[i] += v
                        rc[i] += w
                        if gmin is not None:
                            rlo[i] = min(rlo[i], lo)
                            rhi[i] = max(rhi[i], hi)
                    t += 1
                for k in range(nk):
                    g = ids[k, t0]
                    if g >= 0:
                        sr = gsum[g, z, y, x0:x1]
                        cr = gcnt[g, z, y, x0:x1]
                        for i in range(w_):
                            sr[i] += rs[i]
                            cr[i] += rc[i]
                    if gmin is not None:
                        h = xids[k, t0]
                        if h >= 0:
                            lr = gmin[h, z, y, x0:x1]
                            hr = gmax[h, z, y, x0:x1]
                            for i in range(w_):
                                lr[i] = min(lr[i], rlo[i])
                                hr[i] = max(hr[i], rhi[i])


#: (serial, parallel) dispatchers; only accumulate_groups calls them
_GROUPS = serial_and_parallel(_groups_body)


def _ids(name, ids, nt, ngroups):
    """``ids`` as a (K, T) int64 array with values in -1..ngroups-1."""
    ids = np.asarray(ids)
    if ids.dtype.kind not in "iu":
        raise TypeError(f"{name} must be integers, got dtype {ids.dtype}")
    ids = np.ascontiguousarray(np.atleast_2d(ids), dtype=np.int64)
    if ids.ndim != 2 or ids.shape[1] != nt:
        raise ValueError(f"{name} must have shape ({nt},) or (K, {nt}), got {ids.shape}")
    if ids.size and (ids.min() < -1 or ids.max() >= ngroups):
        raise ValueError(f"{name} must be in -1..{ngroups - 1} (rows of the accumulators)")
    return ids


def _runs(*id_sets):
    """Start of every run of steps in which no grouping changes, and the end: (R+1,)."""
    nt = id_sets[0].shape[1]
    change = np.zeros(max(nt - 1, 0), dtype=bool)
    for ids in id_sets:
        change |= np.any(ids[:, 1:] != ids[:, :-1], axis=0)
    return np.concatenate(([0], np.flatnonzero(change) + 1, [nt])).astype(np.int64) \
        if nt else np.zeros(1, np.int64)


def accumulate_groups(x, ids, gsum, gcnt, *, gmin=None, gmax=None, xids=None, decode=None,
                      parallel=False):
    """Add the valid values of the chunk ``x`` (T, Z, Y, X) into their groups.

    For every step ``t`` and grouping ``k``, the step's decoded, non-missing values are
    added to ``gsum[ids[k, t]]`` and counted in ``gcnt[ids[k, t]]`` (nothing where the id
    is -1); with ``gmin``/``gmax``, ``gmin[xids[k, t]]`` and ``gmax[xids[k, t]]`` take
    their minimum and maximum. Accumulators start at 0 (sums, counts), +inf (minima) and
    -inf (maxima) and may be fed any number of chunks.

    Parameters
    ----------
    x : numpy.ndarray
        Raw or decoded values (float32/float64 with NaN = missing, or packed integers
        with ``decode``), as :func:`accumulate_time_stats` takes them.
    ids : array_like
        (T,) or (K, T) int: row of ``gsum``/``gcnt`` each step feeds in each of K
        groupings, -1 for none.
    gsum, gcnt : numpy.ndarray
        (G, Z, Y, X) float64 sums and counts of the valid values.
    gmin, gmax : numpy.ndarray, optional
        (H, Z, Y, X) float64 minima and maxima (both or neither).
    xids : array_like, optional
        With ``gmin``: (T,) or (K, T) int rows of ``gmin``/``gmax`` (-1: none).
    decode : tuple, optional
        ``(scale, offset, missing_values)``, as in :func:`accumulate_time_stats`.
    parallel : bool
        Threaded variant (rows split over threads).

    Returns
    -------
    gsum : numpy.ndarray
    """
    check_array("x", x, ndim=4, dtypes=_RAW_DTYPES)
    nt, block = x.shape[0], x.shape[1:]
    for name, arr in (("gsum", gsum), ("gcnt", gcnt)):
        check_array(name, arr, ndim=4, dtypes=_F64, writeable=True)
        if arr.shape[1:] != block or arr.shape[0] != gsum.shape[0]:
            raise ValueError(f"{name} must have shape (G,) + {block}, like gsum; got "
                             f"{arr.shape}")
    ids = _ids("ids", ids, nt, gsum.shape[0])
    if (gmin is None) != (gmax is None) or (gmin is None) != (xids is None):
        raise ValueError("gmin, gmax and xids go together: pass all three or none")
    if gmin is None:
        xids = np.full_like(ids, -1)
    else:
        for name, arr in (("gmin", gmin), ("gmax", gmax)):
            check_array(name, arr, ndim=4, dtypes=_F64, writeable=True)
            if arr.shape[1:] != block or arr.shape[0] != gmin.shape[0]:
                raise ValueError(f"{name} must have shape (H,) + {block}, like gmin; got "
                                 f"{arr.shape}")
        xids = _ids("xids", xids, nt, gmin.shape[0])
        if xids.shape != ids.shape:
            raise ValueError(f"xids must have the shape of ids {ids.shape}, got {xids.shape}")
    kernel = _GROUPS[1 if parallel else 0]
    kernel(x, ids, xids, _runs(ids, xids), _decode_vector(decode), gsum, gcnt, gmin, gmax)
    return gsum


class GroupStats:
    """Accumulators of several named groupings of the time steps of a (Z, Y, X) block,
    all fed by one pass over each chunk (:func:`accumulate_groups`).

    Parameters
    ----------
    shape : tuple of int
        (Z, Y, X) of the block.
    groupings : mapping
        name → ``(number of groups, extremes)``: e.g. ``{"season": (4, False), "year":
        (n_years, True)}``; ``extremes`` keeps the groups' minima and maxima too.

    Adding a grouping adds its rows to the accumulators and nothing else: the pass and
    the other groupings' results do not change.
    """

    def __init__(self, shape, groupings):
        self.shape = tuple(int(n) for n in shape)
        self.groupings = {k: (int(g), bool(e)) for k, (g, e) in groupings.items()}
        self._rows, self._xrows, g_all, h_all = {}, {}, 0, 0
        for name, (g, extremes) in self.groupings.items():
            self._rows[name] = g_all
            g_all += g
            if extremes:
                self._xrows[name] = h_all
                h_all += g
        self._done = False
        self.sum = np.zeros((g_all,) + self.shape)
        self.cnt = np.zeros((g_all,) + self.shape)
        self.min = self.max = None
        if h_all:
            self.min = np.full((h_all,) + self.shape, np.inf)
            self.max = np.full((h_all,) + self.shape, -np.inf)

    @staticmethod
    def nbytes(shape, groupings):
        """Bytes of the accumulators of :class:`GroupStats` ``(shape, groupings)``."""
        points = int(np.prod(shape))
        return 8 * points * sum(g * (4 if e else 2) for g, e in groupings.values())

    def feed(self, x, ids, *, decode=None, parallel=False):
        """Fold the chunk ``x`` (T, Z, Y, X) in: ``ids`` maps every grouping's name to the
        (T,) group index (0..G-1, -1: none) of each of the chunk's steps."""
        if self._done:
            raise RuntimeError("GroupStats.feed() after results(): the accumulators hold "
                               "the results")
        if set(ids) != set(self.groupings):
            raise ValueError(f"ids must name the groupings {sorted(self.groupings)}, got "
                             f"{sorted(ids)}")
        nt = x.shape[0]
        rows = np.full((len(ids), nt), -1, dtype=np.int64)
        xrows = np.full_like(rows, -1)
        for k, (name, (g, _)) in enumerate(self.groupings.items()):
            i = np.asarray(ids[name], dtype=np.int64).reshape(-1)
            if i.shape != (nt,) or (i.size and (i.min() < -1 or i.max() >= g)):
                raise ValueError(f"ids[{name!r}] must be ({nt},) in -1..{g - 1}")
            rows[k] = np.where(i >= 0, i + self._rows[name], -1)
            if name in self._xrows:
                xrows[k] = np.where(i >= 0, i + self._xrows[name], -1)
        extremes = self.min is not None
        accumulate_groups(x, rows, self.sum, self.cnt, gmin=self.min, gmax=self.max,
                          xids=xrows if extremes else None, decode=decode, parallel=parallel)
        return self

    def results(self):
        """name → {"mean", "count"(, "min", "max")}: (G, Z, Y, X) float64 arrays, NaN
        where a group has no valid value at a point.

        Computed in place, in the accumulators' memory (no copies: they are the largest
        arrays of a grouped pass), so it ends the accumulation: call it once, after the
        last :meth:`feed`.
        """
        if self._done:
            raise RuntimeError("GroupStats.results() was already called: the accumulators "
                               "hold the results")
        self._done = True
        out = {}
        for name, (g, extremes) in self.groupings.items():
            r = self._rows[name]
            cnt, mean = self.cnt[r:r + g], self.sum[r:r + g]
            with np.errstate(invalid="ignore", divide="ignore"):
                np.divide(mean, cnt, out=mean)   # sums are 0 where counts are: 0/0 = NaN
            res = {"mean": mean, "count": cnt}
            if extremes:
                h = self._xrows[name]
                res["min"], res["max"] = self.min[h:h + g], self.max[h:h + g]
                for a in (res["min"], res["max"]):
                    np.copyto(a, np.nan, where=cnt == 0)
            out[name] = res
        return out
