"""``clusterkit make-dataset``: write the synthetic CF climate dataset."""

import argparse
import re

from ..errors import InputError
from ..options import integer_at_least, parse_ints, positive_number

__all__ = ["add_parser", "parse_shape", "parse_var_name",
           "BYTES_PER_VALUE"]

#: bytes each rank holds per value of its block while computing it (float64 values and
#: noise, the float32 or int16 copy written): a lower bound, for the memory check
BYTES_PER_VALUE = 20

_CF_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


def parse_shape(text):
    """argparse type: ``T,Y,X`` as three positive integers."""
    shape = parse_ints(text, 3)
    if shape is None:
        raise argparse.ArgumentTypeError(f"must be three positive integers T,Y,X, got {text!r}")
    return shape


def parse_var_name(text):
    """argparse type: a variable name as CF recommends (a letter, then letters, digits
    and underscores); HDF5 would read ``/`` as a group path."""
    if not _CF_NAME.match(text):
        raise argparse.ArgumentTypeError(f"must be a letter followed by letters, digits or "
                                         f"underscores, got {text!r}")
    return text


def add_parser(sub):
    """Register the ``make-dataset`` subcommand."""
    p = sub.add_parser("make-dataset", help="write a synthetic CF climate dataset",
                       description="Write a synthetic NetCDF-4 climate dataset (seasonal "
                       "cycle, trend, noise). Runs on one process, or in parallel as "
                       "'mpirun -n N clusterkit make-dataset ...' (every rank writes its part).")
    p.add_argument("output", metavar="OUT")
    p.add_argument("--shape", type=parse_shape, default=(365, 181, 360), metavar="T,Y,X",
                   help="time steps, latitudes, longitudes (default 365,181,360)")
    p.add_argument("--calendar", default="standard",
                   help="CF calendar (standard, noleap, 360_day, ...)")
    p.add_argument("--land-mask", action="store_true", help="missing values over 'land'")
    p.add_argument("--compress", action="store_true", help="chunked, gzip-compressed")
    p.add_argument("--descending-lat", action="store_true", help="latitudes north to south")
    p.add_argument("--lon180", action="store_true", help="longitudes -180..180")
    p.add_argument("--levels", type=integer_at_least(0, " (0: no levels)"), default=0, metavar="K",
                   help="pressure levels")
    p.add_argument("--packed", action="store_true", help="int16 with scale_factor/add_offset")
    p.add_argument("--var", type=parse_var_name, default="tas",
                   help="variable name (default tas)")
    p.add_argument("--step-days", type=positive_number("days"), default=1.0,
                   help="days between time steps")
    p.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    p.set_defaults(handler=handle)


def handle(args):
    """Write the dataset under the abort guard (:func:`clusterkit.runtime.run_job`), as the
    jobs are: under ``mpirun`` bad input is one line from rank 0 and status 2, a full disk
    one line and status 1, and any other exception on any rank ends every rank with its
    traceback instead of leaving the others waiting."""
    from clusterkit.log import rprint
    from clusterkit.runtime import run_job

    def main(argv, comm):
        _write(args, comm)
        rprint(f"wrote {args.output}", comm=comm)
    return run_job(main, prog="clusterkit make-dataset")


def _write(args, comm):
    from clusterkit.memory import check_fits_in_memory
    from clusterkit.io.synth import make_dataset
    coords = ("time", "lat", "lon") + (("plev",) if args.levels else ())
    if args.var in coords:
        raise InputError(f"--var {args.var!r} is the name of a coordinate of the dataset "
                         f"({', '.join(coords)}); choose another name")
    nt, ny, nx = args.shape
    values = nt * max(1, args.levels) * ny * nx
    n = comm.Get_size()
    check_fits_in_memory(-(-values // n) * BYTES_PER_VALUE,
                         f"make-dataset --shape {nt},{ny},{nx}"
                         + (f" --levels {args.levels}" if args.levels else "")
                         + f" on {n} rank{'s' * (n > 1)}", comm)
    make_dataset(args.output, args.shape, calendar=args.calendar, land_mask=args.land_mask,
                 compress=args.compress, descending_lat=args.descending_lat,
                 levels=args.levels, lon180=args.lon180, packed=args.packed, var=args.var,
                 step_days=args.step_days, overwrite=args.overwrite, comm=comm)
