"""Serial tests of clusterkit.partition (pure arithmetic, no MPI)."""
import dataclasses
import itertools
import math
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from clusterkit import partition
from clusterkit.partition import Decomposition, block_owner, block_range, block_sizes, choose_grid

PRIMES = [2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37]
EXTENT = st.one_of(st.integers(0, 40), st.sampled_from(PRIMES))
SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def divisors(n):
    return [d for d in range(1, n + 1) if n % d == 0]


def all_grids(nprocs, ndim):
    """Every ordered factorisation of nprocs into ndim positive factors (brute force)."""
    return [g for g in itertools.product(divisors(nprocs), repeat=ndim) if math.prod(g) == nprocs]


def ghost_cells(shape, dims, widths):
    """Ghost cells received per face exchange, counted rank by rank (independent of the module's formula)."""
    total = 0
    for coords in itertools.product(*(range(d) for d in dims)):
        extents = [len(np.array_split(np.arange(n), p)[c]) for n, p, c in zip(shape, dims, coords)]
        for a, (c, d) in enumerate(zip(coords, dims)):
            face = math.prod(extents[:a] + extents[a + 1:])
            total += widths[a] * face * ((c > 0) + (c < d - 1))
    return total


@st.composite
def decompositions(draw):
    """A shape of 1-4 axes and a random factorisation of 1-64 ranks over it (empty blocks allowed)."""
    shape = tuple(draw(st.lists(EXTENT, min_size=1, max_size=4)))
    remaining = draw(st.integers(1, 64))
    dims = []
    for _ in shape[:-1]:
        d = draw(st.sampled_from(divisors(remaining)))
        dims.append(d)
        remaining //= d
    return Decomposition(shape, tuple(dims) + (remaining,))


# --- 1-D block arithmetic -------------------------------------------------------------------------

@given(n=st.integers(0, 300), p=st.integers(1, 70))
@settings(max_examples=300, deadline=None)
def test_block_arithmetic_matches_numpy_array_split(n, p):
    chunks = np.array_split(np.arange(n), p)  # numpy gives the first n % p chunks one extra element
    expected = tuple(len(c) for c in chunks)
    assert block_sizes(n, p) == expected
    assert max(expected) - min(expected) <= 1
    starts = np.concatenate([[0], np.cumsum(expected)])
    for i in range(p):
        assert block_range(n, p, i) == (starts[i], starts[i + 1])
    owners = np.repeat(np.arange(p), expected)
    for g in range(n):
        assert block_owner(n, p, g) == owners[g]


def test_block_sizes_known_values():
    assert block_sizes(10, 3) == (4, 3, 3)
    assert block_sizes(11, 3) == (4, 4, 3)
    assert block_sizes(2, 4) == (1, 1, 0, 0)
    assert block_sizes(0, 2) == (0, 0)
    assert block_range(10, 3, 2) == (7, 10)
    assert block_owner(10, 3, 4) == 1
    assert block_owner(np.int64(10), np.int32(3), np.uint8(9)) == 2


# --- Decomposition ---------------------------------------------------------------------------------

@given(decompositions())
@SETTINGS
def test_blocks_tile_the_array_exactly_and_match_c_order(decomp):
    shape, dims = decomp.shape, decomp.dims
    assert decomp.nprocs == math.prod(dims) and decomp.ndim == len(shape)
    counts = np.zeros(shape, dtype=np.int32)
    label = np.full(shape, -1, dtype=np.int32)
    ranks = []
    for rank, coords, slices in decomp.blocks():
        ranks.append(rank)
        assert coords == tuple(int(c) for c in np.unravel_index(rank, dims))
        assert decomp.coords_of(rank) == coords
        assert decomp.rank_of(coords) == rank == np.ravel_multi_index(coords, dims)
        counts[slices] += 1
        label[slices] = rank
        assert decomp.local_shape(coords) == counts[slices].shape
        assert decomp.local_start(coords) == tuple(s.start for s in slices)
        assert decomp.local_slices(coords) == slices
    assert ranks == list(range(decomp.nprocs))
    assert np.all(counts == 1)  # every cell covered exactly once: exact tiling, no overlap
    for a in range(decomp.ndim):
        sizes = decomp.axis_sizes(a)
        assert decomp.axis_sizes(a - decomp.ndim) == sizes
        assert len(sizes) == dims[a] and sum(sizes) == shape[a]
        assert max(sizes) - min(sizes) <= 1
        assert list(sizes) == sorted(sizes, reverse=True)  # the larger blocks come first
        for rank, coords, _ in decomp.blocks():
            assert decomp.local_shape(coords)[a] == sizes[coords[a]]


