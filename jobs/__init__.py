"""The job registry: each built-in job's name, module and weak-scaling rule.

``clusterkit run NAME`` and ``clusterkit bench`` read it. It imports no job module (they
start MPI when imported), so the weak-scaling rules — how a job's arguments grow with the
ranks, pure argument arithmetic — are declarations (:mod:`._weak`), in one form wherever
they come from: the registry's entries here, a module-level ``WEAK_SCALING = {...}``
literal in a user's job file (read with :mod:`ast`, never imported), or ``clusterkit
bench weak --scale``.
"""

import dataclasses
import os
import sys

from clusterkit.errors import InputError

from ._weak import (HOW, Rule, _arguments, _ints, _option, _parse, declaration_in, declared,
                    job_source, parse_scale)

__all__ = ["Job", "JOBS", "Rule", "declared", "parse_scale", "weak_rule", "weak_arguments"]

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
    (``weak(job_args, ranks, workdir)`` → ``(args, set-up commands)``, a :func:`declared`
    rule or a function for what a declaration cannot say; ``None``: it cannot be weakly
    scaled)."""

    module: str
    weak_rule: str = None
    weak: object = None


#: job name (as typed after ``clusterkit run``) -> its entry
JOBS = {
    "demo": Job("clusterkit.jobs.demo", "--shape T,Y,X: Y x ranks",
                declared({"--shape": {"grow": "1,ranks,1", "default": "24,181,360"}},
                         "demo")),
    "climate-stats": Job("clusterkit.jobs.climate_stats",
                         "synthetic dataset per rank count, --shape T,Y,X with Y x ranks",
                         _weak_climate),
    "diffusion": Job("clusterkit.jobs.diffusion", "--shape NY,NX: both x sqrt(ranks)",
                     declared({"--shape": {"grow": "sqrt,sqrt", "default": "721,1440"}},
                              "diffusion")),
    "stencil": Job("clusterkit.jobs.stencil", "GRID_SIZE x sqrt(ranks)",
                   declared({2: "sqrt"}, "stencil", usage="ITERATIONS GRID_SIZE "
                            "[star|box] [RADIUS] after --, e.g. -- 10 1000")),
}


def weak_rule(job, target=None, is_module=True, scale=None):
    """Return the :class:`Rule` that grows ``job`` for weak scaling.

    ``scale`` (``--scale`` values, see :func:`parse_scale`) takes precedence; then the
    registry's rule of a built-in job; then the ``WEAK_SCALING`` declaration of the job's
    file (``target``, a script or, with ``is_module``, a module path), read with
    :mod:`ast` without importing it. A declaration naming an option or positional
    argument that the file's ``add_argument`` calls do not define is refused.

    Raises
    ------
    InputError
        If there is no rule, or the declaration is not of the form :func:`declared` takes.
    """
    entry = JOBS.get(job)
    path = tree = known = None
    if scale or entry is None:
        path = job_source(entry.module if entry else target, entry is not None or is_module)
        tree = _parse(path) if path else None
        known = _arguments(tree) if tree is not None else None
    if scale:
        grow = declared(parse_scale(scale), job, source="--scale", known=known)
        return Rule(f"{grow.text} (--scale)", grow)
    if entry is not None and entry.weak is not None:
        return Rule(entry.weak_rule, entry.weak)
    found = declaration_in(tree, path) if tree is not None else None
    if found is None:
        scalable = sorted(n for n, j in JOBS.items() if j.weak is not None)
        raise InputError(f"no weak-scaling rule for job {job!r}: {HOW}; built-in jobs "
                         f"that can be weakly scaled: {', '.join(scalable)} (use "
                         "'bench strong' for any job)")
    grow = declared(found[0], job, source=found[1], known=known)
    return Rule(f"{grow.text} (WEAK_SCALING in {os.path.basename(path)})", grow)


def weak_arguments(job, job_args, ranks, workdir, rule=None):
    """Return ``(args, setup_commands)`` of ``job`` scaled to ``ranks`` for weak scaling.

    ``rule`` is the job's :class:`Rule` (default: :func:`weak_rule` of a built-in job).
    How the built-in jobs grow with ``r`` ranks (sizes rounded to the nearest integer):
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
    rule = weak_rule(job) if rule is None else rule
    return rule(job_args, ranks, workdir)
