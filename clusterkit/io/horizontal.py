"""The horizontal coordinates of a variable on a curvilinear grid.

Most inputs are on a latitude-longitude grid: their 1-D latitude and longitude are
dimensions. Ocean models' grids (``(j, i)``, ``(y, x)``), projected grids and rotated-pole
grids are curvilinear: the latitude and longitude of each point are 2-D auxiliary
coordinate variables named by the data variable's ``coordinates`` attribute, and their two
dimensions are the grid's rows and columns. This module finds them, or says why the ones a
variable declares cannot be used, and the variable's CF grid mapping (what outputs copy to
stay georeferenced), in a :class:`~clusterkit.io.dataset.Dataset` or a
:class:`~clusterkit.io.multifile.MultiFileDataset` (through their metadata methods only).
"""

from ..errors import InputError
from . import cf
from .groups import group_of, in_group, path_of, scopes

__all__ = ["horizontal_coordinates", "curvilinear", "grid_mapping"]

#: ``grid_mapping_name`` of the grid mappings whose grids are curvilinear for analysis
_CURVILINEAR_MAPPINGS = ("rotated_latitude_longitude",)


def _resolve(ds, var, name):
    """Where the variable ``name`` named by an attribute of ``var`` is: in ``var``'s
    group or the nearest ancestor that has it (netCDF's scoping), or None."""
    return next((path for path in (in_group(g, name) for g in scopes(group_of(path_of(var))))
                 if path in ds), None)


def _mapping_names(text):
    """The grid-mapping variables a CF ``grid_mapping`` attribute names: ``"crs"``, or
    the first word of each ``"name:"`` group of its extended form (``"crsOSGB: x y
    crsWGS84: lat lon"``)."""
    words = text.split()
    if any(w.endswith(":") for w in words):
        return [w[:-1] for w in words if w.endswith(":")]
    return words[:1]


def _grid_mapping(ds, var):
    """The ``grid_mapping_name`` of ``var``'s (first) grid mapping variable, or ""."""
    names = _mapping_names(cf.attr_str(ds.attrs(var), "grid_mapping"))
    path = _resolve(ds, var, names[0]) if names else None
    return cf.attr_str(ds.attrs(path), "grid_mapping_name").strip() if path else ""


def grid_mapping(ds, var):
    """The CF grid mapping of variable ``var``, for outputs on its grid to copy.

    Parameters
    ----------
    ds : Dataset or MultiFileDataset
    var : str

    Returns
    -------
    tuple or None
        ``(attribute, {name: attributes})``: the ``grid_mapping`` text to give the
        outputs' variables on the grid, and the grid-mapping variables it names (plain
        names, outside any group) with their attributes, to copy as scalar variables.
        None when ``var`` has no ``grid_mapping`` or one of the variables it names is
        not in the file (an output must not name a variable it lacks).
    """
    text = cf.attr_str(ds.attrs(var), "grid_mapping").strip()
    names = _mapping_names(text)
    paths = [_resolve(ds, var, n) for n in names]
    if not names or None in paths:
        return None
    return text, {n: ds.attrs(p) for n, p in zip(names, paths)}


