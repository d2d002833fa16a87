"""MPI tests of Grid + halo exchange against ghost cells computed from the global array."""

import itertools

import numpy as np
import pytest

from clusterkit.grid import Grid
from clusterkit.testing import assert_all, assert_allclose_all, assert_equal_all

pytestmark = pytest.mark.mpi

CASES = [  # shape, periodic, halo, corners
    ((13,), (True,), 1, True), ((13,), (False,), 3, True), ((2,), (True,), 1, True),
    ((7, 5), (False, True), 1, True), ((7, 5), (False, True), 1, False),
    ((3, 11), (True, True), 2, True), ((11, 13), (False, False), (2, 0), True),
    ((5, 3), (True, False), (0, 1), True), ((4, 4), (True, True), 3, True),
    ((5, 5, 4), (False, True, True), (1, 0, 1), False),
    ((6, 7, 5), (True, True, True), 1, True),
    ((3, 4, 5, 2), (False, True, False, True), (1, 1, 0, 1), True),
]


def expected_ghosted(G, grid, corners):
    """The ghosted block computed from the global array: wrap on periodic axes;
    NaN where nothing is exchanged (outside a non-periodic edge, corners if not asked)."""
    idx = [np.arange(s.start - w, s.stop + w) for s, w in zip(grid.local_slices, grid.halo)]
    exp = np.full([len(i) for i in idx], np.nan)
    for pos in itertools.product(*[range(len(i)) for i in idx]):
        g = [i[p] for i, p in zip(idx, pos)]
        outside = [not 0 <= gi < n for gi, n in zip(g, G.shape)]
        if any(o and not p for o, p in zip(outside, grid.periodic)):
            continue
        ghost_axes = sum(p < w or p >= len(i) - w for p, w, i in zip(pos, grid.halo, idx))
        if ghost_axes > 1 and not corners:
            continue
        exp[pos] = G[tuple(gi % n for gi, n in zip(g, G.shape))]
    return exp


def make_grid(comm, shape, periodic, halo, corners):
    """Grid, or None (after checking every rank agrees) when the decomposition is impossible."""
    try:
        return Grid(shape, periodic=periodic, halo=halo, corners=corners, comm=comm)
    except ValueError as exc:
        msgs = comm.allgather(str(exc))
        assert_all(len(set(msgs)) == 1, f"ranks raised different errors: {msgs}", comm)
        assert_all("wider than the local block" in msgs[0] or "no process grid" in msgs[0],
                   msgs[0], comm)
        return None


@pytest.mark.parametrize("shape, periodic, halo, corners", CASES)
@pytest.mark.parametrize("dtype", ["f8", "f4", "i8"])
def test_exchange_fills_exactly_the_expected_ghosts(comm, shape, periodic, halo, corners, dtype):
    grid = make_grid(comm, shape, periodic, halo, corners)
    if grid is None:
        pytest.skip("decomposition impossible on this many ranks (checked symmetric)")
    G = np.arange(1, np.prod(shape) + 1).reshape(shape)
    u = grid.empty(dtype)
    sentinel = -7
    u.ghosted[...] = sentinel
    u.interior[...] = G[grid.local_slices]
    u.exchange_halos()
    exp = expected_ghosted(G.astype(float), grid, corners)
    got = np.where(np.isnan(exp), np.nan, u.ghosted.astype(float))
    untouched = np.all(u.ghosted[np.isnan(exp)] == sentinel)
    assert_equal_all(got, exp, comm)
    assert_all(untouched, "exchange wrote ghost cells it should not have", comm)


def test_start_finish_overlaps_and_requests_are_reused(comm):
    """A periodic 5-point diffusion, run with start/interior/finish/edges, matches np.roll."""
    shape = (9, 14)
    grid = make_grid(comm, shape, (True, True), 1, False)
    if grid is None:
        pytest.skip("too many ranks for this grid")
    rng = np.random.default_rng(5)
    G = rng.random(shape)
    u = grid.scatter(G if comm.Get_rank() == 0 else None)
    v = grid.zeros()
    for _ in range(4):
        u.start_halos()
        # interior work that does not need ghosts could run here
        u.finish_halos()
        g = u.ghosted
        v.interior[...] = 0.1 * (g[:-2, 1:-1] + g[2:, 1:-1] + g[1:-1, :-2] + g[1:-1, 2:]) \
            + 0.6 * g[1:-1, 1:-1]
        u, v = v, u
        G = 0.1 * (np.roll(G, 1, 0) + np.roll(G, -1, 0) + np.roll(G, 1, 1)
                   + np.roll(G, -1, 1)) + 0.6 * G
    assert_allclose_all(u.interior, G[grid.local_slices], rtol=1e-13, comm=comm)


def test_finish_without_start_and_double_start_raise(comm):
    grid = Grid((comm.Get_size() * 2,), periodic=True, halo=1, comm=comm)
    u = grid.zeros()
    with pytest.raises(RuntimeError):
        u.finish_halos()
    u.start_halos()
    with pytest.raises(RuntimeError):
        u.start_halos()
    u.finish_halos()


def test_halo_wider_than_a_block_raises_on_every_rank(comm):
    n = comm.Get_size()
    with pytest.raises(ValueError, match="wider than the local block"):
        Grid((n * 2 + 1,), halo=3, comm=comm) if n > 1 else Grid((2,), halo=3, comm=comm)


def test_fewer_cells_than_ranks_raises_everywhere(comm):
    if comm.Get_size() == 1:
        pytest.skip("needs 2+ ranks")
    with pytest.raises(ValueError, match="no process grid"):
        Grid((1, 1), comm=comm)


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(shape=(4, 4), halo=-1), ValueError, "halo must be a non-negative int"),
    (dict(shape=(4, 4), halo=(1, 1, 1)), ValueError, "halo must be a non-negative int"),
    (dict(shape=(4, 4), periodic=(True,)), ValueError, "periodic must be a bool or 2 bools"),
    (dict(shape=(0, 4)), ValueError, "positive extents"),
    (dict(shape="ab"), TypeError, "shape must be a sequence of integers"),
])
def test_bad_grid_arguments(comm, kwargs, exc, match):
    shape = kwargs.pop("shape")
    with pytest.raises(exc, match=match):
        Grid(shape, comm=comm, **kwargs)


@pytest.mark.parametrize("dtype", ["O", "U3", ">f8", "M8[s]"])
def test_unsupported_dtype_is_a_type_error(comm, dtype):
    grid = Grid((comm.Get_size() * 2,), comm=comm)
    with pytest.raises(TypeError, match="unsupported dtype"):
        grid.zeros(dtype)
