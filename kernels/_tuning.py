"""Machine tuning constants of the kernels, in one place, each with its unit in its name.

They change speed, and results at most by round-off (``SPELLED_OUT_TAPS_MAX`` picks
the order in which a stencil's taps are summed); a result never depends on the
blocking or on the thread split (the tests pin that). The measurements behind them
are in ``docs/performance.md``.
"""

__all__ = ["BOX_OUTPUT_ROWS_PER_PASS", "CACHE_LINE_BYTES", "ROW_AHEAD_BYTES", "ROW_SEGMENT_BYTES",
           "SPELLED_OUT_TAPS_MAX", "STAR_OUTPUT_ROWS_PER_PASS", "output_rows_per_pass",
           "stencil_taps"]

#: Bytes per cache line: one prefetch hint each.
CACHE_LINE_BYTES = 64
#: The diffusion step takes its rows in segments of this many bytes, each first
#: hinting the memory streams it will read ...
ROW_SEGMENT_BYTES = 512
#: ... this many bytes ahead of the segment (running on into the next row).
ROW_AHEAD_BYTES = 6144

#: Output rows a star stencil of radius ``r`` updates in one pass over the columns,
#: at index ``r - 1`` (radii beyond the tuple: its last entry). The rows that several
#: outputs read are loaded once per pass; more rows than these need more weights and
#: row values than the vector registers hold.
STAR_OUTPUT_ROWS_PER_PASS = (4, 4, 3, 3, 2)
#: The same for box stencils.
BOX_OUTPUT_ROWS_PER_PASS = (4, 3, 2, 1)
#: Stencils of at most this many taps (weights times values) per point run a loop
#: with every tap spelled out; larger ones one pass per tap distance, one output row
#: at a time: the compile time of a spelled-out loop grows faster than its taps.
SPELLED_OUT_TAPS_MAX = 100


def stencil_taps(pattern, radius):
    """Taps per point of the ``pattern`` stencil of ``radius``: ``4r+1`` or ``(2r+1)**2``."""
    return 4 * radius + 1 if pattern == "star" else (2 * radius + 1) ** 2


def output_rows_per_pass(pattern, radius):
    """Output rows per pass of the ``pattern`` ("star" or "box") stencil of ``radius``."""
    if stencil_taps(pattern, radius) > SPELLED_OUT_TAPS_MAX:
        return 1
    table = STAR_OUTPUT_ROWS_PER_PASS if pattern == "star" else BOX_OUTPUT_ROWS_PER_PASS
    return table[min(radius, len(table)) - 1]
