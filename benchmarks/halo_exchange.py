"""Halo exchange time vs local block size, and as a fraction of a 5-point stencil step.

    mpirun -n 2 python benchmarks/halo_exchange.py [--sizes 64,...,4096] [--out FILE]

Every rank owns a b×b float64 block of a doubly periodic grid (so every rank
has all four neighbours) and exchanges faces of width 1 and 2. The stencil
step is the radius-1 star stencil kernel (5 points) on the same block, timed
the same way. Times are medians over repeats of the slowest rank.
"""

import argparse
import sys


from clusterkit.bench.record import machine, summary, time_slowest, write_json
from clusterkit.comm import world
from clusterkit.grid import Grid
from clusterkit.kernels import star_stencil, stencil_weights
from clusterkit.log import rprint
from clusterkit.partition import choose_grid


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", default="64,128,256,512,1024,2048,4096")
    p.add_argument("--widths", default="1,2")
    p.add_argument("--repeat", type=int, default=15)
    p.add_argument("--out", default="bench-results/halo_exchange.json")
    args = p.parse_args(argv)
    comm = world()
    dims = choose_grid((1 << 20, 1 << 20), comm.Get_size())
    rows = []
    for b in (int(s) for s in args.sizes.split(",")):
        for width in (int(s) for s in args.widths.split(",")):
            grid = Grid((b * dims[0], b * dims[1]), periodic=True, halo=width,
                        corners=False, dims=dims, comm=comm)
            u = grid.full(1.0)
            out = grid.zeros()
            wts = stencil_weights(1, "star")
            inner = max(1, min(200, (256 * 256) // (b * b) * 4))
            halo = summary(time_slowest(u.exchange_halos, args.repeat, comm=comm, inner=inner))
            g = u.ghosted[width - 1:u.ghosted.shape[0] - width + 1,
                          width - 1:u.ghosted.shape[1] - width + 1]
            o = out.ghosted[width - 1:out.ghosted.shape[0] - width + 1,
                            width - 1:out.ghosted.shape[1] - width + 1]
            step = summary(time_slowest(lambda: star_stencil(g, wts, 1, o), args.repeat,
                                        comm=comm, inner=inner))
            row = {"block": b, "width": width, "halo_s": halo, "stencil_step_s": step,
                   "halo_fraction_of_step": halo["median"] / step["median"],
                   "halo_bytes_per_rank": 8 * width * 2 * (2 * b)}
            rows.append(row)
            rprint(f"block {b:5d}^2 width {width}: halo {halo['median'] * 1e6:9.1f} us  "
                   f"stencil {step['median'] * 1e6:10.1f} us  "
                   f"halo/step {row['halo_fraction_of_step']:6.1%}", comm=comm)
            u.halo.free()
    info = machine(comm)  # collective: every rank
    if comm.Get_rank() == 0:
        write_json(args.out, {"benchmark": "halo_exchange", "machine": info,
                              "process_grid": list(dims), "results": rows})
        rprint(f"wrote {args.out}", comm=comm)
    return 0


if __name__ == "__main__":
    sys.exit(main())
