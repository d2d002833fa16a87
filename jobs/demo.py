"""Demo SPMD job: area-weighted global-mean temperature of a synthetic climate field.

Each rank builds its own latitude band of a (time, lat, lon) field from the
coordinates alone, computes cos(latitude)-weighted partial sums, and the ranks
combine them with one Allreduce. Rank 0 checks the result against a serial
NumPy computation of the whole field (small default shape) and prints both.

    clusterkit run -n 2 demo [--shape 24,181,360]
    mpirun -n 2 python -m clusterkit.jobs.demo [--shape 24,181,360]
"""


import numpy as np

from clusterkit.comm import MPI
from clusterkit.errors import InputError
from clusterkit.log import rprint
from clusterkit.memory import check_fits_in_memory
from clusterkit.options import parse_ints
from clusterkit.partition import block_range
from clusterkit.runtime import JobArgumentParser, exit_job, run_job

__all__ = ["main", "synthetic_temperature"]


def synthetic_temperature(t, lat_deg, lon_deg):
    """Return a (len(t), len(lat), len(lon)) float64 temperature field in kelvin.

    A pure function of the coordinates, so any block of it can be made on any rank.
    """
    phi = np.deg2rad(lat_deg)[None, :, None]
    lam = np.deg2rad(lon_deg)[None, None, :]
    tt = np.asarray(t, dtype=np.float64)[:, None, None]
    season = 12.0 * np.sin(phi) * np.cos(2 * np.pi * tt / 12.0)
    waves = 3.0 * np.cos(phi) * np.sin(3 * lam + 0.2 * tt)
    return 288.0 - 40.0 * np.sin(phi) ** 2 + season + waves + 0.01 * tt


def _shape(text):
    shape = parse_ints(text, 3)
    if shape is None:
        raise InputError(f"--shape must be three positive integers T,Y,X, got {text!r}")
    return shape


_TEMPORARIES = 6   # block-sized float64 arrays alive at once on a rank


def main(argv=None, comm=None):
    """Run the demo; return 0 if the distributed and serial results agree."""
    parser = JobArgumentParser(prog="demo", comm=comm, description=__doc__.split("\n")[0])
    parser.add_argument("--shape", default="24,181,360", help="T,Y,X (default 24,181,360)")
    args = parser.parse_args(argv)
    nt, ny, nx = _shape(args.shape)
    if ny < comm.Get_size():
        raise InputError(f"--shape has {ny} latitudes, fewer than the {comm.Get_size()} ranks; "
                         f"use at least {comm.Get_size()} latitudes")
    rows = -(-ny // comm.Get_size())
    # the block and the few temporaries of the same size synthetic_temperature makes
    check_fits_in_memory(_TEMPORARIES * nt * rows * nx * 8, f"demo --shape {nt},{ny},{nx}",
                         comm=comm)
    t0 = MPI.Wtime()
    lat = np.linspace(-90.0, 90.0, ny)
    lon = np.arange(nx) * (360.0 / nx)
    start, stop = block_range(ny, comm.Get_size(), comm.Get_rank())
    block = synthetic_temperature(np.arange(nt), lat[start:stop], lon)
    w = np.cos(np.deg2rad(lat[start:stop]))
    partial = np.empty((2, nt))
    partial[0] = np.einsum("tyx,y->t", block, w)
    partial[1] = w.sum() * nx
    total = np.empty_like(partial)
    comm.Allreduce(partial, total, op=MPI.SUM)
    mean = total[0] / total[1]
    lo = comm.allreduce(float(block.min()) if block.size else np.inf, op=MPI.MIN)
    hi = comm.allreduce(float(block.max()) if block.size else -np.inf, op=MPI.MAX)
    elapsed = comm.allreduce(MPI.Wtime() - t0, op=MPI.MAX)

    status = 0
    if comm.Get_rank() == 0:
        full = synthetic_temperature(np.arange(nt), lat, lon)
        wfull = np.cos(np.deg2rad(lat))[None, :, None] * np.ones_like(full)
        ref = np.average(full, axis=(1, 2), weights=wfull)
        err = float(np.max(np.abs(mean - ref)))
        status = 0 if err < 1e-9 and lo == full.min() and hi == full.max() else 1
        rprint(f"clusterkit demo: {comm.Get_size()} ranks, field {nt}x{ny}x{nx} (time x lat x lon)",
               comm=comm)
        rprint(f"  area-weighted global mean, first step: {mean[0]:.6f} K, "
               f"last step: {mean[-1]:.6f} K", comm=comm)
        rprint(f"  min {lo:.3f} K, max {hi:.3f} K", comm=comm)
        rprint(f"  max |distributed - serial NumPy| = {err:.3e}  "
               f"({'agrees' if status == 0 else 'DISAGREES'})", comm=comm)
        rprint(f"  computed in {elapsed * 1e3:.1f} ms (slowest rank)", comm=comm)
    return comm.bcast(status, root=0)


if __name__ == "__main__":
    exit_job(run_job(main, prog="demo"), fast=True)