@given(decomp=decompositions(), data=st.data())
@SETTINGS
def test_owner_and_to_global_round_trip(decomp, data):
    shape = decomp.shape
    if math.prod(shape) == 0:
        return
    label = np.full(shape, -1, dtype=np.int32)
    for rank, _, slices in decomp.blocks():
        label[slices] = rank
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    picks = [tuple(int(rng.integers(n)) for n in shape) for _ in range(20)]
    picks += [tuple(0 for _ in shape), tuple(n - 1 for n in shape)]
    for index in picks:
        rank, local = decomp.owner(index)
        assert rank == label[index]
        coords = decomp.coords_of(rank)
        assert local == tuple(g - s for g, s in zip(index, decomp.local_start(coords)))
        assert decomp.to_global(coords, local) == index
    for rank, coords, slices in decomp.blocks():  # first and last cell of every non-empty block
        extent = decomp.local_shape(coords)
        if 0 in extent:
            continue
        for local in (tuple(0 for _ in extent), tuple(n - 1 for n in extent)):
            index = decomp.to_global(coords, local)
            assert all(s.start <= g < s.stop for g, s in zip(index, slices))
            assert decomp.owner(index) == (rank, local)


def test_decomposition_normalises_and_is_frozen():
    decomp = Decomposition(np.array([5, 7]), [np.int32(2), 3])
    assert decomp.shape == (5, 7) and decomp.dims == (2, 3)
    assert all(type(x) is int for x in decomp.shape + decomp.dims)
    assert decomp == Decomposition((5, 7), (2, 3)) and hash(decomp) == hash(Decomposition((5, 7), (2, 3)))
    with pytest.raises(dataclasses.FrozenInstanceError):
        decomp.dims = (1, 6)
    assert decomp.coords_of(4) == (1, 1) and decomp.local_slices((1, 1)) == (slice(3, 5), slice(3, 5))
    assert decomp.owner((4, 6)) == (5, (1, 1))
    assert decomp.to_global((1, 2), (0, 1)) == (3, 6)


def test_auto_uses_choose_grid():
    assert Decomposition.auto((721, 1440), 4) == Decomposition((721, 1440), (2, 2))
    assert Decomposition.auto((365, 721, 1440), 4, keep=(0,)).dims == (1, 2, 2)
    assert Decomposition.auto((3,), 4, allow_empty=True).axis_sizes(0) == (1, 1, 1, 0)


# --- choose_grid -----------------------------------------------------------------------------------

def tie_break_key(grid, cost):
    return (cost, tuple(sorted(grid, reverse=True)), tuple(-d for d in grid))


@st.composite
def grid_problems(draw):
    ndim = draw(st.integers(1, 4))
    shape = tuple(draw(st.lists(EXTENT, min_size=ndim, max_size=ndim)))
    nprocs = draw(st.integers(1, 64))
    if draw(st.booleans()):
        halo = draw(st.integers(0, 2))
    else:
        halo = tuple(draw(st.lists(st.integers(0, 3), min_size=ndim, max_size=ndim)))
    keep = tuple(draw(st.lists(st.integers(-ndim, ndim - 1), max_size=2)))
    dims = None
    if draw(st.booleans()):
        dims = tuple(draw(st.sampled_from([0, 0, 1, 2, 3, 4])) for _ in range(ndim))
    return shape, nprocs, dict(dims=dims, keep=keep, halo=halo, allow_empty=draw(st.booleans()))


@given(grid_problems())
@SETTINGS
def test_choose_grid_is_optimal_against_brute_force(problem):
    shape, nprocs, kw = problem
    ndim = len(shape)
    widths = (kw["halo"],) * ndim if isinstance(kw["halo"], int) else kw["halo"]
    kept = {a % ndim for a in kw["keep"]}
    feasible = [g for g in all_grids(nprocs, ndim)
                if all(g[a] == 1 for a in kept)
                and (kw["dims"] is None or all(f in (0, d) for f, d in zip(kw["dims"], g)))
                and (kw["allow_empty"] or all(d <= max(n, 1) for d, n in zip(g, shape)))]
    if not feasible:
        with pytest.raises(ValueError, match=r"nprocs|keep"):
            choose_grid(shape, nprocs, **kw)
        return
    grid = choose_grid(shape, nprocs, **kw)
    assert grid in feasible  # product, kept axes, fixed dims and extents all respected
    costs = {g: ghost_cells(shape, g, widths) for g in feasible}
    assert costs[grid] == min(costs.values())
    assert grid == min(feasible, key=lambda g: tie_break_key(g, costs[g]))


