"""Numba's compile and cache-load time, observed where it happens; kernel warm-up.

The first call of a Numba kernel in a process (per argument types) compiles it, or
loads its machine code from Numba's on-disk cache: a fraction of a second even with a
warm cache, seconds without one. :func:`watch` reports every such span to a callback
(:mod:`clusterkit.trace` books it as the ``jit`` region and takes it out of the regions
it happened in); :func:`warmup` pays it for a kernel before a job's timed loop.

Numba's event API (``numba.core.event``) announces ``numba:compiler_lock`` around every
use of its compiler lock — compiling, and loading a cached overload, which fires no
other event — and ``numba:compile`` around a real compilation. Importing Numba costs
about 0.2 s, so :func:`watch` never imports it: if Numba is not loaded yet, a one-shot
import hook registers the listeners when ``numba.core.event`` is first imported.
"""

import sys
import time

__all__ = ["watch", "warmup"]

_now = time.perf_counter_ns
_callback = None        # callback(start_ns, end_ns, compiled) of the outermost spans
_registered = False     # listeners registered with numba.core.event


def watch(callback):
    """Report every span the main thread spends in Numba's compiler to ``callback``.

    Parameters
    ----------
    callback : callable or None
        ``callback(start_ns, end_ns, compiled)`` after the outermost release of
        Numba's compiler lock (``time.perf_counter_ns`` readings); ``compiled`` is
        true if Numba compiled something in the span, false if it only loaded
        machine code from its cache (or did other compiler work without compiling).
        ``None`` stops the reports (the listeners stay registered, idle).

    Nothing is imported here: when Numba is not loaded yet, the listeners are
    registered when it is. Spans on other threads are not reported.
    """
    global _callback
    _callback = callback
    if callback is None or _registered:
        return
    event = sys.modules.get("numba.core.event")
    if event is not None:
        _register(event)
    elif not any(isinstance(f, _EventImportHook) for f in sys.meta_path):
        sys.meta_path.insert(0, _EventImportHook())


def _register(event):
    """Register the two listeners with the module ``numba.core.event`` (once)."""
    global _registered
    if _registered:
        return
    import threading
    main = threading.main_thread().ident

    class CompilerLock(event.Listener):
        """Times the outermost hold of the compiler lock (it is re-entrant)."""

        depth = start = 0
        compiled = False

        def on_start(self, ev):
            if threading.get_ident() != main:
                return
            if self.depth == 0:
                self.start, self.compiled = _now(), False
            self.depth += 1

        def on_end(self, ev):
            if threading.get_ident() != main or self.depth == 0:
                return
            self.depth -= 1
            if self.depth == 0 and _callback is not None:
                _callback(self.start, _now(), self.compiled)

    lock = CompilerLock()

    class Compile(event.Listener):
        """Marks the current span as a compilation."""

        def on_start(self, ev):
            if threading.get_ident() == main:
                lock.compiled = True

        def on_end(self, ev):
            pass

    event.register("numba:compiler_lock", lock)
    event.register("numba:compile", Compile())
    _registered = True


class _EventImportHook:
    """A ``sys.meta_path`` finder that registers the listeners right after
    ``numba.core.event`` is imported (by the finder that really finds it), then leaves."""

    def find_spec(self, name, path, target=None):
        if name != "numba.core.event":
            return None
        if self in sys.meta_path:
            sys.meta_path.remove(self)
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            spec = find(name, path, target) if find is not None else None
            if spec is not None:
                break
        else:
            return None
        loader = spec.loader
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        execute = loader.exec_module

        def exec_module(module):
            execute(module)
            _register(module)
        loader.exec_module = exec_module   # this module's loader object only
        return spec


# -- warm-up ---------------------------------------------------------------------------
def _describe(obj):
    name = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None)
    return f"{type(obj).__name__} {name}" if name else repr(obj)[:80]


def _reason(exc):
    """One line from a Numba typing error: what has no implementation, and where."""
    raw = str(exc).splitlines()
    lines = [ln.strip() for ln in raw if ln.strip()]
    head = next((ln for ln in lines if not ln.startswith(("Failed in ", "During: "))),
                type(exc).__name__)
    sig = next((ln[4:] for ln in lines if ln.startswith(">>> ")), None)
    text = f"no implementation of {sig}" if sig and head.startswith("No implementation") \
        else head.rstrip(":")
    where = [ln.rstrip(":") for ln in raw if ln.startswith('File "') and ", line " in ln]
    return f"{text} ({where[-1]})" if where else text


def warmup(kernel, *args, **kwargs):
    """Compile, or load from Numba's cache, ``kernel`` for the types of ``args``; do not
    run it.

    The first call of a Numba kernel in a process compiles it or loads its machine code
    from the on-disk cache. Call this before a timed loop, on every rank that will call
    the kernel (it communicates nothing), so the loop runs compiled code from its first
    iteration. The arguments are only typed: their values are not read or written, so
    the real arrays can be passed (their dtype, dimensions, layout and writeability
    pick the machine code, as for a call). A Numba type (``numba.float64[:, ::1]``) may
    stand for an argument.

    Parameters
    ----------
    kernel : numba dispatcher or checked kernel entry
        A function compiled with ``numba.njit`` / ``numba.jit``, or a checked entry
        that names the dispatcher it calls (``dispatch_route``, set by
        ``clusterkit.kernels._jit.dispatch_route``).
    *args, **kwargs
        Example arguments, as for a call (keywords only for a checked entry).

    Returns
    -------
    float
        Seconds it took on this rank (0 if the kernel was compiled for these types
        already). Under ``--profile`` the same time shows as the ``jit`` region.

    Raises
    ------
    TypeError
        If ``kernel`` is not a Numba-compiled function, or cannot be compiled for the
        types of ``args`` (one line: the kernel, the types and Numba's reason).
    """
    t0 = time.perf_counter()
    from numba.core import config, errors, types
    from numba.core.dispatcher import Dispatcher
    route = getattr(kernel, "dispatch_route", None)
    if callable(route):
        kernel, args = route(*args, **kwargs)
    elif kwargs:
        raise TypeError(f"warmup: keyword arguments ({', '.join(kwargs)}) are for checked "
                        f"kernel entries; give a Numba kernel's arguments by position")
    if config.DISABLE_JIT and callable(kernel):
        return 0.0   # NUMBA_DISABLE_JIT: kernels are plain Python functions
    if not isinstance(kernel, Dispatcher):
        hint = ("; warm up the @numba.njit function it calls, or call it once before the "
                "timed loop" if callable(kernel) else "")
        raise TypeError(f"warmup: kernel must be a Numba-compiled function (numba.njit), "
                        f"got {_describe(kernel)}{hint}")
    try:
        sig = tuple(a if isinstance(a, types.Type) else kernel.typeof_pyval(a) for a in args)
    except (ValueError, errors.NumbaError) as exc:
        raise TypeError(f"warmup: {kernel.__name__}: an argument has no Numba type: "
                        f"{_reason(exc)}") from None
    if sig in kernel.overloads:
        return 0.0
    try:
        kernel.compile(sig)
    except (errors.TypingError, TypeError) as exc:   # TypeError: wrong number of arguments
        shown = ", ".join(str(t) for t in sig)
        raise TypeError(f"warmup: {kernel.__name__} cannot be compiled for argument types "
                        f"({shown}): {_reason(exc)}") from None
    return time.perf_counter() - t0
