"""Heat diffusion on a global latitude-longitude grid, explicit finite-volume steps.

    clusterkit run -n N diffusion [--shape 721,1440] [--steps S] [--every K] [--kappa F]
    mpirun -n N python -m clusterkit.jobs.diffusion [...]

Grid (``--shape NY,NX``): latitudes are node-centred and include both poles,
``lat[k] = -90 + k * 180/(NY-1)`` (south to north; 721 rows = 0.25°, as
ERA5), longitudes ``lon[j] = j * 360/NX``, periodic. Each row is the band
between its two faces at ``lat[k] ± dphi/2``; the pole rows are polar caps
whose outer face lies on the pole (``cos = 0``: no flux through it), so they
are the boundary rows. The area factor of row k is ``cos_c[k] = (sin(face
after) - sin(face before)) / dphi`` (≈ cos(lat) away from the poles), which
makes the area-weighted mean exactly conserved by the scheme up to round-off.
The grid is split over a 2-D process grid with one ghost cell; longitude is
periodic, latitude is not.

Initial field (K): ``250 + 40 cos²(lat) + 5 cos(lat) sin(2 lon)`` plus a
Gaussian bump of 30 K, 10° wide (great-circle distance), centred at 40°N 60°E.

Each step is ``clusterkit.kernels.diffusion_step`` with ``kappa*dt/R²`` set
to ``F`` (``--kappa``, default 0.9) times the largest stable value
(``diffusion_kappa_dt_limit``, min over all rows). Explicit steps on a
lat-lon grid are limited by the narrow cells next to the poles, so on fine
grids the field changes visibly only near the poles; use a coarse grid
(e.g. ``--shape 73,144``) and many steps to watch the bump spread.

Every K steps (and at the first and last step) rank 0 prints the
area-weighted mean, the minimum and the maximum (collectives of
``DistArray``); at the end, the drift of the mean and the time per step
(slowest rank). ``--output FILE`` writes the final field ``u(lat, lon)`` with its
coordinates to a NetCDF-4 file (collectively, atomically). ``--dump-npy PATH`` (a
debugging aid used by the tests) writes it with ``numpy.save``.

``--checkpoint-dir DIR [--checkpoint-every N] [--checkpoint-seconds T]``
checkpoints u (and the step counter) to DIR; SIGTERM/SIGUSR1 make every rank
stop at the next step boundary, write a checkpoint and exit with status 99
(``clusterkit.io.checkpoint.EXIT_CHECKPOINTED``). ``--restart`` resumes from the
newest valid checkpoint, on any number of ranks, bitwise identically.
"""

import os

import numba
import numpy as np

from clusterkit import comm as _comm
from clusterkit.comm import MPI
from clusterkit.errors import InputError
from clusterkit.grid import Grid
from clusterkit.faultinject import fault_point, step_pause
from clusterkit.io.checkpoint import EXIT_CHECKPOINTED
from clusterkit.io.ncwrite import NCWriter
from clusterkit.io.output_path import check_output_path
from clusterkit.jit import warmup
from clusterkit.kernels import diffusion_kappa_dt_limit, diffusion_step
from clusterkit.kernels.diffusion import unchecked as unchecked_diffusion_step
from clusterkit.log import rprint
from clusterkit.memory import check_fits_in_memory
from clusterkit.options import parse_ints
from clusterkit.partition import choose_grid
from clusterkit.runtime import JobArgumentParser, exit_job, run_job
from clusterkit.trace import region

from ._checkpoint_args import add_checkpoint_arguments, checkpointer_from_args

__all__ = ["main", "latitudes", "longitudes", "metric", "initial_field", "parse_shape",
           "check_options"]



def latitudes(ny):
    """Node-centred latitudes in degrees, south pole to north pole (both included)."""
    return np.linspace(-90.0, 90.0, ny)


def longitudes(nx):
    """Longitudes in degrees, ``j * 360 / nx`` (periodic)."""
    return np.arange(nx) * (360.0 / nx)


