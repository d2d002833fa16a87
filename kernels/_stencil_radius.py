"""The star and box stencil loops of one radius, generated with every tap spelled out.

PRK's C code fixes the radius at compile time, so its compiler unrolls the taps.
Numba has no such template; :func:`rows_source` therefore writes the Python source
of the loop for one pattern and radius: it updates
:func:`~clusterkit.kernels._tuning.output_rows_per_pass` output rows per pass over
the columns ("unroll and jam": the rows several outputs read are loaded once), every
tap one term with its weight in a local. :func:`stencil_rows` compiles that source
where the pattern and the radius are constants of the calling code (an
``overload`` on their literal types); the caller's Numba cache holds the machine
code, generated source having no file of its own. Without JIT the same source runs
as Python. Stencils of more than ``SPELLED_OUT_TAPS_MAX`` taps (star r > 24, box
r > 4) take a loop with one pass per tap distance instead: spelled out, their
compile time would grow faster than their taps.

Every output point is computed by the same statements in the same order, in the
multi-row pass and in the one-row loop that takes the last rows of a block, so
results do not depend on the blocking or on the thread split.
"""

import functools

from numba import types
from numba.core.errors import TypingError
from numba.extending import overload

from ._tuning import SPELLED_OUT_TAPS_MAX, output_rows_per_pass, stencil_taps

__all__ = ["rows_loop", "rows_source", "stencil_rows"]


def _w(a, b):
    """Name of the local holding weight ``w[a, b]`` (loaded once, before the loops)."""
    return f"w{a}_{b}"


def _point(pattern, r, q):
    """Statements leaving in ``s<q>`` the stencil of output row ``q`` at column ``j``."""
    def v(di, dj):
        return f"v{q + r + di}[j + {r + dj}]"

    s = f"s{q}"
    if pattern == "star":  # the centre, then per distance (west + east) + (north + south)
        return [f"{s} = {_w(r, r)} * {v(0, 0)}"] + [
            f"{s} = {s} + (({_w(r, r - k)} * {v(0, -k)} + {_w(r, r + k)} * {v(0, k)})"
            f" + ({_w(r - k, r)} * {v(-k, 0)} + {_w(r + k, r)} * {v(k, 0)}))"
            for k in range(1, r + 1)]
    lines = []
    for di in range(-r, r + 1):  # rows north to south, each from its centre outwards
        acc = s if di == -r else f"t{q}"
        lines.append(f"{acc} = {_w(r + di, r)} * {v(di, 0)}")
        lines += [f"{acc} = {acc} + ({_w(r + di, r - k)} * {v(di, -k)}"
                  f" + {_w(r + di, r + k)} * {v(di, k)})" for k in range(1, r + 1)]
        if di > -r:
            lines.append(f"{s} = {s} + {acc}")
    return lines


def _weights_used(pattern, r):
    if pattern == "star":
        return sorted({(r, r)} | {(r, r + d) for d in range(-r, r + 1)}
                      | {(r + d, r) for d in range(-r, r + 1)})
    return [(a, b) for a in range(2 * r + 1) for b in range(2 * r + 1)]


def _pass(lines, pad, nrows, r, pattern):
    """The views and the column loop updating ``nrows`` output rows from row ``i``."""
    lines += [f"{pad}o{q} = out[i + {q}, {r}:hi]" for q in range(nrows)]
    lines += [f"{pad}v{d + r} = a[i + {d}]" for d in range(-r, nrows + r)]  # whole rows
    lines.append(f"{pad}for j in range(m):")
    for q in range(nrows):
        lines += [f"{pad}    {line}" for line in _point(pattern, r, q)]
    # the stores last: every load of the pass comes before them, so each value
    # several output rows read is loaded once
    lines += [f"{pad}    o{q}[j] += s{q}" for q in range(nrows)]


