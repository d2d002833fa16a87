"""Star and box stencils of one fixed radius on two or three output rows per pass, generated.

Radius 1 and 2 have hand-written four-row loops (``_stencil_rows``). For star radii
3-6 and box radii 2-3 the taps are spelled out per radius, as PRK's C code does at
compile time: :func:`star_rows_source` and :func:`box_rows_source` write the Python
source of a loop that updates up to :func:`star_block_rows` / :func:`box_block_rows`
output rows per pass, every tap one term of one expression per point, with the rows
that several outputs read loaded once. ``star_rows_radius`` / ``box_rows_radius``
compile that source for a radius known to Numba as a constant (an
``IntegerLiteral``: ``star_stencil``'s and ``box_stencil``'s loops call them in one
branch per radius); the caller's cache holds the machine code, so the source is
generated again only when the caller is compiled (every radius's loop then: 2-4 s
more for a cold cache). Compiling those loops once per radius instead, with
``numba.literally``, made every call go through Numba's slow dispatch path (a
2048x4096 star r=2 step 6 -> 36 ms) and was dropped. Without JIT the same source
runs as Python.

Measured on one core, 2048x4096 float64, against the per-distance loops (one pass
per tap distance), with the next block's rows hinted (medians): star r=3 10.5-10.9 ->
6.7-6.9 ms, r=4 12.1-12.4 -> 7.6-7.7 ms (three rows per pass; two: r=3 8.0 ms),
r=5 14.4 -> 10.0 ms, r=6 15.0 -> 11.3 ms (two rows; three were 1.6-1.8x slower than
the per-distance loop); box r=2 17.9 -> 12.0 ms (three rows), r=3 33.0 -> 22.3 ms (two
rows); float32 32-39 % faster at star r=3, 4 and box r=2. More rows per pass need
more weights and row values than the 32 vector registers hold. Star r=7, 8 gained
13-20 % with two rows and box r=4 36 % with one, not worth compiling their branches
into every stencil call site: radii beyond keep the per-distance loops.

Every output point is computed by the same expression, in the same order, in the
multi-row and in the one-row loop (the last block's ``rows`` may be fewer), so
results do not depend on the blocking or the thread split.
"""

import functools

import numba
from numba import types
from numba.core.errors import TypingError
from numba.extending import overload

__all__ = ["MAX_BOX_RADIUS", "MAX_STAR_RADIUS", "box_block_rows", "box_rows_radius",
           "box_rows_source", "star_block_rows", "star_rows_radius", "star_rows_source"]

MAX_STAR_RADIUS = 6  # star radii 3 .. this have generated loops
MAX_BOX_RADIUS = 3  # box radii 2 .. this have generated loops


@numba.njit(inline="always")
def star_block_rows(r):
    """Output rows per pass of the generated star loop of radius ``r``."""
    return 3 if r <= 4 else 2


@numba.njit(inline="always")
def box_block_rows(r):
    """Output rows per pass of the generated box loop of radius ``r``."""
    return 3 if r <= 2 else 2


def _star_point(r, c, w, e):
    """Expression of one star point: ``c(d)`` names the centre-column value ``d`` rows
    below, ``w(k)`` / ``e(k)`` the values ``k`` columns west / east in the same row."""
    expr = f"wc * {c(0)}"
    for k in range(1, r + 1):
        expr = (f"({expr} + ((ww{k} * {w(k)} + we{k} * {e(k)})"
                f" + (wn{k} * {c(-k)} + ws{k} * {c(k)})))")
    return expr


def _box_point(r, v):
    """Expression of one box point: ``v(di, dj)`` names the value at that offset."""
    rows = []
    for di in range(-r, r + 1):
        t = f"w{di + r}_{r} * {v(di, 0)}"
        for k in range(1, r + 1):
            t = f"({t} + (w{di + r}_{r - k} * {v(di, -k)} + w{di + r}_{r + k} * {v(di, k)}))"
        rows.append(t)
    expr = rows[0]
    for t in rows[1:]:
        expr = f"({expr} + {t})"
    return expr


