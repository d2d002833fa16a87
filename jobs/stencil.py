"""The Parallel Research Kernels (PRK) "stencil" benchmark on any number of ranks.

    clusterkit run -n N stencil ITERATIONS GRID_SIZE [star|box] [RADIUS]
    mpirun -n N python -m clusterkit.jobs.stencil ITERATIONS GRID_SIZE [star|box] [RADIUS]

The definition is PRK's: an n×n grid, ``A[i, j] = i + j`` (global indices) and
``B = 0``; each iteration adds the weighted stencil of A to B at every active
point — a point at distance >= r from the global edge — and then adds 1 to
every point of A. The grid is split over a 2-D process grid with halos of
width r (corners too for the box stencil). The kernel is compiled (or loaded
from Numba's cache) before the iterations; ``ITERATIONS + 1`` of them run and
the first one is not timed. The
result is checked as PRK does: the L1 norm of B over the active points,
divided by their number, must equal ``(ITERATIONS + 1) * (COEFX + COEFY)``
(= ``2 * (ITERATIONS + 1)``) to within 1e-8. Flops are counted as PRK
counts them: ``2 * stencil_size + 1`` per active point and iteration, with
``stencil_size = 4r + 1`` (star) or ``(2r + 1)**2`` (box).

``--checkpoint-dir DIR [--checkpoint-every N] [--restart]`` checkpoint A and
B after every N iterations (the untimed first one counts as iteration 1);
SIGTERM/SIGUSR1 make the job write a checkpoint and exit with status 99.

Exit status 0 if the solution validates, 1 if it does not, 2 on bad input,
99 (``EXIT_CHECKPOINTED``) after a stop signal and a checkpoint.
"""

import os

import numba
import numpy as np

from clusterkit import comm as _comm
from clusterkit.comm import MPI
from clusterkit.errors import InputError
from clusterkit.grid import Grid
from clusterkit.faultinject import fault_point
from clusterkit.io.checkpoint import EXIT_CHECKPOINTED, CheckpointExit
from clusterkit.jit import warmup
from clusterkit.kernels import box_stencil, star_stencil, stencil_weights
from clusterkit.kernels.stencil import unchecked as unchecked_stencil
from clusterkit.log import rprint
from clusterkit.memory import check_fits_in_memory
from clusterkit.partition import block_sizes, choose_grid
from clusterkit.runtime import JobArgumentParser, exit_job, run_job
from clusterkit.trace import region

from ._checkpoint_args import add_checkpoint_arguments, checkpointer_from_args

__all__ = ["main", "run_stencil", "check_arguments", "reference_norm", "flops_per_iteration",
           "stencil_size", "active_view", "EPSILON", "COEFX", "COEFY"]

#: PRK's tolerance on the L1 norm (double precision) and the coefficients of A = COEFX*i + COEFY*j
EPSILON = 1.0e-8
COEFX = 1.0
COEFY = 1.0

#: the checked kernel of each pattern (later iterations call ``unchecked_stencil``)
_KERNELS = {"star": star_stencil, "box": box_stencil}


def stencil_size(pattern, radius):
    """Number of points of the stencil: ``4r + 1`` (star) or ``(2r + 1)**2`` (box)."""
    return 4 * radius + 1 if pattern == "star" else (2 * radius + 1) ** 2


def flops_per_iteration(n, pattern, radius):
    """PRK's flop count of one iteration: ``(2 * stencil_size + 1) * (n - 2r)**2``."""
    return (2 * stencil_size(pattern, radius) + 1) * float(n - 2 * radius) ** 2


def reference_norm(iterations):
    """PRK's expected L1 norm per active point after ``iterations + 1`` iterations."""
    return (iterations + 1) * (COEFX + COEFY)


def check_arguments(iterations, n, pattern, radius, nranks):
    """Validate the benchmark's inputs and return the process grid.

    Pure arithmetic, identical on every rank, so every rank raises the same error.

    Parameters
    ----------
    iterations, n, radius : int
        Timed iterations, grid size, stencil radius.
    pattern : str
        ``"star"`` or ``"box"``.
    nranks : int
        Number of ranks.

    Returns
    -------
    tuple of int
        Blocks per axis ``(dims0, dims1)``.

    Raises
    ------
    ValueError
        If ``iterations < 1``, ``radius < 1``, ``n < 2r + 1``, the pattern is
        unknown, the grid cannot be split over ``nranks`` without an empty
        block, or some block is narrower than the radius (its neighbours' halos
        could not be filled from it).
    """
    if pattern not in _KERNELS:
        raise InputError(f"unknown stencil pattern {pattern!r}; valid patterns: star, box")
    if iterations < 1:
        raise InputError(f"ITERATIONS must be >= 1, got {iterations}")
    if radius < 1:
        raise InputError(f"RADIUS must be >= 1, got {radius}")
    if n < 2 * radius + 1:
        raise InputError(f"grid size {n} is smaller than 2*RADIUS+1 = {2 * radius + 1}: "
                         f"a radius-{radius} stencil needs at least one interior point")
    try:
        dims = choose_grid((n, n), nranks, halo=radius)
    except ValueError:
        raise InputError(f"cannot split the {n}x{n} grid over {nranks} ranks without giving "
                         f"some rank no cells along an axis (more ranks than cells); "
                         f"use fewer ranks or a larger grid") from None
    narrow = min(min(block_sizes(n, d)) for d in dims)
    if narrow < radius:
        raise InputError(f"the {n}x{n} grid split {dims[0]}x{dims[1]} over {nranks} ranks has "
                         f"tiles only {narrow} cell{'s' if narrow != 1 else ''} wide, narrower "
                         f"than RADIUS={radius}; use fewer ranks or a larger grid")
    return tuple(dims)