def rows_source(pattern, r, block=None):
    """Python source of the loop of the ``pattern`` stencil of radius ``r``.

    The function defined, ``<pattern>_rows_r<r>(a, w, out, i, rows, pattern, radius)``,
    adds the stencil of ``a`` to ``out[i:i+rows, r:-r]`` (``rows <= block``) with every
    tap spelled out. Per point, star: the centre, then for each distance ``k = 1..r``
    ``(west + east) + (north + south)``; box: each row of taps summed from its centre
    column outwards, the rows summed from north to south.

    Parameters
    ----------
    pattern : {"star", "box"}
    r : int
        Radius ``>= 1``.
    block : int, optional
        Output rows per pass (default: the tuned value for ``pattern`` and ``r``).

    Returns
    -------
    str
        The source.
    """
    block = block or output_rows_per_pass(pattern, r)
    lines = [f"def {pattern}_rows_r{r}(a, w, out, i, rows, pattern, radius):",
             f"    hi = a.shape[1] - {r}",
             f"    m = hi - {r}"]
    lines += [f"    {_w(a, b)} = w[{a}, {b}]" for a, b in _weights_used(pattern, r)]
    if block > 1:
        lines.append(f"    if rows == {block}:")
        _pass(lines, " " * 8, block, r, pattern)
        lines.append("        return")
    lines.append("    for i in range(i, i + rows):")
    _pass(lines, " " * 8, 1, r, pattern)
    return "\n".join(lines) + "\n"


def _star_per_distance(a, w, out, i, rows, pattern, radius):
    """Star stencils of more than ``SPELLED_OUT_TAPS_MAX`` taps: per output row, the
    centre and then one pass per tap distance ``k``, (west + east) + (north + south)."""
    r = radius
    hi = a.shape[1] - r
    m = hi - r
    for i in range(i, i + rows):
        o = out[i, r:hi]
        wc, c = w[r, r], a[i, r:hi]
        for j in range(m):
            o[j] += wc * c[j]
        for k in range(1, r + 1):
            ww, we, wn, ws = w[r, r - k], w[r, r + k], w[r - k, r], w[r + k, r]
            vw, ve = a[i, r - k:hi - k], a[i, r + k:hi + k]
            vn, vs = a[i - k, r:hi], a[i + k, r:hi]
            for j in range(m):
                o[j] += (ww * vw[j] + we * ve[j]) + (wn * vn[j] + ws * vs[j])


def _box_per_distance(a, w, out, i, rows, pattern, radius):
    """Box stencils of more than ``SPELLED_OUT_TAPS_MAX`` taps: per output row and row
    of taps, the centre column and then one pass per distance ``k``, west + east."""
    r = radius
    hi = a.shape[1] - r
    m = hi - r
    for i in range(i, i + rows):
        o = out[i, r:hi]
        for di in range(-r, r + 1):
            wc, c = w[r + di, r], a[i + di, r:hi]
            for j in range(m):
                o[j] += wc * c[j]
            for k in range(1, r + 1):
                ww, we = w[r + di, r - k], w[r + di, r + k]
                vw, ve = a[i + di, r - k:hi - k], a[i + di, r + k:hi + k]
                for j in range(m):
                    o[j] += ww * vw[j] + we * ve[j]


@functools.lru_cache(maxsize=None)
def rows_loop(pattern, r):
    """The loop of the ``pattern`` stencil of radius ``r``, as a Python function: the one
    :func:`rows_source` writes, or for more than ``SPELLED_OUT_TAPS_MAX`` taps the
    per-distance loop."""
    if stencil_taps(pattern, r) > SPELLED_OUT_TAPS_MAX:
        return _star_per_distance if pattern == "star" else _box_per_distance
    namespace = {}
    exec(compile(rows_source(pattern, r), f"<clusterkit {pattern} stencil, radius {r}>",
                 "exec"), namespace)
    return namespace[f"{pattern}_rows_r{r}"]


def stencil_rows(a, w, out, i, rows, pattern, radius):
    """``out[i:i+rows, r:-r] +=`` the ``pattern`` stencil of ``radius`` of ``a``.

    In compiled code ``pattern`` and ``radius`` must be constants (literals); the loop
    of :func:`rows_loop` for them is compiled into the caller.
    """
    rows_loop(pattern, radius)(a, w, out, i, rows, pattern, radius)


@overload(stencil_rows)
def _stencil_rows_jit(a, w, out, i, rows, pattern, radius):
    if not (isinstance(pattern, types.StringLiteral) and pattern.literal_value in ("star", "box")
            and isinstance(radius, types.IntegerLiteral) and radius.literal_value >= 1):
        raise TypingError("stencil_rows: the pattern ('star' or 'box') and the radius (>= 1) "
                          "must be constants")
    return rows_loop(pattern.literal_value, radius.literal_value)