def _loop(lines, indent, nrows, r, point):
    """Append the views and the column loop for ``nrows`` output rows from row ``i``."""
    pad = " " * indent
    for q in range(nrows):
        lines.append(f"{pad}o{q} = out[i + {q}, {r}:hi]")
    for d in range(-r, nrows + r):
        lines.append(f"{pad}v{d + r} = a[i + {d}]")  # whole rows: one base per row
    lines.append(f"{pad}for j in range(m):")
    for q in range(nrows):
        lines.append(f"{pad}    o{q}[j] += {point(q)}")


def _source(name, r, block, head, point):
    lines = [f"def {name}(a, w, out, i, rows, radius):",
             f"    hi = a.shape[1] - {r}",
             f"    m = hi - {r}"] + [f"    {h}" for h in head]
    lines.append(f"    if rows == {block}:")
    _loop(lines, 8, block, r, point)
    lines.append("        return")
    lines.append("    for i in range(i, i + rows):")
    _loop(lines, 8, 1, r, point)
    return "\n".join(lines) + "\n"


def star_rows_source(r, block=None):
    """Python source of ``star_rows_r<r>(a, w, out, i, rows, radius)``: ``out[i:i+rows] +=`` the
    star stencil of radius ``r`` (``rows <= block``, by default
    :func:`star_block_rows`), in the order of :func:`clusterkit.kernels.star_stencil`'s
    four-row loops."""
    block = block or star_block_rows(r)
    head = [f"wc = w[{r}, {r}]"] + [
        f"ww{k}, we{k}, wn{k}, ws{k} = w[{r}, {r - k}], w[{r}, {r + k}], w[{r - k}, {r}], "
        f"w[{r + k}, {r}]" for k in range(1, r + 1)]

    def point(q):
        return _star_point(r, lambda d: f"v{q + r + d}[j + {r}]",
                           lambda k: f"v{q + r}[j + {r - k}]", lambda k: f"v{q + r}[j + {r + k}]")
    return _source(f"star_rows_r{r}", r, block, head, point)


def box_rows_source(r, block=None):
    """Python source of ``box_rows_r<r>(a, w, out, i, rows, radius)``: ``out[i:i+rows] +=`` the
    box stencil of radius ``r`` (``rows <= block``, by default :func:`box_block_rows`):
    per point, each row of taps summed from the centre column outwards, the rows summed
    from north to south."""
    block = block or box_block_rows(r)
    head = [f"w{di}_{dj} = w[{di}, {dj}]" for di in range(2 * r + 1) for dj in range(2 * r + 1)]

    def point(q):
        return _box_point(r, lambda di, dj: f"v{q + r + di}[j + {r + dj}]")
    return _source(f"box_rows_r{r}", r, block, head, point)


@functools.lru_cache(maxsize=None)
def _generated(kind, r):
    """The generated loop of ``kind`` ('star' or 'box') for radius ``r``, as Python."""
    src = star_rows_source(r) if kind == "star" else box_rows_source(r)
    namespace = {}
    exec(compile(src, f"<clusterkit generated {kind} stencil, radius {r}>", "exec"), namespace)
    return namespace[f"{kind}_rows_r{r}"]


def star_rows_radius(a, w, out, i, rows, radius):
    """``out[i:i+rows] +=`` the star stencil of ``radius`` (a constant in compiled code)."""
    _generated("star", radius)(a, w, out, i, rows, radius)


def box_rows_radius(a, w, out, i, rows, radius):
    """``out[i:i+rows] +=`` the box stencil of ``radius`` (a constant in compiled code)."""
    _generated("box", radius)(a, w, out, i, rows, radius)


def _outside(a, w, out, i, rows, radius):
    raise ValueError("no generated stencil loop for this radius")


def _overload_for(kind, low, high):
    def typer(a, w, out, i, rows, radius):
        if not isinstance(radius, types.IntegerLiteral):
            raise TypingError(f"{kind}_rows_radius: the radius must be a constant")
        r = radius.literal_value
        return _generated(kind, r) if low <= r <= high else _outside
    return typer


# (no on-disk cache of their own: generated source has no file; their callers' cache
# entries hold the compiled code)
overload(star_rows_radius)(_overload_for("star", 3, MAX_STAR_RADIUS))
overload(box_rows_radius)(_overload_for("box", 2, MAX_BOX_RADIUS))
