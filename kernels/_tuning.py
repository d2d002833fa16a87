"""Machine tuning constants of the kernels, in one place, each with its unit in its name.

They change speed, and results at most by round-off: ``SPELLED_OUT_TAPS_MAX`` picks
the order in which a stencil's taps are summed, and the lanes, chunks and tiles of
the reductions the order of their floating-point additions (the exact sum does not
depend on them at all). A result never depends on the blocking of the caller's
arrays or on the thread split (the tests pin that). Bounds that results rely on are
not tuning and stay beside their proofs (e.g. the exact sum's chunk headroom in
``exactsum.py``). The measurements behind these are in ``docs/performance.md``.
"""

__all__ = ["BOX_OUTPUT_ROWS_PER_PASS", "CACHE_LINE_BYTES", "CLIMATE_TILE_COLUMNS",
           "GROUP_TILE_COLUMNS", "LANE_ROWS_PER_PASS", "MOMENTS_CHUNK_ELEMENTS",
           "PERCENTILE_TILE_POINTS", "REDUCTION_CHUNK_ELEMENTS", "REDUCTION_LANES",
           "REDUCTION_TILE_COLUMNS", "ROW_AHEAD_BYTES", "ROW_SEGMENT_BYTES",
           "SINGLE_LEVEL_RETRY_CHUNKS", "SPELLED_OUT_TAPS_MAX", "STAR_OUTPUT_ROWS_PER_PASS",
           "output_rows_per_pass", "stencil_taps"]

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

#: Lanes (float64 accumulators) of the reductions' lane loops: element ``i`` of a chunk
#: goes to lane ``i % REDUCTION_LANES``. More lanes keep more independent additions in
#: flight and fill wider vector units, until they no longer fit in the registers. A
#: power of two (the lanes are added pairwise).
REDUCTION_LANES = 64
#: Rows of lanes one pass of a lane loop takes (and rows a column loop folds into its
#: accumulators per pass): more rows load and store each accumulator less often, but
#: hold more values in registers. (``reductions._rows`` spells out this many rows.)
LANE_ROWS_PER_PASS = 8
#: Elements per chunk of the exact sum and of the row sums: the per-chunk work (the
#: exponent guess, the pairwise sum of the lanes) is paid less often in larger chunks,
#: but a chunk the exact sum must read again should still be in L1/L2 cache. At most
#: ``2**12`` (the exact sum's headroom, checked in ``exactsum.py``).
REDUCTION_CHUNK_ELEMENTS = 4096
#: Elements per chunk of the moments (var, std): larger chunks merge fewer (count, mean,
#: M2) summaries; smaller ones keep a chunk that must be redone by two passes (its
#: one shifted pass could cancel) in a nearer cache.
MOMENTS_CHUNK_ELEMENTS = 16384
#: Columns per tile of the reductions over an axis that is not the last ("middle" form):
#: a tile's accumulators (up to four float64 rows: 32 KiB) stay in L1 cache while the
#: rows stream past; wider tiles take fewer passes over the start of each row.
REDUCTION_TILE_COLUMNS = 1024
#: Chunks of float32 data after which the exact sum tries its single extraction level
#: again once it did not suffice: a failed try reads the chunk again (from cache), a
#: successful one saves the second level's arithmetic.
SINGLE_LEVEL_RETRY_CHUNKS = 16

#: Longitude points per tile of a row of the climate statistics: the tile's accumulators
#: (eight float64 rows, 32 KiB each) stay in L2 cache across a chunk's time steps; wider
#: tiles set up fewer per-tile views.
CLIMATE_TILE_COLUMNS = 4096
#: Points whose time series the percentiles gather at once (a float64 buffer of this many
#: series per tile): more points read longer runs of each time step, fewer keep the
#: buffer in a nearer cache.
PERCENTILE_TILE_POINTS = 64
#: Longitude points per tile of a row of the grouped sums (``groups.py``): a run's
#: scratch sums, counts, minima and maxima (four float64 rows: 32 KiB) stay in L1 cache
#: while the run's steps stream past.
GROUP_TILE_COLUMNS = 1024


def stencil_taps(pattern, radius):
    """Taps per point of the ``pattern`` stencil of ``radius``: ``4r+1`` or ``(2r+1)**2``."""
    return 4 * radius + 1 if pattern == "star" else (2 * radius + 1) ** 2


def output_rows_per_pass(pattern, radius):
    """Output rows per pass of the ``pattern`` ("star" or "box") stencil of ``radius``."""
    if stencil_taps(pattern, radius) > SPELLED_OUT_TAPS_MAX:
        return 1
    table = STAR_OUTPUT_ROWS_PER_PASS if pattern == "star" else BOX_OUTPUT_ROWS_PER_PASS
    return table[min(radius, len(table)) - 1]
