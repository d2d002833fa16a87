"""Pure arithmetic of a Cartesian block decomposition (no MPI): block sizes, grid choice, index maps."""
import dataclasses
import math
import operator
from collections.abc import Iterator
from .errors import InputError

__all__ = ["block_sizes", "block_range", "block_owner", "choose_grid", "Decomposition"]


def _int(value, name):
    """Return ``value`` as a Python int; bools, floats and other non-integers raise TypeError."""
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an integer, not a bool ({value!r})")
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an integer, got {type(value).__name__} {value!r}") from None


def _ints(values, name, *, length=None, minimum=None):
    """Return ``values`` as a tuple of ints, checking its length and a lower bound on every entry."""
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise TypeError(f"{name} must be a sequence of integers, got {type(values).__name__} {values!r}")
    out = tuple(_int(v, f"{name}[{i}]") for i, v in enumerate(values))
    if length is not None and len(out) != length:
        raise InputError(f"{name} must have {length} entries (one per axis), got {len(out)}: {out}")
    if minimum is not None and any(v < minimum for v in out):
        raise InputError(f"{name} entries must be >= {minimum}, got {out}")
    return out


def _check_np(n, p):
    n, p = _int(n, "n"), _int(p, "p")
    if n < 0:
        raise InputError(f"n (number of cells) must be >= 0, got {n}")
    if p < 1:
        raise InputError(f"p (number of blocks) must be >= 1, got {p}")
    return n, p


def block_sizes(n, p):
    """Balanced sizes of ``p`` blocks covering ``n`` cells.

    Parameters
    ----------
    n : int
        Number of cells, ``n >= 0``.
    p : int
        Number of blocks, ``p >= 1``. ``p > n`` yields some zero-size blocks.

    Returns
    -------
    tuple of int
        ``p`` sizes summing to ``n``; the first ``n % p`` blocks hold one extra cell.
    """
    n, p = _check_np(n, p)
    q, r = divmod(n, p)
    return tuple(q + 1 if i < r else q for i in range(p))


def block_range(n, p, i):
    """Half-open range ``(start, stop)`` of block ``i`` of ``block_sizes(n, p)``, in O(1).

    Parameters
    ----------
    n, p, i : int
        Number of cells (``>= 0``), of blocks (``>= 1``) and block index (``0 <= i < p``).

    Returns
    -------
    tuple of int
        ``(start, stop)`` with ``stop - start == block_sizes(n, p)[i]``.
    """
    n, p = _check_np(n, p)
    i = _int(i, "i")
    if not 0 <= i < p:
        raise InputError(f"block index i must satisfy 0 <= i < p={p}, got {i}")
    q, r = divmod(n, p)
    start = i * q + min(i, r)
    return start, start + q + (1 if i < r else 0)


def block_owner(n, p, g):
    """Index of the block of ``block_sizes(n, p)`` that contains global cell ``g``, in O(1).

    Parameters
    ----------
    n, p, g : int
        Number of cells (``>= 0``), of blocks (``>= 1``) and global cell index (``0 <= g < n``).

    Returns
    -------
    int
        Block index ``i`` with ``block_range(n, p, i)[0] <= g < block_range(n, p, i)[1]``.
    """
    n, p = _check_np(n, p)
    g = _int(g, "g")
    if not 0 <= g < n:
        raise InputError(f"global index g must satisfy 0 <= g < n={n}, got {g}")
    q, r = divmod(n, p)
    big = r * (q + 1)  # cells held by the r blocks of size q + 1
    return g // (q + 1) if g < big else r + (g - big) // q


def _halo_widths(halo, ndim):
    if hasattr(halo, "__iter__") and not isinstance(halo, (str, bytes)):
        return _ints(halo, "halo", length=ndim, minimum=0)
    width = _int(halo, "halo")
    if width < 0:
        raise InputError(f"halo width must be >= 0, got {width}")
    return (width,) * ndim


