"""``clusterkit make-dataset``: write the synthetic CF climate dataset."""

import argparse

from ..options import parse_ints

__all__ = ["add_parser", "parse_shape"]


def parse_shape(text):
    """argparse type: ``T,Y,X`` as three positive integers."""
    shape = parse_ints(text, 3)
    if shape is None:
        raise argparse.ArgumentTypeError(f"must be three positive integers T,Y,X, got {text!r}")
    return shape


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
    p.add_argument("--levels", type=int, default=0, metavar="K", help="pressure levels")
    p.add_argument("--packed", action="store_true", help="int16 with scale_factor/add_offset")
    p.add_argument("--var", default="tas", help="variable name (default tas)")
    p.add_argument("--step-days", type=float, default=1.0, help="days between time steps")
    p.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    p.set_defaults(handler=handle)


def handle(args):
    """Write the dataset; return 0."""
    from clusterkit.io.synth import make_dataset
    from clusterkit.comm import world
    make_dataset(args.output, args.shape, calendar=args.calendar, land_mask=args.land_mask,
                 compress=args.compress, descending_lat=args.descending_lat,
                 levels=args.levels, lon180=args.lon180, packed=args.packed, var=args.var,
                 step_days=args.step_days, overwrite=args.overwrite)
    if world().Get_rank() == 0:
        print(f"wrote {args.output}")
    return 0