def active_view(grid, n, radius):
    """Where to run the stencil kernel on this rank's ghosted block, or ``None``.

    The kernels update the interior ``[r:-r, r:-r]`` of the array they get.
    They vectorise only on C-contiguous arrays (a view trimmed along both axes
    runs about 2x slower), so the kernel gets whole ghosted rows: ``rows``
    selects the rows whose interior is exactly this rank's active rows (global
    index in ``[r, n - r)``). Along the columns the kernel then also computes
    the up to r columns next to the global left/right edge; ``clear`` lists
    those columns (ghosted indices), whose B values are reset to 0 after each
    call, so B is only ever changed at active points.

    Returns
    -------
    rows : slice or None
        Rows of the ghosted block to pass to the kernel (``None``: this rank
        owns no active point).
    clear : list of slice
        Columns of the ghosted block outside the active range.
    """
    (s0, e0), (s1, e1) = ((s.start, s.stop) for s in grid.local_slices)
    lo0, hi0 = max(s0, radius), min(e0, n - radius)
    lo1, hi1 = max(s1, radius), min(e1, n - radius)
    if lo0 >= hi0 or lo1 >= hi1:
        return None, []
    r = radius
    # global index g sits at ghosted index g - start + r
    rows = slice(lo0 - s0, hi0 - s0 + 2 * r)
    clear = [c for c in (slice(r, lo1 - s1 + r), slice(hi1 - s1 + r, e1 - s1 + r))
             if c.stop > c.start]
    return rows, clear


def run_stencil(iterations, n, pattern="star", radius=2, comm=None, parallel=None,
                checkpoint=None, restart=False):
    """Run the benchmark; return B, the L1 norm per active point and the timed seconds.

    Collective. Arguments are validated with :func:`check_arguments`.

    Parameters
    ----------
    iterations, n : int
        Timed iterations (one more, untimed, runs first) and grid size.
    pattern : {"star", "box"}
    radius : int
    comm : mpi4py.MPI.Intracomm, optional
    parallel : bool, optional
        Use the threaded kernel variant (default: when Numba has > 1 thread).
    checkpoint : clusterkit.io.checkpoint.Checkpointer, optional
        Save A and B (step = completed iterations, the untimed one included)
        at iteration boundaries as it decides.
    restart : bool
        Resume from ``checkpoint``'s newest valid checkpoint.

    Returns
    -------
    b : DistArray
        The accumulated stencil output.
    norm : float
        L1 norm of B over the active points divided by their number (every rank).
    seconds : float
        Time of the timed iterations run by this call, slowest rank (every rank).
    dims : tuple of int
        The process grid.

    Raises
    ------
    CheckpointExit
        When a stop signal made it write a checkpoint and stop early.
    """
    comm = _comm.resolve(comm)
    dims = check_arguments(iterations, n, pattern, radius, comm.Get_size())
    grid = Grid((n, n), periodic=False, halo=radius, corners=(pattern == "box"), dims=dims,
                comm=comm)
    a, b = grid.zeros(), grid.zeros()
    i = grid.local_indices(0).astype(np.float64)[:, None]
    j = grid.local_indices(1).astype(np.float64)[None, :]
    a.interior[...] = COEFX * i + COEFY * j
    w = stencil_weights(radius, pattern)
    if parallel is None:
        parallel = numba.get_num_threads() > 1
    checked = _KERNELS[pattern]
    rows, clear = active_view(grid, n, radius)
    av = bv = None
    if rows is not None:
        av, bv = a.ghosted[rows], b.ghosted[rows]  # C-contiguous row ranges
    kernel = unchecked_stencil(pattern, radius, parallel)
    if av is not None:  # compile or load the kernel before the iterations
        warmup(kernel, av, w, bv)
    start = 0
    if checkpoint is not None and restart:
        start = checkpoint.restore({"a": a, "b": b}).step
        _comm.check(start <= iterations + 1, f"--restart: the newest checkpoint is after "
                    f"iteration {start}, beyond ITERATIONS+1 = {iterations + 1}", comm=comm)

    t0 = MPI.Wtime()
    with region("stencil.iterations"):
        for it in range(start, iterations + 1):
            fault_point("step", it + 1, grid.comm.Get_rank())
            if it == max(1, start):  # the first iteration is a warm-up, as in PRK
                grid.comm.Barrier()
                t0 = MPI.Wtime()
            a.exchange_halos()
            if av is not None:
                if it == start:  # the checked entry point validates the arrays once
                    checked(av, w, radius, bv, parallel=parallel)
                else:
                    kernel(av, w, bv)
                for cols in clear:
                    bv[radius:-radius, cols] = 0.0
            a.interior += 1.0
            if checkpoint is not None and checkpoint.at_step(it + 1, {"a": a, "b": b}):
                a.halo.free()
                raise CheckpointExit(it + 1)
    seconds = grid.comm.allreduce(MPI.Wtime() - t0, op=MPI.MAX)
    local = float(np.abs(b.interior).sum())  # B is 0 outside the active points
    norm = grid.comm.allreduce(local, op=MPI.SUM) / float(n - 2 * radius) ** 2
    a.halo.free()
    return b, norm, seconds, dims


