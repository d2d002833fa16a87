"""Which variable of a NetCDF file gives the times of a time dimension.

Usually the dimension's own coordinate variable, with ``<unit> since <date>`` units. Some
models store the times in an auxiliary variable on the dimension instead (NEMO's
``time_centered(time_counter)``, whose ``time_counter`` may have no time units): the
dimension is then still a time dimension, and its times are the auxiliary variable's.
These functions are what :class:`~clusterkit.io.dataset.Dataset`'s ``auxiliary_times``
and ``time_coordinate`` do; a :class:`~clusterkit.io.multifile.MultiFileDataset` asks its
earliest file and joins the chosen variable's values over the files.
"""

import numpy as np

from ..errors import InputError
from . import cf
from .groups import group_of, path_of, scopes

__all__ = ["auxiliary_times", "time_coordinate"]


def auxiliary_times(ds, dim, var=None):
    """Names (paths inside groups) of the auxiliary time variables of ``dim``: 1-D
    variables on ``dim`` alone, other than its coordinate variable, with
    ``standard_name`` time and ``<unit> since <date>`` units, in the group of ``var``
    (else of ``dim``) and its ancestors. Remembered per dimension and group.

    Parameters
    ----------
    ds : Dataset
        One open file.
    dim : str
        The dimension (a :class:`~clusterkit.io.groups.DimName` inside a group).
    var : str, optional
        The data variable whose group is searched.
    """
    scope = group_of(path_of(var) if var is not None else path_of(dim))
    return ds._once("auxiliary_times", (path_of(dim), scope),
                    lambda: tuple(_search(ds, dim, scope)))


def _search(ds, dim, scope):
    for group in scopes(scope):
        for n in ds._vectors_in(group):
            if n == path_of(dim) or len(ds.shape(n)) != 1:
                continue
            (d,), attrs = ds.dims(n), ds.attrs(n)
            if d == dim and path_of(d) == path_of(dim) and cf.has_time_units(attrs) and \
                    cf.attr_str(attrs, "standard_name").strip().lower() == "time":
                yield n


def time_coordinate(ds, dim, var=None, *, strict=True):
    """``(values, attrs, name)`` of the time variable that gives the times of ``dim``.

    The coordinate variable of ``dim`` when it has ``<unit> since <date>`` units;
    else its auxiliary time variable (:func:`auxiliary_times`: NEMO's
    ``time_centered(time_counter)``). Of several auxiliary time variables with
    different values or units, the one named in the ``coordinates`` attribute of
    the data variable ``var``; with ``strict=False`` (ordering files by time, where
    any of them does) the first. Without either: the coordinate variable (or None
    values), which then does not decode.

    Parameters
    ----------
    ds : Dataset
        One open file.
    dim : str
        The time dimension.
    var : str, optional
        The data variable, whose ``coordinates`` attribute may choose.
    strict : bool, optional
        Whether several differing auxiliary time variables, none chosen, are an error.

    Raises
    ------
    InputError
        Several auxiliary time variables that differ and none chosen (``strict``),
        naming them.
    """
    own = ds.has_coordinate(dim)
    attrs = ds.attrs(dim) if own else {}
    if own and cf.has_time_units(attrs):
        return ds.coordinate(dim), attrs, path_of(dim)
    names = auxiliary_times(ds, dim, var)
    if not names:
        return ds.coordinate(dim), attrs, path_of(dim)
    name = names[0]
    if any(not _same_times(ds, name, n) for n in names[1:]):
        named = [n for n in names if n.rsplit("/", 1)[-1] in _listed(ds, var)]
        if len(named) == 1:
            name = named[0]
        elif strict:
            of = f"variable {var!r}" if var is not None else "the data variable"
            raise InputError(
                f"dimension {str(dim)!r} in {ds.path!r} has several auxiliary time "
                f"variables with different values ({', '.join(names)}) and {of} names "
                f"{'several' if named else 'none'} of them in its coordinates attribute: "
                "name the one to use there (coordinates = \"NAME ...\")")
    return np.asarray(ds._var(name)[...]), ds.attrs(name), name


def _listed(ds, var):
    """The names in the ``coordinates`` attribute of ``var``."""
    if var is None:
        return set()
    return set(cf.attr_str(ds.attrs(var), "coordinates").split())


def _same_times(ds, a, b):
    keys = ("units", "calendar")
    return all(cf.attr_str(ds.attrs(a), k).strip() == cf.attr_str(ds.attrs(b), k)
               .strip() for k in keys) and \
        np.array_equal(ds._var(a)[...], ds._var(b)[...])
