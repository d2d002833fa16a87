"""Render a batch script from a job spec and a site profile: a pure function of both."""

import re
import shlex

from .sites import DEFAULT_NUMBA_CACHE, data_dir
from .spec import ARRAY_INDEX, RUN_INDEX
from .values import check_signal_offset, parse_time

__all__ = ["render", "template_for", "sbatch_lines", "sbatch_quote", "launch_command",
           "fill", "output_patterns"]

_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")
_BARE = re.compile(r"[A-Za-z0-9_.,:/%@+=-]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_LAUNCHER_FIELDS = ("nodes", "ntasks", "ntasks_per_node", "cpus_per_task")


def fill(template, values):
    """Replace every ``{{name}}`` in ``template`` by ``values[name]``.

    A placeholder alone on its line is replaced by the value's lines, or the line is
    dropped when the value is empty. Every placeholder must have a value and every
    value must be used, so a template and its renderer cannot drift apart silently.

    Raises
    ------
    KeyError
        For a placeholder without a value, or a value without a placeholder.
    """
    used = set(_PLACEHOLDER.findall(template))
    missing, unused = used - set(values), set(values) - used
    if missing or unused:
        raise KeyError(f"template placeholders without values: {sorted(missing)}; "
                       f"values without placeholders: {sorted(unused)}")
    out = []
    for line in template.splitlines():
        whole = _PLACEHOLDER.fullmatch(line.strip())
        if whole and not str(values[whole.group(1)]):
            continue
        out.append(_PLACEHOLDER.sub(lambda m: str(values[m.group(1)]), line))
    return "\n".join(out) + "\n"


def sbatch_quote(value):
    """Return ``value`` written so sbatch's ``#SBATCH`` parser reads it back verbatim.

    sbatch splits an ``#SBATCH`` line at whitespace outside quotes, treats an unquoted
    ``#`` as a comment, strips quotes, and takes the character after a backslash literally.
    Values other than plain words are double-quoted with ``\\`` and ``"`` escaped.

    Raises
    ------
    ValueError
        For a control character (a newline would end the ``#SBATCH`` line and start a
        shell command): specs and site profiles refuse them, so reaching this is a bug.
    """
    if _CONTROL.search(value):
        raise ValueError(f"an #SBATCH value cannot hold control characters: {value!r}")
    if _BARE.fullmatch(value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def output_patterns(spec):
    """Return the (stdout, stderr) file patterns Slurm fills in for ``spec``."""
    stem = "slurm-%A_%a" if spec.array else "slurm-%j"
    return f"{spec.output_dir}/{stem}.out", f"{spec.output_dir}/{stem}.err"


def _defaults(spec, site):
    """Spec values, falling back to the site's defaults."""
    return {key: getattr(spec, key) if getattr(spec, key) is not None
            else site.defaults.get(key) for key in ("partition", "account", "qos", "time")}


def _per_node(spec):
    """``--ntasks-per-node``, left out for a node range (``-N 2-3``): with it sbatch fixes
    the task count at MIN x per-node and never gives the job more than MIN nodes; without
    it the job gets what is free in the range and ``srun`` starts one rank per node."""
    return None if spec.nodes.maximum > spec.nodes else spec.ntasks_per_node


def sbatch_lines(spec, site):
    """Return the ``#SBATCH`` lines for ``spec`` at ``site``, in a fixed order."""
    d = _defaults(spec, site)
    if d["time"] is not None:
        parse_time(d["time"])
        if spec.signal_requeue is not None and spec.time is None:
            check_signal_offset(spec.signal_requeue, d["time"],
                                f"site {site.name}'s default time")
    stdout, stderr = output_patterns(spec)
    opts = [("job-name", spec.job_name), ("nodes", spec.nodes),
            ("ntasks-per-node", _per_node(spec)), ("cpus-per-task", spec.cpus_per_task),
            ("time", d["time"]), ("partition", d["partition"]), ("account", d["account"]),
            ("qos", d["qos"]), ("mem", spec.mem), ("mem-per-cpu", spec.mem_per_cpu),
            ("constraint", spec.constraint), ("exclusive", True if spec.exclusive else None),
            ("array", spec.array), ("dependency", spec.dependency),
            ("output", stdout), ("error", stderr)]
    if spec.signal_requeue is not None:
        opts += [("signal", f"B:USR1@{spec.signal_requeue}"), ("requeue", True),
                 ("open-mode", "append")]
    opts += [("mail-type", spec.mail_type), ("mail-user", spec.mail_user)]
    lines = []
    for name, value in opts:
        if value is True:
            lines.append(f"#SBATCH --{name}")
        elif value is not None:
            lines.append(f"#SBATCH --{name}={sbatch_quote(str(value))}")
    for extra in site.sbatch + spec.sbatch_extra:
        name, eq, value = extra.partition("=")
        lines.append(f"#SBATCH {name}" + (f"={sbatch_quote(value)}" if eq else ""))
    return lines


def _quote_arg(arg, array, runs=False):
    """Shell-quote ``arg``; in an array job ``{array_index}`` reads the task's index, in a
    job with runs ``{run_index}`` the run's number."""
    variables = ([(ARRAY_INDEX, "SLURM_ARRAY_TASK_ID")] if array else []) + \
        ([(RUN_INDEX, "CLUSTERKIT_RUN")] if runs else [])
    words = [arg]
    for token, name in variables:
        split = []
        for word in words:
            if isinstance(word, tuple) or token not in word:
                split.append(word)
                continue
            parts = word.split(token)
            for i, part in enumerate(parts):
                if part:
                    split.append(part)
                if i < len(parts) - 1:
                    split.append((f'"${{{name}}}"',))
        words = split
    if words == [arg]:
        return shlex.quote(arg)
    return "".join(w[0] if isinstance(w, tuple) else shlex.quote(w) for w in words)


def launch_command(spec, site):
    """Return the shell line that starts the job's ranks with the site's launcher.

    Every word is shell-quoted; launcher arguments may use ``{nodes}``, ``{ntasks}``,
    ``{ntasks_per_node}`` and ``{cpus_per_task}``, filled in from ``spec``.
    """
    fields = {f"{{{k}}}": str(getattr(spec, k)) for k in _LAUNCHER_FIELDS}
    prefix = []
    for word in site.launch_prefix():
        for token, value in fields.items():
            word = word.replace(token, value)
        prefix.append(shlex.quote(word))
    program = [shlex.quote(spec.python)]
    program += ["-m", shlex.quote(spec.target)] if spec.module else [shlex.quote(spec.target)]
    args = [_quote_arg(a, spec.array, spec.runs is not None) for a in spec.args]
    lines = [" ".join(prefix + program)]
    for word in args:                       # wrap long argument lists, words stay whole
        if len(lines[-1]) + 1 + len(word) > 88:
            lines.append("    " + word)
        else:
            lines[-1] += " " + word
    return " \\\n".join(lines)


def template_for(spec):
    """Return the template file name for ``spec``: requeue, array, runs or plain MPI."""
    if spec.runs is not None:
        return "runs.sh.tmpl"
    if spec.signal_requeue is not None:
        return "requeue.sh.tmpl"
    return "array.sh.tmpl" if spec.array else "mpi.sh.tmpl"


def _numba_cache_word(site):
    """The site's Numba cache root as one double-quoted shell word (its ``$NAME``
    variables expanded in the job; the site profile admits nothing else special there),
    or ``""`` for a cache per job."""
    root = DEFAULT_NUMBA_CACHE if site.numba_cache is None else site.numba_cache or ""
    return f'"{root}"'


def _read(name):
    return (data_dir() / "templates" / name).read_text(encoding="utf-8")


def render(spec, site):
    """Return the batch script text for ``spec`` at ``site``.

    Parameters
    ----------
    spec : clusterkit.slurm.spec.JobSpec
    site : clusterkit.slurm.sites.Site

    Returns
    -------
    str
        A complete script for ``sbatch``; every user value is shell-quoted (job
        arguments, environment values, module names) or ``#SBATCH``-quoted.
    """
    modules = (["module purge"] if site.module_purge else [])
    modules += [f"module load {shlex.quote(m)}" for m in site.modules]
    env_line = lambda kv: f"export {kv[0]}={shlex.quote(kv[1])}"  # noqa: E731
    per_run = [kv for kv in spec.env if spec.runs is not None and RUN_INDEX in kv[1]]
    environment = fill(_read("_environment.sh.tmpl"), {
        "modules": "\n".join(modules),
        "site_env": "\n".join(map(env_line, site.env)),
        "job_env": "\n".join(env_line(kv) for kv in spec.env if kv not in per_run),
        "numba_cache": _numba_cache_word(site),
    }).rstrip("\n")
    values = {"shell": site.shell, "site": site.name,
              "ranks": f"{spec.ntasks} rank" + ("s" if spec.ntasks > 1 else ""),
              "sbatch": "\n".join(sbatch_lines(spec, site)), "environment": environment,
              "launch": launch_command(spec, site)}
    if spec.signal_requeue is not None:
        values["signal_seconds"] = spec.signal_requeue
    if spec.runs is not None:
        values.update(runs=spec.runs, runs_text="once" if spec.runs == 1 else
                      f"{spec.runs} times in a row", run_env="\n".join(
            f"    export {name}={_quote_arg(value, False, True)}" for name, value in per_run))
    return fill(_read(template_for(spec)), values)
