"""Cell areas for area-weighted means: a CF cell-measure variable, coordinate bounds, or
cell centres, read for one rank's block of the grid.

The sources, in order: the data variable's ``cell_measures = "area: NAME"`` with NAME
in the file given as ``area_path`` (CMIP's separate ``areacella``/``areacello`` files)
or in the input itself; else the exact areas of the cells between the coordinates'
``bounds``; else those of bounds derived from the cell centres as CDO does
(:mod:`clusterkit.kernels.cellarea`). A curvilinear grid's cells are not between
parallels and meridians: after the area variable come the spherical polygons of its
vertex bounds (CMIP's ``vertices_latitude``/``vertices_longitude``, great-circle edges as
CDO's ``gridarea``), else nothing (the caller weights by cos of the 2-D latitude).
Whatever the source, the result is a (ny, nx) float64 field of weights for the rank's
(rows, columns) block, which is all a weighted sum needs (a curvilinear grid's area
variable gives the same). An area variable may miss areas (NaN or _FillValue, e.g. CMIP
ocean areas over land): those cells get weight 0.
"""

import sys

import numpy as np

from .. import comm as _comm
from ..errors import InputError
from ..log import rprint
from ..kernels.cellarea import bounds_from_centres, lat_lon_cell_areas, polygon_cell_areas
from . import cf

__all__ = ["cell_measure", "coordinate_bounds", "cell_area_weights", "vertex_cell_areas"]

#: degrees: coordinates of an area variable's grid that differ by more are another grid
_COORD_TOLERANCE = 1e-5


def cell_measure(attrs, measure="area"):
    """The variable named for ``measure`` by CF ``cell_measures`` (``"area: areacella"``
    → ``"areacella"``), or None."""
    words = cf.attr_str(attrs, "cell_measures").split()
    for key, value in zip(words[:-1], words[1:]):
        if key == f"{measure}:":
            return value
    return None


def coordinate_bounds(ds, dim, kind):
    """(n, 2) float64 bounds of coordinate ``dim`` from its ``bounds`` variable, or None
    if it names none. Latitudes (``kind`` "lat") are checked to lie within ±90.

    Raises
    ------
    InputError
        The bounds variable is missing, not (n, 2), not finite or beyond ±90.
    """
    name = cf.attr_str(ds.attrs(dim), "bounds").strip() if dim in ds else ""
    if not name:
        return None
    n = ds.shape(dim)[0]
    where = repr(ds.path)
    if name not in ds:
        raise InputError(f"coordinate {dim!r} names bounds {name!r}, which is not in "
                         f"{where}; add it or remove the bounds attribute (areas are then "
                         "derived from the cell centres)")
    if tuple(ds.shape(name)) != (n, 2):
        raise InputError(f"bounds {name!r} of {dim!r} in {where} has shape "
                         f"{tuple(ds.shape(name))}; expected ({n}, 2)")
    b = np.asarray(ds.read(name, (slice(None), slice(None)), dtype=np.float64),
                   dtype=np.float64)
    if not np.all(np.isfinite(b)) or (kind == "lat" and np.abs(b).max() > 90 + 1e-6):
        valid = "finite values within [-90, 90]" if kind == "lat" else "finite values"
        raise InputError(f"bounds {name!r} of {dim!r} in {where} must hold {valid}")
    return np.clip(b, -90.0, 90.0) if kind == "lat" else b


def _area_variable(ds, var, area_ds):
    """(dataset, name) of the area variable for ``var``, or None (no cell measure, no
    ``--area`` file). ``area_ds`` (the ``--area`` file, or None) is looked in first."""
    name = cell_measure(ds.attrs(var))
    if area_ds is not None:
        if name is not None:
            if name in area_ds:
                return area_ds, name
            if name in ds:
                return ds, name
            raise InputError(f"variable {var!r} has cell_measures 'area: {name}', but "
                             f"neither the input nor --area {area_ds.path!r} holds "
                             f"{name!r} (variables there: {', '.join(area_ds.names())})")
        found = [n for n in area_ds.names()
                 if cf.attr_str(area_ds.attrs(n), "standard_name") == "cell_area"]
        if len(found) != 1:
            raise InputError(f"--area {area_ds.path!r}: expected one variable with "
                             f"standard_name 'cell_area', found {len(found)}"
                             f"{' (' + ', '.join(found) + ')' if found else ''}")
        return area_ds, found[0]
    if name is None:
        return None
    if name not in ds:
        raise InputError(f"variable {var!r} has cell_measures 'area: {name}', but the "
                         f"input does not hold {name!r}: give the file that does with "
                         f"--area FILE (e.g. CMIP's {name}_fx_... file)")
    return ds, name


