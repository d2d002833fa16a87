"""Halo exchange and Allreduce within one node (shared memory) vs across nodes (TCP), in one run.

    tools/cluster-local.sh up 3
    python benchmarks/internode.py [--rounds 3] [--repeat 7] [--out FILE]

Runs on the simulated cluster of ``tools/cluster-local.sh`` (network namespaces joined
by veth pairs on a bridge; docs/multinode.md). Each *placement* is one ``mpirun
--hostfile`` launched through the cluster's launch agent, with the transport forced
(``pml=ob1``, ``btl=self,vader`` or ``btl=self,tcp``) so that the label is what ran:

- ``shm-1node-2`` / ``shm-1node-3``: 2 / 3 ranks on node ckn1, shared memory (vader);
- ``tcp-1node-2``: 2 ranks on ckn1 over TCP (the kernel's TCP stack without the veth
  hop: separates TCP's own cost from the virtual link);
- ``tcp-2nodes-2`` / ``tcp-3nodes-3``: one rank on each of 2 / 3 nodes, TCP over veth.

Every placement measures, timing the slowest rank (``clusterkit.bench.record``):
Allreduce (``MPI.SUM``) of 8 bytes, of the exact-sum accumulator (the int64 digits
``DistArray.sum`` reduces: 71 words), of 8 MiB of float64, and ``DistArray.sum`` itself on a
tiny array; clusterkit's halo exchange in the stencil job's pattern (non-periodic 2-D
grid, width 2, no corners) for a few block sizes. The 2-rank placements also measure a
ping-pong between ranks 0 and 1 from 8 B to 8 MiB, to which a latency/bandwidth
(alpha-beta) model ``t(m) = alpha + beta*m`` is fitted per transport (alpha from messages
up to 2 KiB, beta from 512 KiB up); the JSON compares it with the measured collectives
and halo exchanges.

Placements are interleaved over ``--rounds`` so drift in the machine's load hits all of
them alike; each result is the median (and minimum) of every sample of every round, and
the model is fitted twice: to the medians and to the minima (the best the link gave). The
ranks share the machine's cores with each other (3 ranks on 2 cores here) and with
whatever else runs, so every placement sets ``mpi_yield_when_idle`` (``--no-yield``
leaves Open MPI's busy polling on).
"""

import argparse
import importlib
import json
import math
import os
import pathlib
import shlex
import subprocess
import sys
import tempfile
import time

import numpy as np

REPO = pathlib.Path(__file__).resolve().parent.parent
CLUSTER = REPO / "tools" / "cluster-local.sh"

# name: (ranks, nodes, btl)
PLACEMENTS = {
    "shm-1node-2": (2, 1, "self,vader"),
    "tcp-1node-2": (2, 1, "self,tcp"),
    "tcp-2nodes-2": (2, 2, "self,tcp"),
    "shm-1node-3": (3, 1, "self,vader"),
    "tcp-3nodes-3": (3, 3, "self,tcp"),
}
# The 2-rank placement whose ping-pong fit models each placement's transport.
FIT_OF = {"shm-1node-2": "shm-1node-2", "shm-1node-3": "shm-1node-2",
          "tcp-1node-2": "tcp-1node-2", "tcp-2nodes-2": "tcp-2nodes-2",
          "tcp-3nodes-3": "tcp-2nodes-2"}
PINGPONG_BYTES = [8 * 4 ** k for k in range(11)]          # 8 B .. 8 MiB
ALLREDUCE_8MIB = 1 << 20                                  # float64 count
HALO_BLOCKS = (64, 512, 4096)
HALO_WIDTH = 2                                            # the stencil job's default radius


# ---- worker: runs under mpirun -----------------------------------------------------------

