"""Cell areas of a latitude-longitude grid on the sphere, from cell bounds or cell centres.

Pure geometry on plain arrays (NumPy only). A cell between latitudes φ₁, φ₂ and
longitudes λ₁, λ₂ (bounded by two parallels and two meridians) has the area
R²·|sin φ₂ − sin φ₁|·|λ₂ − λ₁| (radians), exactly. Where a file gives no bounds the
bounds are derived from the cell centres as CDO 2.1 does (midpoints between neighbouring
centres, the outer bounds half a spacing beyond the outer centres, latitudes clipped to
±90). Areas are separable (a function of the row times one of the column), so a block
of a grid costs only its own rows and columns.
"""

import numpy as np

__all__ = ["EARTH_RADIUS", "bounds_from_centres", "lat_lon_cell_areas"]

#: metres; the radius CDO uses (only ratios of areas matter for weights)
EARTH_RADIUS = 6371000.0


def bounds_from_centres(centres, clip=None):
    """(n, 2) cell bounds from n cell centres, as CDO derives them.

    Parameters
    ----------
    centres : array_like
        (n,) monotonic centres (degrees), ascending or descending.
    clip : float, optional
        Clip the bounds to [-clip, clip] (90 for latitudes).

    Returns
    -------
    numpy.ndarray
        (n, 2) float64: the midpoints between neighbours; the outer bounds half a
        spacing beyond the outer centres; one centre alone gives a cell of width 0
        unless clipped.
    """
    c = np.asarray(centres, dtype=np.float64).reshape(-1)
    if c.size == 1:
        edges = np.array([c[0], c[0]])
    else:
        mid = 0.5 * (c[:-1] + c[1:])
        edges = np.concatenate([[c[0] - (mid[0] - c[0])], mid, [c[-1] + (c[-1] - mid[-1])]])
    if clip is not None:
        edges = np.clip(edges, -clip, clip)
    return np.stack([edges[:-1], edges[1:]], axis=1)


def _lon_widths(lon_bounds):
    """Widths (degrees) of cells between two meridians: a cell across the seam (bounds
    350, 10) is 20 wide, not 340; one cell alone may span the whole circle."""
    d = np.abs(lon_bounds[:, 1] - lon_bounds[:, 0])
    if d.size > 1:
        d = np.where(d > 180.0, 360.0 - d, d)
    return d


def lat_lon_cell_areas(lat_bounds, lon_bounds, radius=EARTH_RADIUS):
    """Exact areas of the cells between parallels and meridians.

    Parameters
    ----------
    lat_bounds : array_like
        (ny, 2) latitude bounds of the rows (degrees, in [-90, 90]; either order).
    lon_bounds : array_like
        (nx, 2) longitude bounds of the columns (degrees; either order; a cell across
        the 0/360 or ±180 seam is the short way round).
    radius : float
        Radius of the sphere (metres by default).

    Returns
    -------
    numpy.ndarray
        (ny, nx) float64 areas ``R²·|sin φ₂ − sin φ₁|·|λ₂ − λ₁|``; NaN where a bound
        is NaN (the caller checks).
    """
    lat = np.deg2rad(np.asarray(lat_bounds, dtype=np.float64).reshape(-1, 2))
    lon = np.asarray(lon_bounds, dtype=np.float64).reshape(-1, 2)
    rows = np.abs(np.sin(lat[:, 1]) - np.sin(lat[:, 0]))
    cols = np.deg2rad(_lon_widths(lon))
    return radius * radius * rows[:, None] * cols[None, :]