def _parser(comm):
    p = JobArgumentParser(prog="stencil", comm=comm,
                          description="The PRK stencil benchmark (star or box stencil of radius "
                                      "RADIUS on a GRID_SIZE x GRID_SIZE grid).")
    p.add_argument("iterations", metavar="ITERATIONS", type=int,
                   help="timed iterations (one more, untimed, runs first)")
    p.add_argument("n", metavar="GRID_SIZE", type=int, help="linear grid dimension n")
    p.add_argument("pattern", metavar="PATTERN", nargs="?", default="star",
                   help="star (default) or box")
    p.add_argument("radius", metavar="RADIUS", nargs="?", type=int, default=2,
                   help="stencil radius (default 2)")
    p.add_argument("--dump-npy", metavar="PATH",
                   help="debugging aid: write B to PATH with numpy.save (rank 0)")
    add_checkpoint_arguments(p)
    return p


def main(argv=None, comm=None):
    """Run the PRK stencil benchmark; return 0 if the solution validates, else 1."""
    comm = _comm.resolve(comm)
    args = _parser(comm).parse_args(argv)
    it, n, pattern, r = args.iterations, args.n, args.pattern, args.radius
    dims = check_arguments(it, n, pattern, r, comm.Get_size())
    # two ghosted blocks; rank 0 gathers the whole grid for --dump-npy
    block = (-(-n // dims[0]) + 2 * r) * (-(-n // dims[1]) + 2 * r) * 8
    whole = n * n * 8 if args.dump_npy and comm.Get_rank() == 0 else 0
    check_fits_in_memory(2 * block + whole, f"stencil GRID_SIZE {n}", comm=comm)
    say = lambda text: rprint(text, comm=comm)  # noqa: E731
    say("Parallel Research Kernels stencil, clusterkit (Python + Numba + MPI)")
    say(f"Number of ranks        = {comm.Get_size()}")
    say(f"Threads per rank       = {numba.get_num_threads()}")
    say(f"Grid size              = {n}")
    say(f"Radius of stencil      = {r}")
    say(f"Tiles in x/y-direction = {dims[1]}/{dims[0]}")
    say(f"Type of stencil        = {pattern}")
    say("Data type              = double precision")
    say(f"Number of iterations   = {it}")
    if args.dump_npy:
        folder = os.path.dirname(os.path.abspath(args.dump_npy))
        _comm.check(comm.Get_rank() != 0 or os.path.isdir(folder),
                    f"--dump-npy: folder {folder!r} does not exist", comm=comm)
    ck = checkpointer_from_args(args, "stencil", {"n": n, "pattern": pattern, "radius": r},
                                comm)
    try:
        b, norm, seconds, _ = run_stencil(it, n, pattern, r, comm=comm, checkpoint=ck,
                                          restart=args.restart)
    except CheckpointExit as stop:
        say(f"stop signal: wrote a checkpoint after iteration {stop.step}; exiting with "
            f"status {EXIT_CHECKPOINTED}")
        return EXIT_CHECKPOINTED
    if args.dump_npy:
        full = b.gather(root=0)
        if full is not None:
            tmp = f"{args.dump_npy}.tmp{os.getpid()}"
            with open(tmp, "wb") as f:
                np.save(f, full)
            os.replace(tmp, args.dump_npy)
    if ck is not None:
        say(f"L1 norm (exact)        = {norm!r}")
    ref = reference_norm(it)
    if abs(norm - ref) > EPSILON:
        say(f"ERROR: L1 norm = {norm:f}, Reference L1 norm = {ref:f}")
        return 1
    say("Solution validates")
    start = ck.restored.step if ck is not None and ck.restored is not None else 0
    avg = seconds / max(1, it + 1 - max(1, start))
    if avg <= 0.0:  # restarted after the last iteration: nothing was timed
        return 0
    say(f"Rate (MFlops/s): {1.0e-6 * flops_per_iteration(n, pattern, r) / avg:f}  "
        f"Avg time (s): {avg:f}")
    return 0


if __name__ == "__main__":
    exit_job(run_job(main, prog="stencil"), fast=True)