def _worker(args):
    t0 = time.perf_counter()
    for mod in ("clusterkit", "numba"):        # timed: the start-up cost of a rank
        importlib.import_module(mod)
    from clusterkit.bench.record import machine, summary, time_slowest, write_json
    from clusterkit.comm import MPI, world
    from clusterkit.grid import Grid
    from clusterkit.kernels import local_sum_exact
    from clusterkit.partition import choose_grid
    import_s = time.perf_counter() - t0

    comm = world()
    rank, size = comm.Get_rank(), comm.Get_size()
    rep = args.repeat
    out = {"placement": args.placement, "ranks": size,
           "hosts": comm.allgather(MPI.Get_processor_name()),
           "import_s_max": comm.allreduce(import_s, op=MPI.MAX),
           "btl": os.environ.get("OMPI_MCA_btl"), "pml": os.environ.get("OMPI_MCA_pml")}

    if size == 2:
        rows = []
        for m in PINGPONG_BYTES:
            buf = np.zeros(m, np.uint8)
            peer = 1 - rank

            def pingpong():
                if rank == 0:
                    comm.Send(buf, peer, 7)
                    comm.Recv(buf, peer, 7)
                else:
                    comm.Recv(buf, peer, 7)
                    comm.Send(buf, peer, 7)
            inner = max(2, min(300, (4 << 20) // m))
            s = time_slowest(pingpong, rep, warmup=2, comm=comm, inner=inner)
            rows.append({"bytes": m, "one_way_s": [x / 2 for x in s]})
        out["pingpong"] = rows

    acc = local_sum_exact(np.ones(4))
    cases = {"allreduce_8B": np.ones(1), "allreduce_exactacc": acc,
             "allreduce_8MiB": np.ones(ALLREDUCE_8MIB)}
    coll = {}
    for name, send in cases.items():
        recv = np.empty_like(send)
        inner = max(2, min(300, (4 << 20) // send.nbytes))
        s = time_slowest(lambda: comm.Allreduce(send, recv, op=MPI.SUM), rep, comm=comm,
                         inner=inner)
        coll[name] = {"bytes": send.nbytes, "samples_s": s}
    tiny = Grid((size,), comm=comm).full(1.0)
    coll["DistArray.sum"] = {"bytes": acc.nbytes,
                             "samples_s": time_slowest(tiny.sum, rep, comm=comm, inner=100)}
    # gamma: the local reduction operation's cost per byte (the compute in Allreduce)
    a, b = np.ones(ALLREDUCE_8MIB), np.ones(ALLREDUCE_8MIB)
    gam = time_slowest(lambda: np.add(a, b, out=b), rep, comm=comm, inner=3)
    out["gamma_s_per_byte"] = summary(gam)["median"] / a.nbytes
    out["allreduce"] = coll

    halo = []
    dims = choose_grid((1 << 20, 1 << 20), size, halo=HALO_WIDTH)
    for blk in HALO_BLOCKS:
        grid = Grid((blk * dims[0], blk * dims[1]), periodic=False, halo=HALO_WIDTH,
                    corners=False, dims=dims, comm=comm)
        u = grid.full(1.0)
        inner = max(2, min(200, (1 << 16) // blk))
        s = time_slowest(u.exchange_halos, rep, comm=comm, inner=inner)
        sent = _halo_bytes_sent(u, HALO_WIDTH)
        halo.append({"block": blk, "width": HALO_WIDTH, "process_grid": list(dims),
                     "bytes_sent_max_rank": comm.allreduce(sent, op=MPI.MAX),
                     "samples_s": s})
        u.halo.free()
        del u
    out["halo"] = halo
    out["machine"] = machine(comm)
    if rank == 0:
        write_json(args.out, out)
    return 0


def _halo_bytes_sent(u, width):
    """Bytes this rank sends per exchange: its faces that have a neighbour."""
    from clusterkit.comm import MPI
    topo, shape = u.grid.topology, u.grid.local_shape
    total = 0
    for axis in range(len(shape)):
        face = width * int(np.prod([n for i, n in enumerate(shape) if i != axis]))
        for step in (-1, 1):
            off = tuple(step if i == axis else 0 for i in range(len(shape)))
            if topo.neighbour(off) != MPI.PROC_NULL:
                total += face * u.interior.itemsize
    return total


# ---- driver: launches the placements ----------------------------------------------------

def _cluster_env():
    """This environment plus ``cluster-local.sh env``'s exports, and the nodes whose
    namespaces exist (their Slurm daemons are not needed); exits if there are none."""
    exported = subprocess.run(["bash", str(CLUSTER), "env"], capture_output=True, text=True,
                              timeout=60)
    if exported.returncode != 0:
        sys.exit("internode: the simulated cluster is not running (tools/cluster-local.sh "
                 "up 3 first): " + exported.stderr.strip())
    env = dict(os.environ)
    for line in exported.stdout.splitlines():
        words = shlex.split(line)
        if words[:1] == ["export"]:
            key, _, value = words[1].partition("=")
            env[key] = value
    hostfile = pathlib.Path(env["OMPI_MCA_orte_default_hostfile"])
    ns = pathlib.Path(env["CLUSTERKIT_CLUSTER_DIR"]) / "ns"
    nodes = [ln.split()[0] for ln in hostfile.read_text().splitlines() if ln.strip()]
    nodes = [n for n in nodes if pathlib.Path("/run/netns", n).exists()
             and (ns / f"{n}.uts").exists()]
    if not nodes:
        sys.exit(f"internode: no node namespaces of {hostfile} exist (tools/cluster-local.sh "
                 "up 3 first)")
    return env, sorted(nodes)


def _run_placement(name, env, nodes, workdir, args, round_no):
    from clusterkit.testing import run_command
    ranks, nnodes, btl = PLACEMENTS[name]
    if nnodes > len(nodes):
        return None
    hostfile = workdir / f"{name}.hosts"
    hostfile.write_text("".join(f"{n} slots={ranks if nnodes == 1 else 1}\n"
                                for n in nodes[:nnodes]))
    out = workdir / f"{name}-{round_no}.json"
    run_env = {**env, "OMPI_MCA_pml": "ob1", "OMPI_MCA_btl": btl,
               "OMPI_MCA_mpi_yield_when_idle": "0" if args.no_yield else "1",
               "OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
               "NUMBA_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    run_env.pop("OMPI_MCA_orte_default_hostfile", None)
    argv = ["mpirun", "-n", str(ranks), "--hostfile", str(hostfile), "--map-by", "node",
            "--bind-to", "none", sys.executable, str(pathlib.Path(__file__).resolve()),
            "--worker", "--placement", name, "--repeat", str(args.repeat), "--out", str(out)]
    t0 = time.monotonic()
    res = run_command(argv, timeout=args.timeout, env=run_env, cwd=str(REPO))
    wall = time.monotonic() - t0
    if res.returncode != 0:
        # a node may die under us (the node-failure tests kill a node's processes)
        print(f"internode: placement {name} failed (status {res.returncode}): "
              f"{res.stderr.strip()[-500:]}", file=sys.stderr)
        return {"failed": res.returncode}
    rec = json.loads(out.read_text())
    rec["launch_wall_s"] = wall
    return rec


def fit_alpha_beta(sizes, times, small=2048, large=524288):
    """Hockney's ``t = alpha + beta*m``: ``alpha`` the median time of messages of at most
    ``small`` bytes, ``beta`` the least-squares slope of ``t - alpha`` over messages of at
    least ``large`` bytes (one line cannot follow both the eager and the rendezvous
    protocol, nor in-cache and out-of-cache copies). Returns (alpha, beta, max_rel) with
    the largest relative residual over all sizes."""
    m, t = np.asarray(sizes, float), np.asarray(times, float)
    alpha = float(np.median(t[m <= small]))
    big = m >= large
    beta = float(np.dot(m[big], t[big] - alpha) / np.dot(m[big], m[big]))
    rel = np.abs(alpha + beta * m - t) / t
    return alpha, beta, float(rel.max())


def model_allreduce(p, m, alpha, beta, gamma):
    """Allreduce time under Open MPI 4.1's fixed rules for P <= 3, or the usual textbook
    algorithm beyond: recursive doubling below 256 KiB (log2 P exchanges of m bytes; a
    non-power-of-two P adds a fold and an unfold), Rabenseifner above (reduce-scatter and
    allgather: 2 log2 P latencies, 2 (P-1)/P m bytes, (P-1)/P m reduced)."""
    p2 = 1 << int(math.floor(math.log2(p)))
    extra = 0.0 if p2 == p else 2 * (alpha + beta * m) + gamma * m
    if m < 262144:
        return extra + math.log2(p2) * (alpha + (beta + gamma) * m)
    frac = (p2 - 1) / p2
    return extra + 2 * math.log2(p2) * alpha + 2 * frac * m * beta + frac * m * gamma


def _summarise(records):
    from clusterkit.bench.describe import summary
    result = {}
    for name, recs in records.items():
        if not recs:
            continue
        first = recs[0]
        r = {"ranks": first["ranks"], "hosts": first["hosts"], "btl": first["btl"],
             "import_s_max": summary([x["import_s_max"] for x in recs]),
             "launch_wall_s": summary([x["launch_wall_s"] for x in recs]),
             "gamma_s_per_byte": float(np.median([x["gamma_s_per_byte"] for x in recs]))}
        if "pingpong" in first:
            r["pingpong"] = [{"bytes": row["bytes"], "one_way_s": summary(
                sum((x["pingpong"][i]["one_way_s"] for x in recs), []))}
                for i, row in enumerate(first["pingpong"])]
        r["allreduce"] = {k: {"bytes": v["bytes"], "time_s": summary(
            sum((x["allreduce"][k]["samples_s"] for x in recs), []))}
            for k, v in first["allreduce"].items()}
        r["halo"] = [{**{k: v for k, v in row.items() if k != "samples_s"},
                      "time_s": summary(sum((x["halo"][i]["samples_s"] for x in recs), []))}
                     for i, row in enumerate(first["halo"])]
        result[name] = r
    for name, r in result.items():
        for stat, key in (("median", "fit"), ("min", "fit_min")):
            if "pingpong" in r:
                a, b, rel = fit_alpha_beta([p["bytes"] for p in r["pingpong"]],
                                           [p["one_way_s"][stat] for p in r["pingpong"]])
                r[key] = {"alpha_s": a, "beta_s_per_byte": b, "bandwidth_GBs": 1e-9 / b,
                          "max_rel_residual": rel}
    for name, r in result.items():
        for stat, key, suffix in (("median", "fit", ""), ("min", "fit_min", "_min")):
            fit = result.get(FIT_OF[name], {}).get(key)
            if not fit:
                continue
            a, b, g = fit["alpha_s"], fit["beta_s_per_byte"], r["gamma_s_per_byte"]
            for k, v in r["allreduce"].items():
                if k.startswith("allreduce_"):
                    v["model" + suffix + "_s"] = m = model_allreduce(r["ranks"], v["bytes"],
                                                                     a, b, g)
                    v["measured_over_model" + suffix] = v["time_s"][stat] / m
            for row in r["halo"]:
                row["model" + suffix + "_s"] = m = a + b * row["bytes_sent_max_rank"]
                row["measured_over_model" + suffix] = row["time_s"][stat] / m
    return result


def _print(result):
    for name, r in result.items():
        print(f"== {name}: {r['ranks']} ranks on {sorted(set(r['hosts']))}, btl {r['btl']}, "
              f"import {r['import_s_max']['median']:.2f} s, "
              f"mpirun {r['launch_wall_s']['median']:.1f} s")
        for key in ("fit", "fit_min"):
            if key in r:
                f = r[key]
                print(f"   {key:7s} alpha {f['alpha_s'] * 1e6:8.2f} us  beta "
                      f"{f['beta_s_per_byte'] * 1e9:.4f} ns/B ({f['bandwidth_GBs']:.2f} GB/s),"
                      f" max residual {f['max_rel_residual']:.0%}")
        if "pingpong" in r:
            print("   ping-pong one-way: " + "  ".join(
                f"{p['bytes']}B {p['one_way_s']['median'] * 1e6:.1f}" for p in r["pingpong"])
                + " us")
        for k, v in r["allreduce"].items():
            extra = (f"  model {v['model_s'] * 1e6:9.1f} us ({v['measured_over_model']:.2f}x)"
                     f"  min {v['time_s']['min'] * 1e6:9.1f} us, min-model "
                     f"{v['model_min_s'] * 1e6:9.1f} us" if "model_s" in v else "")
            print(f"   {k:20s} {v['bytes']:8d} B {v['time_s']['median'] * 1e6:10.1f} us{extra}")
        for row in r["halo"]:
            extra = (f"  model {row['model_s'] * 1e6:9.1f} us "
                     f"({row['measured_over_model']:.2f}x)  min "
                     f"{row['time_s']['min'] * 1e6:9.1f} us, min-model "
                     f"{row['model_min_s'] * 1e6:9.1f} us" if "model_s" in row else "")
            print(f"   halo {row['block']:5d}^2 w{row['width']} "
                  f"{row['bytes_sent_max_rank']:8d} B/rank "
                  f"{row['time_s']['median'] * 1e6:10.1f} us{extra}")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--repeat", type=int, default=7, help="samples per case per round")
    p.add_argument("--placements", default=",".join(PLACEMENTS))
    p.add_argument("--timeout", type=float, default=600, help="seconds per mpirun")
    p.add_argument("--no-yield", action="store_true",
                   help="leave Open MPI's busy polling on (mpi_yield_when_idle=0)")
    p.add_argument("--out", default="bench-results/internode.json")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--placement", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        return _worker(args)
    names = args.placements.split(",")
    unknown = [n for n in names if n not in PLACEMENTS]
    if unknown:
        p.error(f"unknown placement(s) {unknown}; valid: {', '.join(PLACEMENTS)}")
    env, nodes = _cluster_env()
    records = {n: [] for n in names}
    failures = []
    with tempfile.TemporaryDirectory(prefix="ck-internode-") as tmp:
        for rnd in range(args.rounds):
            for name in names:
                for _ in range(2):        # one retry of a run a dead node ended
                    rec = _run_placement(name, env, nodes, pathlib.Path(tmp), args, rnd)
                    if rec is None or "failed" not in rec:
                        break
                    failures.append({"placement": name, "round": rnd,
                                     "status": rec["failed"]})
                    rec = None
                if rec is not None:
                    records[name].append(rec)
                    print(f"round {rnd + 1}/{args.rounds} {name}: "
                          f"{rec['launch_wall_s']:.1f} s", flush=True)
        machine = next(r for recs in records.values() for r in recs)["machine"]
    result = _summarise(records)
    _print(result)
    from clusterkit.bench.record import write_json
    write_json(args.out, {"benchmark": "internode", "machine": machine, "rounds": args.rounds,
                          "repeat": args.repeat, "nodes": nodes,
                          "yield_when_idle": not args.no_yield,
                          "failed_runs": failures, "placements": result})
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
