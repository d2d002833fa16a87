"""MPI tests of DistArray arithmetic: operators, ufuncs and np.where block by block, equal to
NumPy on the gathered arrays at 1-4 ranks, with scalars, global NumPy arrays and
reductions broadcast back; ghost cells untouched; mismatched grids are the same
InputError on every rank."""

import numpy as np
import pytest

import clusterkit as ck
from clusterkit.testing import assert_all, assert_equal_all
from clusterkit.testing import assert_input_error_everywhere as refused

from test_darray_mpi import distribute, global_array

pytestmark = pytest.mark.mpi

SHAPES = [(13,), (7, 5), (5, 3, 7), (3, 11, 2)]


def grid_empty(u):
    return u.grid.empty(u.dtype)


def _gathered(u):
    return u.allgather()


@pytest.mark.parametrize("shape", SHAPES)
def test_operators_and_ufuncs_equal_numpy(comm, shape):
    A = global_array(shape, "f8", seed=1)
    B = global_array(shape, "f4", seed=2)
    a, b = distribute(comm, A), distribute(comm, B)
    cases = {
        "a + b": (a + b, A + B), "a - 2": (a - 2, A - 2), "3 * a": (3 * a, 3 * A),
        "a / b": (a / b, A / B), "b ** 2": (b ** 2, B ** 2), "-a": (-a, -A),
        "abs(a - 10)": (abs(a - 10), abs(A - 10)), "a > b": (a > b, A > B),
        "a == a": (a == a, A == A), "np.sqrt(b)": (np.sqrt(b), np.sqrt(B)),
        "np.maximum(a, 10)": (np.maximum(a, 10), np.maximum(A, 10)),
        "np.where(a > 10, a, 0)": (np.where(a > 10, a, 0), np.where(A > 10, A, 0)),
        "np.where(b > 10, b, np.float32(0))":
            (np.where(b > 10, b, np.float32(0)), np.where(B > 10, B, np.float32(0))),
        "b * np.float32(2)": (b * np.float32(2), B * np.float32(2)),
        "b + 1.5": (b + 1.5, B + 1.5),
    }
    for text, (got, want) in cases.items():
        assert_all(got.grid in (a.grid, b.grid) and got.dtype == want.dtype,
                   f"{text}: dtype {got.dtype} vs {want.dtype}", comm)
        assert_equal_all(_gathered(got), want, comm, err_msg=text)
    mod, rem = np.divmod(a, 3)
    assert_equal_all(_gathered(mod), np.divmod(A, 3)[0], comm)
    assert_equal_all(_gathered(rem), np.divmod(A, 3)[1], comm)


def test_broadcasting_reductions_and_global_arrays(comm):
    nt, ny, nx = 6, 7, 5
    T = global_array((nt, ny, nx), "f8", seed=3)
    for kw in ({}, {"keep": (0,)}, {"dims": (1, 1, comm.Get_size())}):
        t = distribute(comm, T, **kw)
        for axis in (0, 2, (1, 2)):                   # reduced over kept or split axes
            got = _gathered(t - t.mean(axis=axis))
            want = T - T.mean(axis=axis, keepdims=True)
            assert_all(np.allclose(got, want, rtol=0, atol=1e-12), f"{kw} {axis}", comm)
        w = np.cos(np.deg2rad(np.linspace(-60, 60, ny)))[:, None]   # (lat, 1): global
        assert_equal_all(_gathered(t * w), T * w, comm)
        assert_equal_all(_gathered(t + T[0]), T + T[0], comm)     # (lat, lon)
        same = t
        t -= t.mean(axis=0)                          # in place: the same array
        assert_all(t is same, "in-place operator keeps the array", comm)
        assert_all(np.allclose(_gathered(t), T - T.mean(axis=0), rtol=0, atol=1e-12),
                   "in place", comm)


def test_ghost_cells_are_not_touched_and_bool_results_exchange_halos(comm):
    ny, nx = 9, 8
    G = global_array((ny, nx), "f8", seed=4)
    u = distribute(comm, G, halo=1, periodic=(False, True))
    u.ghosted[...] = -7.0
    u.interior[...] = G[u.grid.local_slices]
    u += 1
    np.sqrt(u, out=(u,))
    ghosts = np.ones(u.ghosted.shape, bool)
    ghosts[u.grid.interior_index] = False
    assert_all(np.all(u.ghosted[ghosts] == -7.0), "ghost cells changed", comm)
    fresh = u * 2                    # a new array: ghosts 0, not garbage, until exchanged
    assert_all(np.all(fresh.ghosted[ghosts] == 0) and np.all(grid_empty(u).ghosted[ghosts] == 0),
               "ghost cells of a new array are 0", comm)
    fresh.fill_ghosts(np.inf)
    assert_all(np.all(fresh.ghosted[ghosts] == np.inf) and
               np.array_equal(fresh.interior, u.interior * 2), "fill_ghosts", comm)
    mask = u > 3.3
    mask.exchange_halos()
    M = np.pad(np.sqrt(G + 1) > 3.3, ((1, 1), (1, 1)), mode="wrap")  # columns periodic
    (r0, r1), (c0, c1) = [(s.start, s.stop) for s in u.grid.local_slices]
    window = M[r0:r1 + 2, c0:c1 + 2]
    rows = [r for r in range(window.shape[0]) if 0 <= r0 - 1 + r < ny]  # not beyond the edge
    assert_all(mask.dtype == np.bool_ and window.any() and not window.all(), "mask", comm)
    assert_equal_all(mask.ghosted[rows], window[rows], comm)


def test_mismatched_grids_are_one_error_on_every_rank(comm):
    n = comm.Get_size()
    A = global_array((8, 6), "f8", seed=5)
    a = distribute(comm, A)
    other = ck.Grid((8, 6), comm=comm, dims=(1, n)).scatter(A if comm.Get_rank() == 0
                                                             else None)
    if a.grid.dims != other.grid.dims:
        refused(comm, lambda: a + other, "DistArrays on different grids")
    b = distribute(comm, global_array((8, 7), "f8", seed=6))
    refused(comm, lambda: a + b, "DistArrays on different grids: shape (8, 7)")
    refused(comm, lambda: a + np.ones(4), "does not broadcast against a DistArray of "
             "global shape (8, 6)")
    refused(comm, lambda: a + np.ones((2, 8, 6)), "has more axes")
    z = a.mean(axis=0)
    refused(comm, lambda: z + a.mean(axis=1), "different grids")
    with pytest.raises(TypeError):
        np.add.reduce(a)         # reductions go through the DistArray methods