@pytest.mark.parametrize("shape, nprocs, kw, expected", [
    ((721, 1440), 4, {}, (2, 2)),
    ((365, 721, 1440), 4, {"keep": (0,)}, (1, 2, 2)),
    ((365, 721, 1440), 4, {"keep": (-3,)}, (1, 2, 2)),
    ((1000, 10), 4, {}, (4, 1)),
    ((10, 1000), 4, {}, (1, 4)),
    ((10, 1000), 4, {"halo": (0, 1)}, (4, 1)),         # splitting a width-0 axis is free
    ((1000, 10, 10), 8, {"halo": (1, 0, 0)}, (1, 4, 2)),  # free axes only; even, then leading
    ((100, 100), 2, {}, (2, 1)),                       # tie: leading axis gets more blocks
    ((100, 100, 100), 4, {}, (2, 2, 1)),
    ((200, 100), 4, {}, (2, 2)),                       # tie with (4, 1): the more even grid wins
    ((100, 100), 4, {"halo": 0}, (2, 2)),
    ((2, 3), 6, {}, (2, 3)),
    ((3,), 4, {"allow_empty": True}, (4,)),
    ((721, 1440), 4, {"dims": (4, 0)}, (4, 1)),
    ((721, 1440), 12, {"dims": (0, 3)}, (4, 3)),
    ((721, 1440), 4, {"dims": (2, 2)}, (2, 2)),
    ((5, 5, 5, 5), 1, {}, (1, 1, 1, 1)),
    ((0, 8), 4, {}, (1, 4)),
    ((64, 64, 64, 64), 4096, {}, (8, 8, 8, 8)),
    ((4, 4, 4, 4, 4, 4), 64, {}, (2, 2, 2, 2, 2, 2)),
    ((721, 1440), 2048, {}, (32, 64)),
])
def test_choose_grid_known_cases(shape, nprocs, kw, expected):
    assert choose_grid(shape, nprocs, **kw) == expected


def test_choose_grid_accepts_numpy_integers():
    assert choose_grid(np.array([721, 1440]), np.int64(4), halo=np.int8(2), keep=np.array([0])) == (1, 4)


def test_partition_does_not_import_mpi():
    code = "import sys, clusterkit.partition; sys.exit('mpi4py' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
    assert set(partition.__all__) == {"block_sizes", "block_range", "block_owner", "choose_grid",
                                      "Decomposition"}


# --- bad input -------------------------------------------------------------------------------------

BAD_CALLS = [
    (lambda: block_sizes(-1, 2), ValueError, r"n \(number of cells\) must be >= 0, got -1"),
    (lambda: block_sizes(3, 0), ValueError, r"p \(number of blocks\) must be >= 1, got 0"),
    (lambda: block_sizes(3.0, 2), TypeError, r"n must be an integer, got float"),
    (lambda: block_sizes(True, 2), TypeError, r"n must be an integer, not a bool"),
    (lambda: block_sizes(3, np.float64(2)), TypeError, r"p must be an integer"),
    (lambda: block_range(10, 3, 3), ValueError, r"0 <= i < p=3, got 3"),
    (lambda: block_range(10, 3, -1), ValueError, r"0 <= i < p=3, got -1"),
    (lambda: block_range(10, 3, "0"), TypeError, r"i must be an integer, got str"),
    (lambda: block_owner(10, 3, 10), ValueError, r"0 <= g < n=10, got 10"),
    (lambda: block_owner(10, 3, -1), ValueError, r"0 <= g < n=10, got -1"),
    (lambda: block_owner(0, 3, 0), ValueError, r"0 <= g < n=0"),
    (lambda: choose_grid((), 4), ValueError, r"shape must have at least one axis"),
    (lambda: choose_grid((-1, 4), 4), ValueError, r"shape entries must be >= 0"),
    (lambda: choose_grid(5, 4), TypeError, r"shape must be a sequence of integers, got int"),
    (lambda: choose_grid("ab", 4), TypeError, r"shape must be a sequence of integers, got str"),
    (lambda: choose_grid((4.0, 2), 4), TypeError, r"shape\[0\] must be an integer, got float"),
    (lambda: choose_grid((4, 2), 0), ValueError, r"nprocs must be >= 1, got 0"),
    (lambda: choose_grid((4, 2), 2.0), TypeError, r"nprocs must be an integer"),
    (lambda: choose_grid((4, 2), 2, dims=(0,)), ValueError, r"dims must have 2 entries"),
    (lambda: choose_grid((4, 2), 2, dims=(-1, 0)), ValueError, r"dims entries must be >= 0"),
    (lambda: choose_grid((40, 20), 4, dims=(3, 0)), ValueError,
     r"shape=\(40, 20\) on nprocs=4: the fixed dims \(3, 0\).*multiply to 3, which does not divide"),
    (lambda: choose_grid((40, 20), 8, dims=(2, 2)), ValueError, r"fixes every axis but multiplies to 4"),
    (lambda: choose_grid((4, 100), 8, dims=(8, 0)), ValueError,
     r"fixes axis 0 to 8 blocks but it has only 4 cells .*allow_empty=True"),
    (lambda: choose_grid((4, 100), 4, keep=(2,)), ValueError, r"keep axis 2 is out of range.*-2\.\.1"),
    (lambda: choose_grid((4, 100), 4, keep=0), TypeError, r"keep must be a sequence of integers"),
    (lambda: choose_grid((4, 100), 4, keep=(0.0,)), TypeError, r"keep\[0\] must be an integer"),
    (lambda: choose_grid((4, 100), 4, keep=(-2,), dims=(2, 0)), ValueError,
     r"axis 0 is in keep .* dims fixes it to 2 blocks"),
    (lambda: choose_grid((4, 100), 4, halo=-1), ValueError, r"halo width must be >= 0, got -1"),
    (lambda: choose_grid((4, 100), 4, halo=(1,)), ValueError, r"halo must have 2 entries"),
    (lambda: choose_grid((4, 100), 4, halo=(1, -1)), ValueError, r"halo entries must be >= 0"),
    (lambda: choose_grid((4, 100), 4, halo=1.5), TypeError, r"halo must be an integer"),
    (lambda: choose_grid((3,), 4), ValueError,
     r"no process grid for shape=\(3,\) on nprocs=4: .*more blocks than cells.*allow_empty=True"),
    (lambda: choose_grid((5, 5), 7), ValueError, r"no process grid for shape=\(5, 5\) on nprocs=7"),
    (lambda: choose_grid((365, 4, 4), 32, keep=(0,)), ValueError, r"free axes \(1, 2\) .*at most 16"),
    (lambda: Decomposition((4, 4), (0, 1)), ValueError, r"dims entries must be >= 1"),
    (lambda: Decomposition((4, 4), (1,)), ValueError, r"dims must have 2 entries \(one per axis\), got 1"),
    (lambda: Decomposition((4, -4), (1, 1)), ValueError, r"shape entries must be >= 0"),
    (lambda: Decomposition((), ()), ValueError, r"shape must have at least one axis"),
    (lambda: Decomposition((4, 4), (2.0, 1)), TypeError, r"dims\[0\] must be an integer, got float"),
    (lambda: Decomposition((True, 4), (1, 1)), TypeError, r"shape\[0\] must be an integer, not a bool"),
    (lambda: Decomposition((4, 4), 2), TypeError, r"dims must be a sequence of integers"),
]

