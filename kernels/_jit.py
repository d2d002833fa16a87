"""Compile one Python kernel body into a serial and a ``parallel=True`` Numba dispatcher."""

import hashlib
import os
import types

import numba

__all__ = ["njit_cached", "serial_and_parallel", "dispatch_route", "library_stamp", "STAMP"]


def library_stamp(folder=os.path.dirname(os.path.abspath(__file__))):
    """A short hash of every ``*.py`` source of the kernel library in ``folder``.

    Numba's on-disk cache revalidates a kernel only against its own source file, so a
    kernel whose jitted helper lives in another module (``_flat``, ``exactsum``) would
    keep running the old helper after that module changed. Every cached kernel's name
    therefore carries this stamp: a change to any kernel source gives every kernel a
    fresh cache entry (stale entries are never read again).
    """
    h = hashlib.sha256()
    for name in sorted(os.listdir(folder)):
        if name.endswith(".py"):
            with open(os.path.join(folder, name), "rb") as f:
                h.update(name.encode() + b"\0" + f.read() + b"\0")
    return h.hexdigest()[:12]


#: stamp of this installation's kernel sources (part of every cached kernel's name)
STAMP = library_stamp()


def njit_cached(func):
    """Compile ``func`` with ``numba.njit(cache=True)`` (used for jitted helpers), under
    a name carrying :data:`STAMP`.

    Parameters
    ----------
    func : function
        Plain Python function (a kernel helper).

    Returns
    -------
    numba dispatcher
        The cached, nopython-compiled dispatcher.
    """
    return numba.njit(cache=True)(_clone(func, STAMP))


def _clone(func, suffix):
    """Return a copy of ``func`` whose ``__qualname__`` ends with ``suffix``."""
    clone = types.FunctionType(func.__code__, func.__globals__, func.__name__,
                               func.__defaults__, func.__closure__)
    clone.__kwdefaults__ = func.__kwdefaults__
    clone.__doc__ = func.__doc__
    clone.__module__ = func.__module__
    clone.__qualname__ = f"{func.__qualname__}__{suffix}"
    return clone


def serial_and_parallel(body, **options):
    """Compile one kernel body twice: serially and with ``parallel=True``.

    Both dispatchers use ``cache=True``. Numba keys its on-disk cache by the
    function's module, qualified name, first line and bytecode, but not by
    the compile options (numba/numba#6845), so two ``njit`` calls on the very
    same function object would share one cache entry and the second variant
    would silently load the first one's machine code. Each variant is
    therefore compiled from a clone of ``body`` whose ``__qualname__`` carries
    a ``__serial`` / ``__parallel`` suffix; the Python code is the same.

    Parameters
    ----------
    body : function
        Kernel written with ``numba.prange`` for its parallel loop.
    **options
        Further ``numba.njit`` options for both variants (e.g. ``fastmath``).

    Returns
    -------
    serial, parallel : numba dispatchers
        ``njit(cache=True)`` and ``njit(cache=True, parallel=True)`` variants.
    """
    serial = numba.njit(cache=True, **options)(_clone(body, f"serial__{STAMP}"))
    parallel = numba.njit(cache=True, parallel=True, **options)(
        _clone(body, f"parallel__{STAMP}"))
    return serial, parallel


def dispatch_route(route):
    """Decorator for a checked kernel entry: name the Numba dispatcher it calls.

    ``clusterkit.jit.warmup(entry, *args, **kwargs)`` then compiles (or loads from the
    cache) that dispatcher for the types of ``args`` without running the entry, so a
    job can warm up the public, checked kernels too.

    Parameters
    ----------
    route : callable
        ``route(*args, **kwargs) -> (dispatcher, dispatcher_args)``: the dispatcher the
        entry would call with these arguments, and the arguments it would pass.

    Returns
    -------
    callable
        A decorator that sets ``entry.dispatch_route = route`` and returns ``entry``.
    """
    def mark(entry):
        entry.dispatch_route = route
        return entry
    return mark
