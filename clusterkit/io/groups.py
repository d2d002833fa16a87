"""Where a name is in a NetCDF-4 file with groups: paths, the group of a path, and netCDF's
scoping (a name is looked up in its group, then in each ancestor up to the root).

A variable inside a group is named by its path (``"/group/name"``); a root variable by its
plain name. A dimension defined in a group is a :class:`DimName`, which prints as the plain
name (outputs and messages use it) but remembers its path (look-ups use it). These are pure
string operations: no file is touched.
"""

__all__ = ["DimName", "path_of", "group_of", "in_group", "scopes"]


class DimName(str):
    """A dimension name as netCDF gives it, which remembers where in the file the dimension
    is defined (``path``: the variable's group or the nearest ancestor that defines it, as
    netCDF scopes dimensions; its coordinate variable is there too).

    It compares, hashes and prints as the plain name, so outputs and messages use the
    name; :class:`~clusterkit.io.dataset.Dataset` looks the dimension up by its path. Only
    dimensions defined in a group are given as a ``DimName``; root dimensions are plain
    strings.
    """

    def __new__(cls, name, path=None):
        self = super().__new__(cls, name)
        self.path = path
        return self

    def __reduce__(self):
        return DimName, (str(self), self.path)


def path_of(name):
    """Where ``name`` (a variable name or path, or a :class:`DimName`) is in the file."""
    return getattr(name, "path", None) or name


def group_of(path):
    """The group of the object at ``path`` (``"/"`` for a root name)."""
    return "/" + path.strip("/").rpartition("/")[0]


def in_group(group, name):
    """The path of ``name`` in ``group`` (the plain name in the root group)."""
    return f"{group.rstrip('/')}/{name}" if group != "/" else name


def scopes(group):
    """``group`` and its ancestors up to the root ``"/"``, nearest first: where netCDF
    looks a name up that is used in ``group``."""
    yield group
    while group != "/":
        group = group_of(group)
        yield group