D = Decomposition((10, 10), (2, 2))
BAD_CALLS += [
    (lambda: D.coords_of(4), ValueError, r"0 <= rank < nprocs=4, got 4"),
    (lambda: D.coords_of(-1), ValueError, r"0 <= rank < nprocs=4, got -1"),
    (lambda: D.coords_of(1.0), TypeError, r"rank must be an integer"),
    (lambda: D.rank_of((2, 0)), ValueError, r"coords \(2, 0\) out of range for dims \(2, 2\)"),
    (lambda: D.rank_of((-1, 0)), ValueError, r"coords \(-1, 0\) out of range"),
    (lambda: D.rank_of((0,)), ValueError, r"coords must have 2 entries"),
    (lambda: D.rank_of(0), TypeError, r"coords must be a sequence of integers"),
    (lambda: D.local_shape((0, 2)), ValueError, r"coords \(0, 2\) out of range"),
    (lambda: D.local_start((0, 0, 0)), ValueError, r"coords must have 2 entries"),
    (lambda: D.local_slices((0, 5)), ValueError, r"coords \(0, 5\) out of range"),
    (lambda: D.owner((10, 0)), ValueError, r"index \(10, 0\) out of range for shape \(10, 10\)"),
    (lambda: D.owner((0, -1)), ValueError, r"index \(0, -1\) out of range"),
    (lambda: D.owner((0,)), ValueError, r"index must have 2 entries"),
    (lambda: D.owner((0, 0.5)), TypeError, r"index\[1\] must be an integer"),
    (lambda: D.to_global((0, 0), (5, 0)), ValueError,
     r"local_index \(5, 0\) out of range for the block at coords \(0, 0\) with local shape \(5, 5\)"),
    (lambda: D.to_global((0, 0), (0, -1)), ValueError, r"local_index \(0, -1\) out of range"),
    (lambda: D.to_global((2, 0), (0, 0)), ValueError, r"coords \(2, 0\) out of range"),
    (lambda: D.axis_sizes(2), ValueError, r"-2 <= axis < 2, got 2"),
    (lambda: D.axis_sizes(-3), ValueError, r"-2 <= axis < 2, got -3"),
    (lambda: D.axis_sizes(None), TypeError, r"axis must be an integer"),
    (lambda: Decomposition.auto((3,), 4), ValueError, r"no process grid for shape=\(3,\) on nprocs=4"),
]


@pytest.mark.parametrize("call, error, message", BAD_CALLS)
def test_bad_input_is_rejected_with_a_clear_message(call, error, message):
    with pytest.raises(error, match=message):
        call()