def _grid_order(src, name, lat_dim, lon_dim, lat, lon):
    """Whether the area variable ``name`` of ``src`` is stored (lon, lat); checks that
    its grid is the data's: two dimensions, latitude and longitude (rows and columns of
    a curvilinear grid), the same sizes and, where both have coordinates, the same
    values. ``lat``, ``lon``: the data's ``(size, coordinate values or None)``."""
    dims = tuple(src.dims(name))
    what = f"area variable {name!r} in {src.path!r}"
    if set(dims) == {lat_dim, lon_dim} and len(dims) == 2:
        order = ["lat" if d == lat_dim else "lon" for d in dims]
    else:
        kinds = src.axis_kinds(name)
        order = [kinds.get(d) for d in dims]
    if sorted(map(str, order)) != ["lat", "lon"]:
        raise InputError(f"{what} has dimensions {dims}; expected (latitude, longitude) "
                         f"like the data ({lat_dim!r}, {lon_dim!r})")
    want = {"lat": lat, "lon": lon}
    shape = tuple(src.shape(name))
    if shape != tuple(want[k][0] for k in order):
        raise InputError(f"{what} has shape {shape} on {dims}; the data's grid is "
                         f"({lat[0]}, {lon[0]}) on ({lat_dim!r}, {lon_dim!r}): the area "
                         "must be on the same grid")
    for d, k in zip(dims, order):
        if src.has_coordinate(d) and want[k][1] is not None:
            c = np.asarray(src.coordinate(d), dtype=np.float64)
            w = np.asarray(want[k][1], dtype=np.float64)
            if not np.allclose(c, w, rtol=0, atol=_COORD_TOLERANCE):
                i = int(np.argmax(~np.isclose(c, w, rtol=0, atol=_COORD_TOLERANCE)))
                raise InputError(f"{what}: coordinate {d!r} differs from the data's at "
                                 f"index {i} ({c[i]!r} vs {w[i]!r}): the area must be "
                                 "on the same grid")
    return order == ["lon", "lat"]


def _read_area(src, name, transposed, rows, cols):
    """The area variable's (rows, cols) block as float64 (ny, nx). Collective."""
    sel = (cols, rows) if transposed else (rows, cols)
    block = np.asarray(src.read(name, sel, dtype=np.float64), dtype=np.float64)
    return np.ascontiguousarray(block.T if transposed else block)


def _missing_areas(block, name, src, rows, cols, comm):
    """``block`` with its missing areas (NaN) set to 0, after one warning line on rank 0
    counting them over the whole grid. Collective.

    Raises
    ------
    InputError
        On every rank: an area is negative or infinite, or every area is missing.
    """
    what = f"area variable {name!r} in {src.path!r}"
    missing = np.isnan(block)
    _comm.check(bool(np.all(missing | (np.isfinite(block) & (block >= 0)))),
                lambda: f"{what} has negative or infinite cell areas; cell areas must be "
                ">= 0 (missing ones, NaN or _FillValue, get weight 0)", comm=comm)
    # ranks that differ in other dimensions share a block: count each block once
    key = (rows.start, rows.stop, cols.start, cols.stop)
    counts = dict(comm.allgather((key, (int(missing.sum()), int(block.size)))))
    nmissing, ncells = (sum(c) for c in zip(*counts.values()))
    _comm.check(nmissing < ncells, lambda: f"{what} has no cell area anywhere (every value "
                "NaN or _FillValue); give an area variable with areas, or use --weights "
                "coslat", comm=comm)
    if nmissing:
        rprint(f"warning: {what} has no area for {nmissing} of {ncells} cells (NaN or "
               "_FillValue, e.g. over land): they get weight 0 in the area-weighted mean",
               file=sys.stderr, comm=comm)
    return np.where(missing, 0.0, block)


def vertex_cell_areas(vertices, rows, cols, comm):
    """Areas of this rank's block of a curvilinear grid's cells from their corners.
    Collective.

    Parameters
    ----------
    vertices : tuple
        ``((lat bounds name, lat corners), (lon bounds name, lon corners))``: the block's
        (ny, nx, nv) corner latitudes and longitudes (degrees), e.g. CMIP's
        ``vertices_latitude``/``vertices_longitude``.
    rows, cols : slice
        The block's place in the grid (for messages).
    comm : mpi4py.MPI.Intracomm

    Returns
    -------
    numpy.ndarray
        (ny, nx) float64 areas (metres², Earth's radius) of the spherical polygons with
        great-circle edges between the corners (0 for a cell whose corners coincide).

    Raises
    ------
    InputError
        On every rank: the two variables differ in shape or have fewer than 3 corners, a
        corner is NaN or infinite or a latitude beyond ±90, or no cell has an area.
    """
    (lat_name, lat_v), (lon_name, lon_v) = vertices
    lat_v = np.asarray(lat_v, dtype=np.float64)
    lon_v = np.asarray(lon_v, dtype=np.float64)
    names = f"{lat_name!r} and {lon_name!r}"
    _comm.check(lat_v.shape == lon_v.shape and lat_v.ndim == 3 and lat_v.shape[2] >= 3,
                lambda: f"vertex bounds {names} have shapes {lat_v.shape} and "
                f"{lon_v.shape}; expected one shape (rows, columns, vertices) with at "
                "least 3 vertices", comm=comm)
    for name, v, limit in ((lat_name, lat_v, 90.0 + 1e-6), (lon_name, lon_v, np.inf)):
        bad = ~np.isfinite(v) | (np.abs(v) > limit)

        def message(name=name, v=v, bad=bad, limit=limit):
            j, i, k = (int(n) for n in np.argwhere(bad)[0])
            valid = "finite latitudes within [-90, 90]" if limit < np.inf else \
                "finite longitudes"
            return (f"vertex bounds {name!r} must hold {valid}; {int(bad.sum())} value(s) "
                    f"do not, first: {float(v[j, i, k])!r} at index ({(rows.start or 0) + j}, "
                    f"{(cols.start or 0) + i}, {k})")
        _comm.check(not bad.any(), message, comm=comm)
    areas = polygon_cell_areas(np.clip(lat_v, -90.0, 90.0), lon_v)
    _comm.check(_comm.any_rank(bool(np.any(areas > 0)), comm=comm),
                f"vertex bounds {names} give no cell an area (the corners of every cell "
                "coincide or lie on one great circle); give cell corners or an area "
                "variable (--area FILE)", comm=comm)
    return np.ascontiguousarray(areas)


