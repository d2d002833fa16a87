"""The job registry: each built-in job's name, module and weak-scaling rule.

``clusterkit run NAME`` and ``clusterkit bench`` read it. It imports no job module (they
start MPI when imported), so the weak-scaling rules — how a job's arguments grow with the
ranks, pure argument arithmetic — are declarations, in one form wherever they come from:
the registry's entries here, a module-level ``WEAK_SCALING = {...}`` literal in a user's
job file (read with :mod:`ast`, never imported), or ``clusterkit bench weak --scale``
(see :func:`declared`).
"""

import dataclasses
import importlib.util
import math
import os
import sys

from clusterkit.errors import InputError
from clusterkit.options import parse_ints

__all__ = ["Job", "JOBS", "Rule", "declared", "parse_scale", "weak_rule", "weak_arguments"]

#: the growth factors a declaration may name, as functions of the rank count
FACTORS = {"1": lambda r: 1, "ranks": lambda r: r, "sqrt": math.sqrt,
           "cbrt": lambda r: r ** (1 / 3)}
#: how to declare a rule, for error messages
_HOW = ('declare one in the job\'s file (a module-level WEAK_SCALING = {"--shape": '
        '"1,ranks,1"}) or give it with --scale (e.g. --scale shape=1,ranks,1)')
_FORM = ('{ARGUMENT: GROWTH}, ARGUMENT an option such as "--shape" or a positional '
         'argument\'s number (1, 2, ...), GROWTH "F,F,..." (one factor per comma-separated '
         'value: 1, ranks, sqrt or cbrt) or {"grow": "F,F,...", "default": "VALUE"}')


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
        raise InputError(f"{what} must be {n} positive integer{'s' if n > 1 else ''}, "
                         f"got {text!r}")
    return list(vals)


def _grow(text, factors, ranks, what):
    """``text`` ("a,b,...") with each value times its factor at ``ranks``, rounded."""
    values = _ints(text, len(factors), what)
    return ",".join(str(round(v * FACTORS[f](ranks))) for v, f in zip(values, factors))


def _key(key, where):
    """An option name (``"--name"``) or a positional number (int >= 1) from a declaration."""
    if isinstance(key, str) and key.isdigit():
        key = int(key)
    if isinstance(key, int) and not isinstance(key, bool):
        if key < 1:
            raise InputError(f"{where}: positional argument numbers start at 1, got {key}")
        return key
    if not isinstance(key, str) or not key.strip("-") or any(c.isspace() or c == "="
                                                             for c in key):
        raise InputError(f"{where}: {key!r} is neither an option name (such as '--shape') "
                         "nor a positional argument's number (1, 2, ...)")
    return key if key.startswith("-") else "--" + key


def _name(key):
    return key if isinstance(key, str) else f"positional argument {key}"


def _growth(key, value, where):
    """``(factors, default)`` of one declaration entry."""
    default, key = None, _name(key)
    if isinstance(value, dict):
        unknown = sorted(map(str, set(value) - {"grow", "default"}))
        if unknown or "grow" not in value:
            raise InputError(f"{where}: the entry of {key} "
                             + (f"has unknown key{'s' if len(unknown) > 1 else ''} "
                                f"{', '.join(map(repr, unknown))}" if unknown
                                else "lacks 'grow'")
                             + "; valid keys: 'grow' (required), 'default'")
        value, default = value["grow"], value.get("default")
        if not key.startswith("-") and default is not None:
            raise InputError(f"{where}: a default is for options only, not for {key}")
    if not isinstance(value, str):
        raise InputError(f"{where}: the growth of {key} must be a string such as "
                         f"'1,ranks,1', got {value!r}")
    factors = [f.strip() for f in value.split(",")]
    bad = [f for f in factors if f not in FACTORS]
    if bad:
        raise InputError(f"{where}: unknown growth factor {bad[0]!r} for {key} in "
                         f"{value!r}; one factor per comma-separated value, each "
                         f"{', '.join(FACTORS)}")
    if default is not None:
        if not isinstance(default, str):
            raise InputError(f"{where}: the default of {key} must be a string such as "
                             f"'24,181,360', got {default!r}")
        _ints(default, len(factors), f"{where}: the default of {key}")
    return factors, default


