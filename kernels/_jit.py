"""Compile kernels with Numba's on-disk cache: serial and ``parallel=True`` variants, one
cache directory per CPU type and Numba version, data files named after what they hold."""

import hashlib
import os
import types

import numba
from numba.core import caching, config

__all__ = ["njit_cached", "serial_and_parallel", "dispatch_route", "library_stamp", "STAMP",
           "cache_key", "use_shared_cache", "SHARED_CACHE_ENV"]

#: environment variable naming the root of a Numba cache shared between processes and
#: jobs (the Slurm templates set it); each process uses ``ROOT/cache_key()`` below it
SHARED_CACHE_ENV = "CLUSTERKIT_NUMBA_CACHE"


def cache_key():
    """Return the name of this process's directory in a shared Numba cache.

    Numba's cache index keeps machine code for other CPUs apart, but one index file per
    kernel then holds the entries of every CPU type (and a different Numba version
    discards it), so nodes of different types sharing one directory keep rewriting each
    other's entries. The key names what Numba compiles for on this node: the CPU name and
    features and target triple LLVM reports (or ``NUMBA_CPU_NAME``/``NUMBA_CPU_FEATURES``
    when set), and the Numba and LLVM versions.

    Returns
    -------
    str
        ``CPU-numbaVERSION-HASH``, e.g. ``skylake-avx512-numba0.60.0-1f2e3d4c5b6a``; the
        hash covers the triple, the features and both versions.
    """
    from numba.core import codegen
    from numba.core.registry import cpu_target
    triple, cpu, features = cpu_target.target_context.codegen().magic_tuple()
    llvm = ".".join(map(str, codegen.ll.llvm_version_info))
    text = "\0".join((triple, cpu, features, numba.__version__, llvm))
    digest = hashlib.sha256(text.encode()).hexdigest()[:12]
    cpu = "".join(c if c.isascii() and (c.isalnum() or c in "_.+-") else "_" for c in cpu)
    return f"{cpu}-numba{numba.__version__}-{digest}"


def use_shared_cache(env=None):
    """Point Numba's cache at ``$CLUSTERKIT_NUMBA_CACHE/cache_key()`` unless
    ``NUMBA_CACHE_DIR`` is set; called when the kernel library is imported.

    Every rank picks the directory for the node it runs on, so a job whose nodes differ
    in CPU type never loads another type's machine code, and every process of a user's
    jobs with the same key shares one directory. ``NUMBA_CACHE_DIR``, when set, wins
    (a user's or a site's own choice, used as is).

    Parameters
    ----------
    env : mapping, optional
        The environment to read and update (``os.environ``, which Numba reads).

    Returns
    -------
    str or None
        The directory now in ``NUMBA_CACHE_DIR``, or None if neither variable is set.
    """
    env = os.environ if env is None else env
    root = env.get(SHARED_CACHE_ENV, "")
    if env.get("NUMBA_CACHE_DIR") or not root:
        return env.get("NUMBA_CACHE_DIR") or None
    env["NUMBA_CACHE_DIR"] = os.path.join(root, cache_key())
    if env is os.environ:
        config.reload_config()
    return env["NUMBA_CACHE_DIR"]


def _canonical(obj):
    """Text that tells cache index keys apart as Numba's ``==`` does (types by class and
    name: a type's ``repr`` can omit what its name says, e.g. ``readonly``)."""
    if isinstance(obj, (tuple, list)):
        return "(" + ",".join(_canonical(o) for o in obj) + ")"
    if isinstance(obj, numba.core.types.Type):
        return f"{type(obj).__module__}.{type(obj).__qualname__}[{obj.name}]"
    return f"{type(obj).__qualname__}[{obj}]"


class _KeyNamedCacheFile(caching.IndexDataCacheFile):
    """Numba's index and data files for one function, each data file named after a hash
    of the index key whose machine code it holds.

    Numba's own ``save`` reads the index, takes the first free number for a new entry's
    data file, writes the index, then the data. Two processes saving different
    signatures of one function at once both take ``NAME.1.nbc``; the index one of them
    writes last can then point at the other's machine code, which a later process loads
    and runs for the wrong argument types. Here a data file's name is a function of its
    key, so an index entry can only ever name its own key's code: concurrent writers of
    one key write the same name (each with ``os.replace``, atomically), and writers of
    different keys never share a file. The data is written before the index entry that
    names it. What concurrent writers can still do is drop each other's new index
    entries (the last index written wins): such a signature is compiled again by a
    later process and saved then. ``load`` takes an entry only if it has the keyed name,
    so entries written by Numba's own numbering are never trusted.
    """

    def _keyed_name(self, key):
        digest = hashlib.sha256(_canonical(key).encode()).hexdigest()[:16]
        return f"{self._index_name[:-len('.nbi')]}.{digest}.nbc"

    def save(self, key, data):
        name = self._keyed_name(key)
        self._save_data(name, data)
        overloads = self._load_index()
        if overloads.get(key) != name:
            overloads[key] = name
            self._save_index(overloads)

    def load(self, key):
        name = self._keyed_name(key)
        if self._load_index().get(key) != name:
            return None
        try:
            return self._load_data(name)
        except OSError:   # removed since the index was read
            return None


def _install_key_named_files():
    """Make every Numba cache created from now on in this process use
    :class:`_KeyNamedCacheFile`.

    Numba's ``Cache`` builds its files object from the module-level name
    ``numba.core.caching.IndexDataCacheFile``; rebinding it covers the kernels compiled
    here and also the implementations Numba compiles and caches for ``@overload(...,
    jit_options={"cache": True})`` (``_flat``, ``_prefetch``), which no decorator here
    sees. Caches of functions compiled before this import keep Numba's own files.
    """
    if caching.IndexDataCacheFile is not _KeyNamedCacheFile:
        caching.IndexDataCacheFile = _KeyNamedCacheFile


use_shared_cache()
_install_key_named_files()


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
    a name carrying :data:`STAMP`, its cached machine code in key-named data files (safe
    for processes compiling into one cache directory at once).

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
    a ``__serial`` / ``__parallel`` suffix; the Python code is the same. Their cached
    machine code goes to key-named data files, as with :func:`njit_cached`.

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