def cell_area_weights(ds, var, lat_dim, lon_dim, rows, cols, area_path=None,
                      curvilinear=None, vertices=None):
    """Cell areas of this rank's block of ``var``'s grid, and where they came from.
    Collective (every rank calls it, each with its own block).

    Parameters
    ----------
    ds : Dataset or MultiFileDataset
        The input.
    var : str
        The data variable (its ``cell_measures`` is read).
    lat_dim, lon_dim : str
        Its latitude and longitude dimensions (with 1-D coordinates in degrees), or the
        rows and columns of a curvilinear grid.
    rows, cols : slice
        This rank's block along latitude and longitude.
    area_path : str, optional
        A file holding the area variable (``--area``).
    curvilinear : numpy.ndarray, optional
        The block's 2-D latitudes (degrees) on a curvilinear grid. Its cells are not
        between parallels and meridians: the areas come from the cell-measure variable,
        else from ``vertices``, else the weights are cos(latitude) of the block and the
        source is None.
    vertices : tuple, optional
        On a curvilinear grid, the block's corners ``((lat bounds name, (ny, nx, nv)
        latitudes), (lon bounds name, longitudes))`` (see :func:`vertex_cell_areas`),
        used when there is no area variable.

    Returns
    -------
    (numpy.ndarray, str or None)
        (ny, nx) float64 areas (any unit: only ratios matter; 0 where the area variable
        has none, with one warning line on rank 0 counting them), and the source for
        output metadata and messages: ``"areacella"``, ``"areacella in FILE"``,
        ``"lat_bnds and lon_bnds"``, ``"bounds derived from the cell centres"``, or
        ``"vertices_latitude and vertices_longitude"`` (None: cos(latitude) of a
        curvilinear grid without an area variable or vertices).

    Raises
    ------
    InputError
        On every rank: the ``--area`` file is missing or not NetCDF, its area variable
        is not on the data's grid, the cell measure is in neither file, areas are
        negative or infinite or all missing, bounds or vertices are malformed.
    """
    grid = [(ds.shape(var)[list(ds.dims(var)).index(d)],
             ds.coordinate(d) if ds.has_coordinate(d) else None) for d in (lat_dim, lon_dim)]
    area_ds = None
    if area_path is not None:
        from .dataset import Dataset
        area_ds = Dataset(area_path, ds.comm)
    try:
        found = _area_variable(ds, var, area_ds)
        if found is not None:
            src, name = found
            block = _read_area(src, name, _grid_order(src, name, lat_dim, lon_dim, *grid),
                               rows, cols)
            label = name if src is ds else f"{name} in {src.path}"
            return _missing_areas(block, name, src, rows, cols, ds.comm), label
    finally:
        if area_ds is not None:
            area_ds.close()
    if curvilinear is not None:
        if vertices is not None:
            return vertex_cell_areas(vertices, rows, cols, ds.comm), \
                f"{vertices[0][0]} and {vertices[1][0]}"
        return np.ascontiguousarray(np.cos(np.deg2rad(curvilinear))), None
    lat = np.asarray(grid[0][1], dtype=np.float64)
    lon = np.asarray(grid[1][1], dtype=np.float64)
    lat_b = coordinate_bounds(ds, lat_dim, "lat")
    lon_b = coordinate_bounds(ds, lon_dim, "lon")
    names = [cf.attr_str(ds.attrs(d), "bounds") for d, b in ((lat_dim, lat_b),
                                                              (lon_dim, lon_b)) if b is not None]
    if lat_b is None:   # one row alone: the whole sphere's height (any weight will do)
        lat_b = bounds_from_centres(lat, clip=90.0) if lat.size > 1 else \
            np.array([[-90.0, 90.0]])
    if lon_b is None:   # one column alone: the whole circle
        lon_b = bounds_from_centres(lon) if lon.size > 1 else \
            np.array([[lon[0] - 180.0, lon[0] + 180.0]])
    areas = lat_lon_cell_areas(lat_b[rows], lon_b[cols])
    label = " and ".join(names) if len(names) == 2 else \
        "bounds derived from the cell centres" if not names else \
        f"{names[0]} and bounds derived from the cell centres"
    return np.ascontiguousarray(areas), label