def _arguments(tree):
    """``(options, number of positional arguments)`` that the ``add_argument`` calls of a
    parsed job file define, or ``None`` when that cannot be told: no such call, a name
    that is not a literal, or a positional argument taking several values."""
    import ast
    options, positionals, found = set(), 0, False
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr == "add_argument"):
            continue
        names = [a.value for a in node.args if isinstance(a, ast.Constant)
                 and isinstance(a.value, str)]
        if not names or len(names) != len(node.args):
            return None
        found = True
        if names[0].startswith("-"):
            options.update(names)
        elif any(k.arg == "nargs" for k in node.keywords) and not any(
                k.arg == "nargs" and isinstance(k.value, ast.Constant)
                and k.value.value == "?" for k in node.keywords):
            return None                 # a positional of several values: cannot count
        else:
            positionals += 1
    return (options, positionals) if found else None


def declared(declaration, job, *, source=None, usage=None, known=None):
    """Return the rule ``grow(job_args, ranks, workdir)`` → ``(args, [])`` of a declaration.

    The form (the registry's entries, a job file's ``WEAK_SCALING`` and ``--scale``)::

        {ARGUMENT: GROWTH, ...}

    ARGUMENT is an option (``"--shape"``, given to the job as ``--shape V`` or
    ``--shape=V``; ``"shape"`` means ``--shape``) or ``k`` (int >= 1: the job's k-th
    argument that does not start with ``-``, so options go after the positional arguments
    or as ``--name=V``). GROWTH is ``"F,F,..."``, one factor per comma-separated positive
    integer of the value — ``1`` (kept), ``ranks`` (× r),
    ``sqrt`` (× √r), ``cbrt`` (× ∛r), results rounded to the nearest integer — or
    ``{"grow": "F,F,...", "default": "VALUE"}`` for an option whose value is ``VALUE``
    when the job's arguments do not give it. A grown option is moved to the end of the
    arguments as ``--name VALUE``; a positional argument is replaced where it is.

    Parameters
    ----------
    declaration : dict
    job : str
        The job's name as typed, for messages.
    source : str, optional
        Where the declaration comes from, for messages (e.g. ``"--scale"``).
    usage : str, optional
        How to give the job's positional arguments, for the message when too few are
        given (e.g. ``"ITERATIONS GRID_SIZE after --"``).
    known : tuple, optional
        ``(options, number of positional arguments)`` the job defines; a declaration
        naming others is refused.

    Raises
    ------
    InputError
        If the declaration is not of this form or names an argument the job lacks.
    """
    where = source or f"the weak-scaling rule of {job}"
    if not isinstance(declaration, dict) or not declaration:
        raise InputError(f"{where} must be a non-empty dict {_FORM}; got {declaration!r}")
    rules = {}
    for key, value in declaration.items():
        k = _key(key, where)
        if k in rules:
            raise InputError(f"{where} declares {_name(k)} twice")
        rules[k] = _growth(k, value, where)
    if known is not None:
        options, positionals = known
        for k in rules:
            if isinstance(k, int) and k > positionals:
                raise InputError(f"{where} grows positional argument {k}, but {job} has "
                                 f"{positionals} positional argument"
                                 f"{'s' if positionals != 1 else ''}")
            if isinstance(k, str) and k not in options:
                raise InputError(f"{where} grows {k}, which {job} does not define; its "
                                 f"options: {', '.join(sorted(options)) or 'none'}")

    def grow(args, r, workdir):  # noqa: ARG001 - a declared rule makes no set-up files
        args = list(args)
        for k, (factors, default) in rules.items():
            label = ",".join(factors)
            if isinstance(k, int):
                pos = [i for i, a in enumerate(args) if not a.startswith("-")]
                if len(pos) < k:
                    raise InputError(f"weak scaling of {job} grows its positional argument "
                                     f"{k} ({label}): give its arguments "
                                     + (usage or f"(at least {k}) after --"))
                i = pos[k - 1]
                args[i] = _grow(args[i], factors, r, f"{job}'s positional argument {k}")
                continue
            value, args = _option(args, k, default)
            if value is None:
                raise InputError(f"weak scaling of {job} grows {k} ({label}): give "
                                 f"{k} with {len(factors)} comma-separated positive "
                                 "integer" + ("s" if len(factors) > 1 else "")
                                 + " after --")
            args += [k, _grow(value, factors, r, f"{job}'s {k}")]
        return args, []
    grow.text = "; ".join(
        (f"{k}: {','.join(f)}" + (f" (default {d})" if d else "")) if isinstance(k, str)
        else f"positional argument {k}: {','.join(f)}" for k, (f, d) in rules.items())
    return grow