def curvilinear(ds, var):
    """``(found, problem)`` for variable ``var`` of ``ds``: ``found`` = ``(lat, lon,
    (row dim, column dim))`` of its 2-D latitude/longitude auxiliary coordinates (see
    :func:`horizontal_coordinates`) or None; ``problem`` the message of an InputError
    when they are declared but unusable, or None. Never raises."""
    dims = tuple(ds.dims(var))
    flat = {cf.axis_kind(ds.attrs(d)) for d in dims if ds.has_coordinate(d)}
    mapping = _grid_mapping(ds, var)
    rotated = mapping in _CURVILINEAR_MAPPINGS
    if {"lat", "lon"} <= flat and not rotated:
        return None, None
    listed = cf.attr_str(ds.attrs(var), "coordinates").split()
    where = f"variable {str(var)!r} in {ds.path!r}"
    found, missing = {"lat": [], "lon": []}, []
    for n in listed:
        path = _resolve(ds, var, n)
        if path is None:
            missing.append(n)
            continue
        attrs = ds.attrs(path)
        kind = cf.axis_kind(attrs) or cf.axis_refusal(attrs)
        if kind not in ("lat", "lon") or (tuple(ds.dims(path)) == (n,) and n in dims):
            continue
        if cf.axis_kind(attrs) != kind:
            return None, (f"{where}: its coordinate {n!r} ({cf.describe_axis(attrs)}) is not "
                          f"{'latitude' if kind == 'lat' else 'longitude'} in degrees; "
                          f"{cf.AXIS_NEEDS[kind]}")
        found[kind].append(path)
    grid = (f"a {mapping} grid (not geographic)" if rotated else
            "a curvilinear grid (no 1-D latitude/longitude dimensions)")
    if not found["lat"] and not found["lon"] and not missing and not rotated:
        return None, None
    absent = [k for k in ("lat", "lon") if not found[k]]
    if absent:    # (other names missing do not matter once both are found)
        if missing:
            why = (f"its coordinates attribute names {', '.join(map(repr, missing))}, "
                   f"which {'is' if len(missing) == 1 else 'are'} not in the file")
        else:
            why = (f"its coordinates attribute ({' '.join(listed) or 'none'}) names no 2-D "
                   f"{' or '.join({'lat': 'latitude', 'lon': 'longitude'}[k] for k in absent)}")
        return None, (f"{where} is on {grid}, but {why}; it needs 2-D latitude and "
                      "longitude variables on its two horizontal dimensions, named in its "
                      "coordinates attribute (coordinates = \"lat lon\")")
    if len(found["lat"]) > 1 or len(found["lon"]) > 1:
        return None, (f"{where}: its coordinates attribute names several latitudes or "
                      f"longitudes ({', '.join(found['lat'] + found['lon'])}); name one "
                      "of each")
    lat, lon = found["lat"][0], found["lon"][0]
    lat_dims, lon_dims = tuple(ds.dims(lat)), tuple(ds.dims(lon))
    if len(lat_dims) != 2 or lat_dims != lon_dims or \
            tuple(ds.shape(lat)) != tuple(ds.shape(lon)):
        return None, (f"{where}: its latitude {lat!r} has dimensions {lat_dims} and shape "
                      f"{tuple(ds.shape(lat))} but its longitude {lon!r} {lon_dims} and "
                      f"{tuple(ds.shape(lon))}; 2-D latitude and longitude must be on the "
                      "same two dimensions, in the same order")
    if lat_dims[0] == lat_dims[1] or not set(lat_dims) <= set(dims):
        return None, (f"{where} has dimensions {dims}, but its latitude and longitude "
                      f"{lat!r}, {lon!r} are on {lat_dims}: they must be on two of the "
                      "variable's dimensions")
    return (lat, lon, lat_dims), None


def horizontal_coordinates(ds, var):
    """The 2-D latitude and longitude of variable ``var`` on a curvilinear grid, or None.

    A variable is on a curvilinear grid when its dimensions do not include both a 1-D
    latitude and a 1-D longitude in degrees (ocean models' ``(j, i)`` or ``(y, x)``),
    or when its ``grid_mapping`` is ``rotated_latitude_longitude`` (whose ``rlat``,
    ``rlon`` are not geographic). Its latitude and longitude are then the 2-D variables
    named by its ``coordinates`` attribute that CF attributes call latitude and longitude
    in degrees (:func:`cf.axis_kind`), on two of its dimensions: the first of them is
    the grid's rows, the second its columns.

    Parameters
    ----------
    ds : Dataset or MultiFileDataset
    var : str
        The data variable.

    Returns
    -------
    tuple or None
        ``(lat, lon, (row dim, column dim))`` (variable names, paths inside groups), or
        None for a variable on a latitude-longitude grid (or without latitude/longitude).

    Raises
    ------
    InputError
        The variable needs 2-D coordinates but its ``coordinates`` attribute names
        variables that are not in the file, or no 2-D latitude or longitude; one of
        them is not in degrees; they have different dimensions or shapes, are not 2-D,
        or are not on the variable's dimensions.
    """
    found, problem = curvilinear(ds, var)
    if problem is not None:
        raise InputError(problem)
    return found
