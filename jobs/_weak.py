"""Weak-scaling rules as declarations: how a job's arguments grow with the rank count.

One form wherever a rule comes from — the registry's entries (``jobs/__init__.py``), a
module-level ``WEAK_SCALING = {...}`` literal in a user's job file (read with :mod:`ast`,
never imported: importing a job may start MPI), or ``clusterkit bench weak --scale``
(see :func:`declared`).
"""

import dataclasses
import importlib.util
import math

from clusterkit.errors import InputError
from clusterkit.options import parse_ints

__all__ = ["FACTORS", "HOW", "Rule", "declared", "parse_scale", "declaration_in",
           "job_source"]

#: the growth factors a declaration may name, as functions of the rank count
FACTORS = {"1": lambda r: 1, "ranks": lambda r: r, "sqrt": math.sqrt,
           "cbrt": lambda r: r ** (1 / 3)}
#: how to declare a rule, for error messages
HOW = ('declare one in the job\'s file (a module-level WEAK_SCALING = {"--shape": '
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


@dataclasses.dataclass(frozen=True)
class Rule:
    """A job's weak-scaling rule: ``rule(job_args, ranks, workdir)`` → ``(args, set-up
    commands)``, and ``text``, what it does (kept in the results as ``weak_rule``)."""

    text: str
    grow: object

    def __call__(self, job_args, ranks, workdir):
        return self.grow(list(job_args), ranks, workdir)


def job_source(target, is_module):
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


def declaration_in(tree, path):
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