def parse_scale(items):
    """The declaration of ``--scale ARGUMENT=GROWTH`` values (``shape=1,ranks,1``,
    ``--shape=sqrt,sqrt``, ``2=sqrt``); see :func:`declared`.

    Raises
    ------
    InputError
        If an item has no ``=`` or names an argument twice.
    """
    declaration = {}
    for item in items:
        key, sep, growth = item.partition("=")
        if not sep or not key or not growth:
            raise InputError(f"--scale {item!r}: give ARGUMENT=GROWTH, such as "
                             "shape=1,ranks,1 (--shape's 2nd value x ranks) or 2=sqrt "
                             "(the 2nd positional argument x sqrt(ranks))")
        k = _key(key, f"--scale {item!r}")
        if k in declaration:
            raise InputError(f"--scale gives {_name(k)} twice")
        declaration[k] = growth
    return declaration


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


@dataclasses.dataclass(frozen=True)
class Rule:
    """A job's weak-scaling rule: ``rule(job_args, ranks, workdir)`` → ``(args, set-up
    commands)``, and ``text``, what it does (kept in the results as ``weak_rule``)."""

    text: str
    grow: object

    def __call__(self, job_args, ranks, workdir):
        return self.grow(list(job_args), ranks, workdir)


def _source_file(target, is_module):
    """The Python file of a job script or module path, or ``None`` if there is none."""
    if target is None or not is_module:
        return target
    try:
        spec = importlib.util.find_spec(target)
    except (ImportError, ValueError):
        return None
    origin = spec.origin if spec is not None else None
    return origin if origin and origin.endswith(".py") else None


def _parse(path):
    import ast
    try:
        with open(path, "rb") as f:
            return ast.parse(f.read(), filename=path)
    except OSError as exc:
        raise InputError(f"cannot read job file {path!r} for its weak-scaling rule: "
                         f"{exc.strerror or exc}") from None
    except (SyntaxError, ValueError) as exc:
        line = f" line {exc.lineno}" if getattr(exc, "lineno", None) else ""
        raise InputError(f"cannot read the weak-scaling rule of {path!r}: invalid Python"
                         f"{line} ({getattr(exc, 'msg', exc)})") from None


def _declaration(tree, path):
    """The value of the last module-level ``WEAK_SCALING = <literal>`` in ``tree``."""
    import ast
    node = None
    for stmt in tree.body:
        targets = (stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
                   if isinstance(stmt, (ast.AnnAssign, ast.AugAssign)) else [])
        if any(isinstance(t, ast.Name) and t.id == "WEAK_SCALING" for t in targets):
            node = stmt
    if node is None:
        return None
    where = f"WEAK_SCALING in {path} (line {node.lineno})"
    if not isinstance(node, (ast.Assign, ast.AnnAssign)) or node.value is None:
        raise InputError(f"{where} must be assigned once, as a literal {_FORM}")
    try:
        return ast.literal_eval(node.value), where
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        raise InputError(f"{where} must be a literal (no names, calls or arithmetic): "
                         f"{_FORM}") from None


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
        path = _source_file(entry.module if entry else target, entry is not None or is_module)
        tree = _parse(path) if path else None
        known = _arguments(tree) if tree is not None else None
    if scale:
        grow = declared(parse_scale(scale), job, source="--scale", known=known)
        return Rule(f"{grow.text} (--scale)", grow)
    if entry is not None and entry.weak is not None:
        return Rule(entry.weak_rule, entry.weak)
    found = _declaration(tree, path) if tree is not None else None
    if found is None:
        scalable = sorted(n for n, j in JOBS.items() if j.weak is not None)
        raise InputError(f"no weak-scaling rule for job {job!r}: {_HOW}; built-in jobs "
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