def metric(ny, nx):
    """Grid spacings and per-row cosines for :func:`clusterkit.kernels.diffusion_step`.

    Parameters
    ----------
    ny, nx : int
        Rows (pole to pole, both included) and columns.

    Returns
    -------
    dphi, dlam : float
        Spacings in radians.
    cos_c : numpy.ndarray
        ``(ny,)`` area factor of each row, ``(sin(f[k+1]) - sin(f[k])) / dphi``.
    cos_before, cos_after : numpy.ndarray
        ``(ny,)`` cosine of each row's face towards the previous / next row;
        exactly 0 on the two pole faces.
    """
    dphi = np.pi / (ny - 1)
    dlam = 2.0 * np.pi / nx
    faces = np.clip(-0.5 * np.pi + (np.arange(ny + 1) - 0.5) * dphi, -0.5 * np.pi, 0.5 * np.pi)
    cos_f = np.cos(faces)
    cos_f[0] = cos_f[-1] = 0.0
    cos_c = np.diff(np.sin(faces)) / dphi
    return dphi, dlam, cos_c, cos_f[:-1].copy(), cos_f[1:].copy()


def initial_field(lat_deg, lon_deg):
    """The initial temperature (K) on the ``(lat, lon)`` points given (any subset)."""
    phi = np.deg2rad(np.asarray(lat_deg, dtype=np.float64))[:, None]
    lam = np.deg2rad(np.asarray(lon_deg, dtype=np.float64))[None, :]
    phi0, lam0, width = np.deg2rad(40.0), np.deg2rad(60.0), np.deg2rad(10.0)
    cosd = np.sin(phi) * np.sin(phi0) + np.cos(phi) * np.cos(phi0) * np.cos(lam - lam0)
    d = np.arccos(np.clip(cosd, -1.0, 1.0))
    return (250.0 + 40.0 * np.cos(phi) ** 2 + 5.0 * np.cos(phi) * np.sin(2.0 * lam)
            + 30.0 * np.exp(-(d / width) ** 2))


def parse_shape(text):
    """Parse ``"NY,NX"``; ``ValueError`` unless two integers with NY >= 3 and NX >= 3."""
    shape = parse_ints(text, 2, minimum=3)
    if shape is None:
        raise InputError(f"--shape must be two integers NY,NX (latitudes incl. both poles, "
                         f"longitudes), each >= 3, got {text!r}")
    return shape