def choose_grid(shape, nprocs, *, dims=None, keep=(), halo=1, allow_empty=False):
    """Process grid for a global ``shape`` on ``nprocs`` ranks that minimises the halo surface.

    The cost of a grid is the number of ghost cells all ranks receive per face exchange
    (non-periodic, corners not counted): ``sum_a 2 * halo[a] * (dims[a] - 1) * prod_{b != a} shape[b]``.
    Every ordered factorisation of ``nprocs`` that satisfies the constraints is considered, so
    the result is exact. Ties are broken deterministically: first the most even grid (the
    smallest dims sorted in decreasing order, compared lexicographically, i.e. smallest largest
    factor first), then the grid with more blocks on the leading (slowest) axes
    (lexicographically largest ``dims``), like ``MPI_Dims_create``'s non-increasing order.

    Parameters
    ----------
    shape : sequence of int
        Global array shape, one or more non-negative extents.
    nprocs : int
        Number of ranks, ``>= 1``.
    dims : sequence of int, optional
        Like ``MPI_Dims_create``: one entry per axis, 0 = free, > 0 = fixed. The product of
        the fixed entries must divide ``nprocs``.
    keep : iterable of int, optional
        Axes (negative allowed) that must stay unsplit (one block), e.g. a time axis.
    halo : int or sequence of int, optional
        Halo width, for all axes or one per axis (``>= 0``). Splitting a width-0 axis is free.
    allow_empty : bool, optional
        If False (default), no axis gets more blocks than cells (``dims[a] <= max(shape[a], 1)``).

    Returns
    -------
    tuple of int
        Blocks per axis, with product ``nprocs``.

    Raises
    ------
    ValueError
        If an input is out of range or no grid satisfies all constraints (TypeError: wrong type).
    """
    shape = _ints(shape, "shape", minimum=0)
    if not shape:
        raise InputError("shape must have at least one axis, got ()")
    ndim = len(shape)
    nprocs = _int(nprocs, "nprocs")
    if nprocs < 1:
        raise InputError(f"nprocs must be >= 1, got {nprocs}")
    widths = _halo_widths(halo, ndim)
    fixed = list(_ints(dims, "dims", length=ndim, minimum=0)) if dims is not None else [0] * ndim
    for a in _ints(keep, "keep"):
        if not -ndim <= a < ndim:
            raise InputError(f"keep axis {a} is out of range for a {ndim}-D shape {shape} "
                             f"(valid: {-ndim}..{ndim - 1})")
        if fixed[a % ndim] > 1:
            raise InputError(f"axis {a % ndim} is in keep (must stay unsplit) but dims fixes it "
                             f"to {fixed[a % ndim]} blocks")
        fixed[a % ndim] = 1
    where = f"no process grid for shape={shape} on nprocs={nprocs}"
    fixed_prod = math.prod(d for d in fixed if d)
    if nprocs % fixed_prod:
        raise InputError(f"{where}: the fixed dims {tuple(fixed)} (keep axes count as 1) multiply to "
                         f"{fixed_prod}, which does not divide nprocs")
    limit = [None if allow_empty else max(n, 1) for n in shape]
    for a, d in enumerate(fixed):
        if d and limit[a] is not None and d > limit[a]:
            raise InputError(f"{where}: dims fixes axis {a} to {d} blocks but it has only {shape[a]} "
                             f"cells (pass allow_empty=True to allow empty blocks)")
    free = [a for a in range(ndim) if not fixed[a]]
    if not free:
        if fixed_prod != nprocs:
            raise InputError(f"{where}: dims {tuple(fixed)} fixes every axis but multiplies to "
                             f"{fixed_prod}, not nprocs")
        return tuple(fixed)
    weight = [2 * widths[a] * math.prod(shape[:a] + shape[a + 1:]) for a in range(ndim)]
    base = sum(weight[a] * (fixed[a] - 1) for a in range(ndim) if fixed[a])
    rest = nprocs // fixed_prod
    divisors = [d for d in range(1, math.isqrt(rest) + 1) if rest % d == 0]
    divisors = sorted(set(divisors + [rest // d for d in divisors]))
    best = []  # [(key, dims)] of the best grid found so far

    def search(k, remaining, cost):
        if best and cost > best[0][0][0]:
            return  # costs only grow: this branch cannot beat (or tie) the best grid
        a = free[k]
        if k == len(free) - 1:
            options = [remaining]
        else:
            options = [d for d in divisors if d <= remaining and remaining % d == 0]
        for d in options:
            if limit[a] is not None and d > limit[a]:
                continue
            fixed[a] = d
            total = cost + weight[a] * (d - 1)
            if k < len(free) - 1:
                search(k + 1, remaining // d, total)
            else:
                grid = tuple(fixed)
                key = (total, tuple(sorted(grid, reverse=True)), tuple(-x for x in grid))
                if not best or key < best[0][0]:
                    best[:] = [(key, grid)]
        fixed[a] = 0

    search(0, rest, base)
    if not best:
        cap = math.prod(limit[a] for a in free) * fixed_prod
        raise InputError(f"{where}: the free axes {tuple(free)} cannot take a factor of {rest} without "
                         f"giving some axis more blocks than cells (these axes fit at most {cap} ranks "
                         f"in total, and nprocs must factor exactly); use another nprocs, fix dims, "
                         f"or pass allow_empty=True")
    return best[0][1]


@dataclasses.dataclass(frozen=True)
class Decomposition:
    """Block decomposition of a global ``shape`` over a ``dims`` process grid (row-major ranks).

    Parameters
    ----------
    shape : sequence of int
        Global array shape (non-negative extents, at least one axis).
    dims : sequence of int
        Blocks per axis (positive), ``len(dims) == len(shape)``. Ranks are numbered in C
        (row-major) order over ``dims``, as ``MPI_Cart_create(reorder=False)`` does.
    """

    shape: tuple
    dims: tuple

    def __post_init__(self):
        shape = _ints(self.shape, "shape", minimum=0)
        if not shape:
            raise InputError("shape must have at least one axis, got ()")
        object.__setattr__(self, "shape", shape)
        object.__setattr__(self, "dims", _ints(self.dims, "dims", length=len(shape), minimum=1))

    @classmethod
    def auto(cls, shape, nprocs, **choose_grid_kwargs):
        """Decomposition of ``shape`` over ``choose_grid(shape, nprocs, **choose_grid_kwargs)``."""
        return cls(shape, choose_grid(shape, nprocs, **choose_grid_kwargs))

    @property
    def nprocs(self):
        """Number of blocks (ranks), ``prod(dims)``."""
        return math.prod(self.dims)

    @property
    def ndim(self):
        """Number of axes."""
        return len(self.shape)

    def _coords(self, coords):
        c = _ints(coords, "coords", length=self.ndim)
        if any(not 0 <= x < d for x, d in zip(c, self.dims)):
            raise InputError(f"coords {c} out of range for dims {self.dims} (need 0 <= coords[a] < dims[a])")
        return c

    def coords_of(self, rank):
        """Block coordinates of ``rank`` (C order, last axis fastest); ``0 <= rank < nprocs``."""
        rank = _int(rank, "rank")
        if not 0 <= rank < self.nprocs:
            raise InputError(f"rank must satisfy 0 <= rank < nprocs={self.nprocs}, got {rank}")
        coords = []
        for d in reversed(self.dims):
            rank, c = divmod(rank, d)
            coords.append(c)
        return tuple(reversed(coords))

    def rank_of(self, coords):
        """Rank of the block at ``coords`` (inverse of :meth:`coords_of`)."""
        rank = 0
        for c, d in zip(self._coords(coords), self.dims):
            rank = rank * d + c
        return rank

    def local_start(self, coords):
        """Global index of the first cell of the block at ``coords``."""
        return tuple(block_range(n, p, c)[0] for n, p, c in zip(self.shape, self.dims, self._coords(coords)))

    def local_shape(self, coords):
        """Shape of the block at ``coords`` (extents may be 0 if a block is empty)."""
        return tuple(stop - start for start, stop in
                     (block_range(n, p, c) for n, p, c in zip(self.shape, self.dims, self._coords(coords))))

    def local_slices(self, coords):
        """Slices selecting the block at ``coords`` from the global array."""
        return tuple(slice(*block_range(n, p, c)) for n, p, c in zip(self.shape, self.dims, self._coords(coords)))

    def owner(self, index):
        """Owner of a global N-D ``index``: ``(rank, local_index)``; entries ``0 <= index[a] < shape[a]``."""
        g = _ints(index, "index", length=self.ndim)
        if any(not 0 <= x < n for x, n in zip(g, self.shape)):
            raise InputError(f"index {g} out of range for shape {self.shape} (need 0 <= index[a] < shape[a])")
        coords = tuple(block_owner(n, p, x) for n, p, x in zip(self.shape, self.dims, g))
        local = tuple(x - s for x, s in zip(g, self.local_start(coords)))
        return self.rank_of(coords), local

    def to_global(self, coords, local_index):
        """Global index of ``local_index`` within the block at ``coords``."""
        start, extent = self.local_start(coords), self.local_shape(coords)
        local = _ints(local_index, "local_index", length=self.ndim)
        if any(not 0 <= x < n for x, n in zip(local, extent)):
            raise InputError(f"local_index {local} out of range for the block at coords {tuple(coords)} "
                             f"with local shape {extent}")
        return tuple(s + x for s, x in zip(start, local))

    def blocks(self) -> Iterator:
        """Iterate ``(rank, coords, slices)`` over all blocks in rank order."""
        for rank in range(self.nprocs):
            coords = self.coords_of(rank)
            yield rank, coords, self.local_slices(coords)

    def axis_sizes(self, axis):
        """Block sizes along ``axis`` (negative allowed): ``block_sizes(shape[axis], dims[axis])``."""
        axis = _int(axis, "axis")
        if not -self.ndim <= axis < self.ndim:
            raise InputError(f"axis must satisfy {-self.ndim} <= axis < {self.ndim}, got {axis}")
        return block_sizes(self.shape[axis], self.dims[axis])
