"""Cell areas on the sphere: of a latitude-longitude grid from cell bounds or cell
centres, and of any grid's cells from their corners (a curvilinear grid's vertices).

Pure geometry on plain arrays (NumPy only). A cell between latitudes φ₁, φ₂ and
longitudes λ₁, λ₂ (bounded by two parallels and two meridians) has the area
R²·|sin φ₂ − sin φ₁|·|λ₂ − λ₁| (radians), exactly. Where a file gives no bounds the
bounds are derived from the cell centres as CDO 2.1 does (midpoints between neighbouring
centres, the outer bounds half a spacing beyond the outer centres, latitudes clipped to
±90). These areas are separable (a function of the row times one of the column), so a
block of a grid costs only its own rows and columns.

A cell given by its corners (a curvilinear grid's vertex bounds) is the spherical
polygon with great-circle edges between them, as CDO's ``gridarea`` takes it; on a
latitude-longitude grid its edges along parallels bulge poleward, so it differs from the
exact cell by O(spacing²).
"""

import numpy as np

__all__ = ["EARTH_RADIUS", "bounds_from_centres", "lat_lon_cell_areas",
           "polygon_cell_areas"]

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


def _unit_vectors(lat, lon):
    """(..., 3) points on the unit sphere of latitudes and longitudes in degrees."""
    la, lo = np.deg2rad(lat), np.deg2rad(lon)
    c = np.cos(la)
    return np.stack([c * np.cos(lo), c * np.sin(lo), np.sin(la)], axis=-1)


def _signed_triangle_excess(a, b, c):
    """Signed solid angle of the spherical triangles (a, b, c) of unit vectors (..., 3):
    positive counter-clockwise seen from outside, 0 for a repeated corner. Van Oosterom
    & Strackee: tan(E/2) = a·(b×c) / (1 + a·b + b·c + c·a). The triple product is taken
    of the edge vectors (b−a)×(c−a), which is the same number without the cancellation
    of crossing two nearly parallel unit vectors, so small cells keep their digits."""
    triple = np.einsum("...i,...i->...", a, np.cross(b - a, c - a))
    den = 1.0 + np.einsum("...i,...i->...", a, b) + np.einsum("...i,...i->...", b, c) \
        + np.einsum("...i,...i->...", c, a)
    return 2.0 * np.arctan2(triple, den)


def polygon_cell_areas(lat_vertices, lon_vertices, radius=EARTH_RADIUS):
    """Areas of spherical polygons with great-circle edges, from their corners.

    The polygon is split into triangles from its first corner and their signed
    spherical excesses are summed, so corners may repeat (a triangle given as four
    corners, the cells at a tripolar grid's fold) and the polygon may be concave.
    The corners are taken as 3-D points: longitudes in any convention (0..360 or ±180,
    or mixed within a cell across the dateline) give the same area.

    Parameters
    ----------
    lat_vertices, lon_vertices : array_like
        (..., nv) latitudes and longitudes (degrees) of each cell's nv >= 3 corners, in
        order around the cell (either orientation), e.g. a curvilinear grid's CF vertex
        bounds (rows, columns, vertices).
    radius : float
        Radius of the sphere (metres by default).

    Returns
    -------
    numpy.ndarray
        (...) float64 areas; NaN where a corner is NaN (the caller checks). A cell is
        taken to cover less than a hemisphere.

    Raises
    ------
    ValueError
        The two arrays differ in shape or have fewer than 3 corners per cell.
    """
    lat = np.asarray(lat_vertices, dtype=np.float64)
    lon = np.asarray(lon_vertices, dtype=np.float64)
    if lat.shape != lon.shape or lat.ndim < 1 or lat.shape[-1] < 3:
        raise ValueError(f"polygon_cell_areas: lat_vertices {lat.shape} and lon_vertices "
                         f"{lon.shape} must have one shape (..., nv) with nv >= 3 corners")
    p = _unit_vectors(lat, lon)
    first = p[..., 0, :]
    total = np.zeros(lat.shape[:-1])
    for k in range(1, lat.shape[-1] - 1):
        total += _signed_triangle_excess(first, p[..., k, :], p[..., k + 1, :])
    return radius * radius * np.abs(total)
