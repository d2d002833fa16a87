"""The job registry: each built-in job's name, module and weak-scaling rule.

``clusterkit run NAME`` and ``clusterkit bench`` read it. It imports no job module (they
start MPI when imported), so the weak-scaling rules — how a job's arguments grow with the
ranks, pure argument arithmetic — are declared here beside the module names.
"""

import dataclasses
import math
import os
import sys

from clusterkit.errors import InputError
from clusterkit.options import parse_ints

__all__ = ["Job", "JOBS", "weak_arguments"]


def _option(args, name, default):
    """Value of ``--name V`` / ``--name=V`` in ``args`` and ``args`` without it."""
    rest, value, i = [], default, 0
    while i < len(args):
        a = args[i]
        if a == name and i + 1 < len(args):
            value, i = args[i + 1], i + 2
            continue
        if a.startswith(name + "="):
            value = a.split("=", 1)[1]
        else:
            rest.append(a)
        i += 1
    return value, rest


def _ints(text, n, what):
    vals = parse_ints(text, n)
    if vals is None:
        raise InputError(f"{what} must be {n} positive integers, got {text!r}")
    return list(vals)


def _weak_stencil(args, r, workdir):
    pos = [a for a in args if not a.startswith("-")]
    if len(pos) < 2:
        raise InputError("weak scaling of stencil needs its arguments ITERATIONS GRID_SIZE "
                         "[star|box] [RADIUS] after --, e.g. -- 10 1000")
    i = args.index(pos[1])
    n = _ints(pos[1], 1, "stencil's GRID_SIZE")[0]
    return args[:i] + [str(round(n * math.sqrt(r)))] + args[i + 1:], []


def _weak_diffusion(args, r, workdir):
    shape, rest = _option(args, "--shape", "721,1440")
    ny, nx = _ints(shape, 2, "diffusion's --shape")
    s = math.sqrt(r)
    return rest + ["--shape", f"{round(ny * s)},{round(nx * s)}"], []


def _weak_demo(args, r, workdir):
    shape, rest = _option(args, "--shape", "24,181,360")
    t, y, x = _ints(shape, 3, "demo's --shape")
    return rest + ["--shape", f"{t},{y * r},{x}"], []


def _weak_climate(args, r, workdir):
    shape, rest = _option(args, "--shape", "120,32,144")
    t, y, x = _ints(shape, 3, "climate-stats' --shape (weak scaling)")
    data = os.path.join(workdir, f"climate-{t}x{y * r}x{x}.nc")
    make = [sys.executable, "-m", "clusterkit.cli.main", "make-dataset", data,
            "--shape", f"{t},{y * r},{x}", "--overwrite"]
    out = os.path.join(workdir, f"climate-stats-r{r}.nc")
    return [data, out, "--overwrite"] + rest, [make]


@dataclasses.dataclass(frozen=True)
class Job:
    """A built-in job: the module ``python -m`` runs, and how it grows for weak scaling
    (``weak(job_args, ranks, workdir)`` → ``(args, set-up commands)``; ``None``: it
    cannot be weakly scaled)."""

    module: str
    weak_rule: str = None
    weak: object = None


#: job name (as typed after ``clusterkit run``) -> its entry
JOBS = {
    "demo": Job("clusterkit.jobs.demo", "--shape T,Y,X: Y x ranks", _weak_demo),
    "climate-stats": Job("clusterkit.jobs.climate_stats",
                         "synthetic dataset per rank count, --shape T,Y,X with Y x ranks",
                         _weak_climate),
    "diffusion": Job("clusterkit.jobs.diffusion", "--shape NY,NX: both x sqrt(ranks)",
                     _weak_diffusion),
    "stencil": Job("clusterkit.jobs.stencil", "GRID_SIZE x sqrt(ranks)", _weak_stencil),
}


def weak_arguments(job, job_args, ranks, workdir):
    """Return ``(args, setup_commands)`` of ``job`` scaled to ``ranks`` for weak scaling.

    How each job grows with ``r`` ranks (sizes rounded to the nearest integer):
    stencil: ``GRID_SIZE`` (2nd positional) × √r, cells per rank constant; diffusion:
    ``--shape NY,NX`` (default 721,1440), both × √r; demo: ``--shape T,Y,X`` (default
    24,181,360), Y × r; climate-stats: a synthetic dataset per rank count, ``--shape
    T,Y,X`` (default 120,32,144, consumed here) with Y × r, written with ``make-dataset``
    before the runs, INPUT/OUTPUT supplied here (give only climate-stats options).

    Raises
    ------
    InputError
        If the job has no weak-scaling rule or its arguments cannot be scaled.
    """
    entry = JOBS.get(job)
    if entry is None or entry.weak is None:
        scalable = sorted(n for n, j in JOBS.items() if j.weak is not None)
        raise InputError(f"no weak-scaling rule for job {job!r}; jobs that can be weakly "
                         f"scaled: {', '.join(scalable)} (use 'bench strong' for any job)")
    return entry.weak(list(job_args), ranks, workdir)
