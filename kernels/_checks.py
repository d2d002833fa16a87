"""Cheap argument checks shared by the Python-level kernel wrappers (no Numba)."""

import operator

import numpy as np

__all__ = [
    "FLOAT_DTYPES",
    "check_array",
    "check_disjoint",
    "check_int",
    "check_positive_float",
    "check_same_shape",
]

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
_TooHardError = getattr(getattr(np, "exceptions", np), "TooHardError")


def _dtype_names(dtypes):
    return ", ".join(str(d) for d in dtypes)


def check_array(name, x, ndim=None, dtypes=FLOAT_DTYPES, writeable=False):
    """Check that ``x`` is an ndarray of an accepted dtype and dimensionality.

    Parameters
    ----------
    name : str
        Name of the argument, used in the error message.
    x : object
        Value to check.
    ndim : int, optional
        Required number of dimensions.
    dtypes : tuple of numpy.dtype
        Accepted dtypes.
    writeable : bool
        Require a writeable array (an output argument).

    Returns
    -------
    numpy.ndarray
        ``x`` itself.

    Raises
    ------
    TypeError
        If ``x`` is not an ndarray or has another dtype.
    ValueError
        If ``x`` has the wrong number of dimensions or is read-only.
    """
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray, got {type(x).__name__}")
    if x.dtype not in dtypes:
        raise TypeError(f"{name} must have dtype {_dtype_names(dtypes)}, got {x.dtype}")
    if ndim is not None and x.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {x.shape}")
    if writeable and not x.flags.writeable:
        raise ValueError(f"{name} is read-only; pass a writeable array")
    return x


def check_same_shape(name_a, a, name_b, b):
    """Raise ValueError unless ``a`` and ``b`` have the same shape.

    Parameters
    ----------
    name_a, name_b : str
        Argument names for the message.
    a, b : numpy.ndarray
        Arrays to compare.
    """
    if a.shape != b.shape:
        raise ValueError(f"{name_b} must have the shape of {name_a} {a.shape}, got {b.shape}")


def check_disjoint(name_a, a, name_b, b):
    """Raise ValueError if ``a`` and ``b`` share memory (in-place use is unsupported).

    Parameters
    ----------
    name_a, name_b : str
        Argument names for the message.
    a, b : numpy.ndarray
        Arrays that must not overlap.
    """
    if not np.may_share_memory(a, b):
        return
    try:
        overlap = np.shares_memory(a, b, max_work=10_000)
    except _TooHardError:
        overlap = True  # undecided within the work bound: refuse rather than risk it
    if overlap:
        raise ValueError(f"{name_b} must not share memory with {name_a}; "
                         f"pass a separate output array")


def check_int(name, value, minimum):
    """Return ``value`` as an int, checking it is an integer ``>= minimum``.

    Parameters
    ----------
    name : str
        Argument name for the message.
    value : object
        Value to check (bool is rejected).
    minimum : int
        Smallest valid value.

    Returns
    -------
    int
    """
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    try:
        value = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}") from None
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value}")
    return value


def check_positive_float(name, value, allow_zero=False):
    """Return ``value`` as a float, checking it is finite and positive.

    Parameters
    ----------
    name : str
        Argument name for the message.
    value : object
        Real number to check.
    allow_zero : bool
        Accept 0 as well.

    Returns
    -------
    float
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer,
                                                                     np.floating)):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    value = float(value)
    ok = value >= 0.0 if allow_zero else value > 0.0
    if not (ok and np.isfinite(value)):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be a finite number {bound}, got {value}")
    return value