def _process_age():
    """Seconds since this process started (Linux ``/proc``), or ``None``."""
    try:
        with open("/proc/self/stat") as f:
            start_ticks = int(f.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
        return uptime - start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def _parser(comm):
    p = JobArgumentParser(prog="diffusion", comm=comm,
                          description="Explicit heat diffusion on a global lat-lon grid.")
    p.add_argument("--shape", default="721,1440", metavar="NY,NX",
                   help="latitudes (pole to pole, both included) and longitudes "
                        "(default 721,1440 = 0.25 degrees)")
    p.add_argument("--steps", type=int, default=100, metavar="S", help="time steps (default 100)")
    p.add_argument("--every", type=int, default=20, metavar="K",
                   help="print the global diagnostic every K steps, 0 = first and last only "
                        "(default 20)")
    p.add_argument("--kappa", type=float, default=0.9, metavar="F",
                   help="diffusion number kappa*dt/R^2 as a fraction F of the explicit "
                        "stability limit, 0 < F <= 1 (default 0.9)")
    p.add_argument("--output", metavar="FILE",
                   help="write the final field u(lat, lon) with its coordinates (NetCDF-4)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --output")
    p.add_argument("--dump-npy", metavar="PATH",
                   help="debugging aid: write the final field u[lat, lon] to PATH with "
                        "numpy.save (rank 0; temporary name, then renamed)")
    add_checkpoint_arguments(p)
    return p


def check_options(shape, steps, every, kappa, nranks):
    """Validate the job's options; return ``((ny, nx), dims)``.

    Pure arithmetic, identical on every rank, so every rank raises the same error.

    Parameters
    ----------
    shape : str
        ``"NY,NX"`` as given to ``--shape``.
    steps, every : int
        ``--steps`` (>= 1) and ``--every`` (>= 0).
    kappa : float
        ``--kappa``, a fraction of the stability limit in ``(0, 1]``.
    nranks : int
        Number of ranks.

    Raises
    ------
    ValueError
        Naming the option and the valid values; also if the grid cannot be
        split over ``nranks`` without an empty block.
    """
    ny, nx = parse_shape(shape)
    if steps < 1:
        raise InputError(f"--steps must be >= 1, got {steps}")
    if every < 0:
        raise InputError(f"--every must be >= 0 (0 = first and last step only), got {every}")
    if not 0.0 < kappa <= 1.0:
        raise InputError(f"--kappa must satisfy 0 < F <= 1 (a fraction of the stability "
                         f"limit), got {kappa}")
    try:
        dims = choose_grid((ny, nx), nranks, halo=1)
    except ValueError:
        raise InputError(f"--shape {ny},{nx} cannot be split over {nranks} ranks without "
                         f"giving some rank no cells along an axis (more ranks than cells); "
                         f"use fewer ranks or a larger --shape") from None
    return (ny, nx), tuple(dims)


def _diagnostic(u, weights, step, comm):
    mean = float(u.mean(weights=weights, weights_axis=0))
    lo, hi = float(u.min()), float(u.max())
    rprint(f"step {step:7d}  mean {mean:.12f}  min {lo:.9f}  max {hi:.9f}", comm=comm)
    return mean


def _dump(u, path):
    full = u.gather(root=0)
    if full is not None:
        tmp = f"{path}.tmp{os.getpid()}"
        with open(tmp, "wb") as f:
            np.save(f, full)
        os.replace(tmp, path)


def main(argv=None, comm=None):
    """Run the diffusion job; return 0, or ``EXIT_CHECKPOINTED`` (99) after a stop signal."""
    t_enter = MPI.Wtime()
    comm = _comm.resolve(comm)
    args = _parser(comm).parse_args(argv)
    (ny, nx), dims = check_options(args.shape, args.steps, args.every, args.kappa,
                                   comm.Get_size())
    if args.dump_npy:
        folder = os.path.dirname(os.path.abspath(args.dump_npy))
        _comm.check(comm.Get_rank() != 0 or os.path.isdir(folder),
                    f"--dump-npy: folder {folder!r} does not exist", comm=comm)
    if args.output:
        check_output_path(args.output, args.overwrite, comm)
    # two ghosted blocks; rank 0 gathers the whole field for --dump-npy
    block = (-(-ny // dims[0]) + 2) * (-(-nx // dims[1]) + 2) * 8
    whole = ny * nx * 8 if args.dump_npy and comm.Get_rank() == 0 else 0
    check_fits_in_memory(2 * block + whole, f"diffusion --shape {ny},{nx}", comm=comm)
    grid = Grid((ny, nx), periodic=(False, True), halo=1, corners=False, dims=dims, comm=comm)
    dphi, dlam, cos_c, cos_b, cos_a = metric(ny, nx)
    rows = grid.local_slices[0]
    lc, lb, la = cos_c[rows].copy(), cos_b[rows].copy(), cos_a[rows].copy()
    limit = grid.comm.allreduce(diffusion_kappa_dt_limit(dphi, dlam, lc, lb, la), op=MPI.MIN)
    kappa_dt = args.kappa * limit

    u, v = grid.zeros(), grid.zeros()
    u.interior[...] = initial_field(grid.local_coords(latitudes(ny), 0),
                                    grid.local_coords(longitudes(nx), 1))
    parallel = numba.get_num_threads() > 1
    kernel = unchecked_diffusion_step(parallel)
    rprint(f"diffusion: {grid.size} ranks (process grid {dims[0]}x{dims[1]}, "
           f"{numba.get_num_threads()} threads each), grid {ny}x{nx} (lat x lon, poles "
           f"included), {args.steps} steps, kappa*dt/R^2 = {kappa_dt:.6e} "
           f"({args.kappa:g} x stability limit)", comm=comm)
    ck = checkpointer_from_args(args, "diffusion", {"shape": [ny, nx], "kappa": args.kappa},
                                grid.comm)
    start = 0
    if ck is not None and args.restart:
        restored = ck.restore({"u": u})
        start, mean0 = restored.step, restored.state["mean0"]
        _comm.check(start <= args.steps, f"--restart: the newest checkpoint is at step "
                    f"{start}, beyond --steps {args.steps}", comm=comm)
        rprint(f"restarted from {restored.path} (step {start})", comm=comm)
        mean = _diagnostic(u, cos_c, start, comm)
    else:
        mean0 = _diagnostic(u, cos_c, 0, comm)
        mean = mean0
    if ck is not None:
        rprint(f"checkpointing to {ck.directory}", comm=comm)

    # compile or load the kernel now: the time steps then run machine code from the first
    warmup(kernel, u.ghosted, v.ghosted, kappa_dt, dphi, dlam, lc, lb, la)
    stepping = 0.0
    startup = None
    with region("diffusion.steps"):
        for step in range(start + 1, args.steps + 1):
            fault_point("step", step, grid.comm.Get_rank())
            t0 = MPI.Wtime()
            u.exchange_halos()
            if step == start + 1:  # the checked entry point validates the arrays once
                diffusion_step(u.ghosted, v.ghosted, kappa_dt, dphi, dlam, lc, lb, la,
                               parallel=parallel)
            else:
                kernel(u.ghosted, v.ghosted, kappa_dt, dphi, dlam, lc, lb, la)
            u, v = v, u
            if step == start + 1:
                age = _process_age()
                startup = age if age is not None else MPI.Wtime() - t_enter
            else:
                stepping += MPI.Wtime() - t0
            if step == args.steps or (args.every and step % args.every == 0):
                mean = _diagnostic(u, cos_c, step, comm)
            step_pause()
            if ck is not None and ck.at_step(step, {"u": u}, {"mean0": mean0}):
                rprint(f"stop signal: wrote a checkpoint at step {step}; exiting with status "
                       f"{EXIT_CHECKPOINTED}", comm=comm)
                return EXIT_CHECKPOINTED

    if startup is None:  # restarted at the last step: nothing ran
        startup = MPI.Wtime() - t_enter
    stepping = grid.comm.allreduce(stepping, op=MPI.MAX)
    startup = grid.comm.allreduce(startup, op=MPI.MAX)
    drift = (mean - mean0) / abs(mean0)
    rprint(f"relative drift of the area-weighted mean: {drift:.3e}", comm=comm)
    timed = args.steps - start - 1
    if timed > 0:
        rprint(f"timing: {timed} steps after the first in {stepping:.4f} s, "
               f"{stepping / timed * 1e3:.4f} ms/step (slowest rank), "
               f"{timed * ny * nx / stepping / 1e6:.1f} Mcells/s", comm=comm)
    rprint(f"start-up: {startup:.2f} s from process start (or main() where /proc is "
           f"missing) to the end of the first step, slowest rank", comm=comm)
    if args.dump_npy:
        _dump(u, args.dump_npy)
    if args.output:
        _write(u, args.output, args.overwrite, args.steps, kappa_dt)
        rprint(f"wrote {args.output}", comm=comm)
    return 0


def _write(u, path, overwrite, steps, kappa_dt):
    """Write the final field with its coordinates to a NetCDF-4 file (collective)."""
    ny, nx = u.shape
    with NCWriter(path, comm=u.grid.comm, overwrite=overwrite,
                  attrs={"title": "clusterkit diffusion job: final field",
                         "steps": np.int64(steps), "kappa_dt_over_r2": kappa_dt}) as w:
        w.dimension("lat", latitudes(ny), {"units": "degrees_north",
                                           "standard_name": "latitude", "axis": "Y"})
        w.dimension("lon", longitudes(nx), {"units": "degrees_east",
                                            "standard_name": "longitude", "axis": "X"})
        w.variable("u", ("lat", "lon"), "f8", {"units": "K", "long_name": "temperature "
                                                "after diffusion"}, prefill=False)
        w.write("u", u.interior, u.grid.local_start)


if __name__ == "__main__":
    exit_job(run_job(main, prog="diffusion"), fast=True)
