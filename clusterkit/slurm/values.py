"""Slurm's value syntaxes, checked as Slurm parses them: time limits, counts and node
ranges, job arrays, job IDs, dependencies, memory sizes, names, environment entries and
raw ``#SBATCH`` options. Each check returns the value normalised or raises
:class:`~clusterkit.errors.InputError` naming the option and what would be valid."""

import re

from ..errors import InputError

__all__ = ["check_text", "check_count", "CountRange", "check_nodes", "parse_time", "check_array", "check_job_id", "check_dependency", "check_memory", "check_signal_offset", "check_sbatch_option", "check_env", "check_name"]

_TIME_FORMATS = "MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS or UNLIMITED"
_TIME_RE = re.compile(r"(?:(?P<d>\d+)-(?P<dh>\d{1,2})(?::(?P<dm>\d{1,2})(?::(?P<ds>\d{1,2}))?)?"
                      r"|(?P<h>\d+):(?P<hm>\d{1,2}):(?P<hs>\d{1,2})"
                      r"|(?P<m>\d+)(?::(?P<ms>\d{1,2}))?)")
_MAX_TIME_S = 2**31 - 1            # Slurm parses times into a C int of seconds
_MAX_ARRAY_INDEX = 4_000_000       # the largest MaxArraySize Slurm allows, minus one
_MAX_JOB_ID = 2**32 - 3            # Slurm job IDs are uint32; the top two values are reserved
_ARRAY_ITEM_RE = re.compile(r"(\d+)(?:-(\d+)(?::(\d+))?)?")
_JOB_ID_RE = re.compile(r"[1-9]\d*(?:_\d+)?")
_DEP_TYPES = ("after", "afterany", "afterburstbuffer", "aftercorr", "afternotok", "afterok")
_NAME_RE = re.compile(r"[A-Za-z0-9_.+-]+")
_ENV_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_MEMORY_RE = re.compile(r"(\d+)([KMGTkmgt]?)")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f]")
#: #SBATCH options clusterkit writes itself, with the clusterkit option to use instead.
_MANAGED = {"job-name": "--job-name", "output": "--output-dir", "error": "--output-dir",
            "array": "--array", "dependency": "--dependency", "signal": "--signal-requeue",
            "requeue": "--signal-requeue", "open-mode": "--signal-requeue",
            "nodes": "--nodes", "ntasks-per-node": "--ntasks-per-node",
            "cpus-per-task": "--cpus-per-task", "ntasks": "--nodes/--ntasks-per-node",
            "time": "--time", "partition": "--partition", "account": "--account",
            "qos": "--qos", "mem": "--mem", "mem-per-cpu": "--mem-per-cpu",
            "mail-type": "--mail-type", "mail-user": "--mail-user",
            "constraint": "--constraint", "exclusive": "--exclusive"}


def check_text(option, value, *, max_len=1024, spaces=True):
    """Return ``value`` if it is non-empty text fit for an ``#SBATCH`` line.

    Raises
    ------
    InputError
        If it is empty, too long, or contains a control character (newline, tab, NUL…)
        or, with ``spaces=False``, whitespace.
    """
    if not isinstance(value, str) or not value:
        raise InputError(f"{option} must be non-empty text, got {value!r}")
    if _CONTROL_RE.search(value):
        raise InputError(f"{option} must not contain control characters (newline, tab, …), "
                         f"got {value!r}")
    if not spaces and any(c.isspace() for c in value):
        raise InputError(f"{option} must not contain whitespace, got {value!r}")
    if len(value.encode()) > max_len:
        raise InputError(f"{option} is longer than {max_len} bytes")
    return value


def check_count(option, value):
    """Return ``value`` as an int if it is a positive integer, else raise InputError."""
    if isinstance(value, str) and value.strip().lstrip("+-").isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InputError(f"{option} must be a positive integer, got {value!r}")
    return value


class CountRange(int):
    """A count that may be a range: the int value is the minimum, ``maximum`` the largest.

    ``str()`` (and ``f"{x}"``) give Slurm's ``MIN-MAX`` text, or just ``N`` when both
    are equal, so ``#SBATCH --nodes={x}`` and a launcher's ``{nodes}`` read the range,
    while arithmetic and comparisons (a partition's node limits) use the minimum: the
    least the job can run on.
    """

    def __new__(cls, minimum, maximum=None):
        self = super().__new__(cls, minimum)
        self.maximum = int(minimum) if maximum is None else int(maximum)
        return self

    def __str__(self):
        low = int(self)
        return str(low) if self.maximum == low else f"{low}-{self.maximum}"

    def __format__(self, spec):
        return str(self) if not spec else int(self).__format__(spec)

    def __repr__(self):
        return f"CountRange({int(self)}, {self.maximum})"

    def __reduce__(self):
        return (CountRange, (int(self), self.maximum))


def check_nodes(value, option="--nodes"):
    """Return ``value`` as a :class:`CountRange`: a positive count ``N`` or ``MIN-MAX``.

    ``MIN-MAX`` lets Slurm start the job on as many nodes as it has, at least MIN: a
    job requeued after a node failure then runs again on the nodes left (the requeue
    template resumes it from its newest checkpoint, on fewer ranks).

    Raises
    ------
    InputError
        Unless ``value`` is a positive integer or ``MIN-MAX`` with ``1 <= MIN <= MAX``.
    """
    if isinstance(value, CountRange):
        return value
    text = value.strip() if isinstance(value, str) else None
    low, dash, high = text.partition("-") if text else ("", "", "")
    if dash and low.isdigit() and high.isdigit():
        if 1 <= int(low) <= int(high):
            return CountRange(int(low), int(high))
        raise InputError(f"{option} must be N or MIN-MAX with 1 <= MIN <= MAX (the job runs "
                         f"on as many nodes as Slurm can give, at least MIN), got {value!r}")
    if dash and not text.lstrip("+-").isdigit():
        raise InputError(f"{option} must be a positive integer N or a range MIN-MAX such as "
                         f"2-3, got {value!r}")
    return CountRange(check_count(option, value))


def parse_time(text, option="--time"):
    """Return a Slurm time limit in seconds, or ``None`` for ``UNLIMITED``/``INFINITE``.

    Accepts the formats ``sbatch --time`` accepts: ``MM``, ``MM:SS``, ``HH:MM:SS``,
    ``D-HH``, ``D-HH:MM``, ``D-HH:MM:SS``; the leading field may be any size, the
    others are clock fields (seconds and minutes below 60, hours below 24 after days).

    Parameters
    ----------
    text : str
    option : str
        What the messages call the value (``--time``, a site profile's key).

    Raises
    ------
    InputError
        For any other text, for a zero limit (Slurm would read it as "no limit": say
        ``UNLIMITED``), or for a limit beyond what Slurm can store.
    """
    if not isinstance(text, str):
        raise InputError(f"{option} must be text ({_TIME_FORMATS}), got {text!r}")
    if text.upper() in ("UNLIMITED", "INFINITE"):
        return None
    m = _TIME_RE.fullmatch(text)
    if m is None:
        raise InputError(f"{option} must be one of {_TIME_FORMATS}, got {text!r}")
    g = {k: int(v) for k, v in m.groupdict().items() if v is not None}
    clock = [("dm", 60), ("ds", 60), ("hm", 60), ("hs", 60), ("ms", 60), ("dh", 24)]
    for key, limit in clock:
        if g.get(key, 0) >= limit:
            raise InputError(f"{option} {text!r}: a field after the first must be below "
                             f"{limit}")
    seconds = (g.get("d", 0) * 86400 + (g.get("dh", 0) + g.get("h", 0)) * 3600
               + (g.get("dm", 0) + g.get("hm", 0) + g.get("m", 0)) * 60
               + g.get("ds", 0) + g.get("hs", 0) + g.get("ms", 0))
    if seconds == 0:
        raise InputError(f"{option} must be positive, got {text!r} (use UNLIMITED for no "
                         "limit)")
    if seconds > _MAX_TIME_S:
        raise InputError(f"{option} {text!r} is longer than Slurm can store (about 68 years); "
                         "use UNLIMITED")
    return seconds


def check_array(text):
    """Return ``text`` if it is valid ``--array`` syntax, else raise InputError.

    Comma-separated items ``N``, ``N-M`` or ``N-M:STEP`` (``N <= M``, ``STEP >= 1``),
    optionally followed by ``%LIMIT`` (at most LIMIT tasks at once, ``LIMIT >= 1``):
    ``0-9%2``, ``1,3,5``, ``0-15:4``.
    """
    what = "--array must be indices like 0-9, 0-9%2, 1,3,5 or 0-15:4"
    if not isinstance(text, str) or not text:
        raise InputError(f"{what}, got {text!r}")
    body, pct, limit = text.partition("%")
    if pct and not (limit.isdigit() and int(limit) >= 1):
        raise InputError(f"{what}; the %LIMIT after the indices must be a positive "
                         f"integer, got {text!r}")
    for item in body.split(","):
        m = _ARRAY_ITEM_RE.fullmatch(item)
        if m is None:
            raise InputError(f"{what}, got {text!r} (bad item {item!r})")
        start, stop, step = (int(x) if x is not None else None for x in m.groups())
        if stop is not None and stop < start:
            raise InputError(f"{what}; range {item!r} ends before it starts")
        if step is not None and step < 1:
            raise InputError(f"{what}; the step in {item!r} must be at least 1")
        if max(start, stop or 0) > _MAX_ARRAY_INDEX:
            raise InputError(f"{what}; index in {item!r} exceeds {_MAX_ARRAY_INDEX}")
    return text


def check_job_id(text, option="job ID"):
    """Return ``text`` if it is a Slurm job ID (``123``) or array task ID (``123_4``)."""
    if isinstance(text, int) and not isinstance(text, bool):
        text = str(text)
    if not isinstance(text, str) or not _JOB_ID_RE.fullmatch(text):
        raise InputError(f"{option} must be a job ID such as 123 or an array task such as "
                         f"123_4, got {text!r}")
    job, _, task = text.partition("_")
    if int(job) > _MAX_JOB_ID or (task and int(task) > _MAX_ARRAY_INDEX):
        raise InputError(f"{option} {text!r} is out of range: Slurm job IDs go up to "
                         f"{_MAX_JOB_ID}, array task indices up to {_MAX_ARRAY_INDEX}")
    return text


def check_dependency(text):
    """Return ``text`` if it is valid ``--dependency`` syntax, else raise InputError.

    ``TYPE:ID[:ID…]`` with TYPE one of after, afterany, afterburstbuffer, aftercorr,
    afternotok, afterok (``after`` also takes ``ID+MINUTES``), or ``singleton``; several
    joined with ``,`` (all must hold) or ``?`` (any may hold), not both.
    """
    what = ("--dependency must be TYPE:ID[:ID...] (TYPE: " + ", ".join(_DEP_TYPES)
            + ") or singleton, joined by ',' (all) or '?' (any)")
    if not isinstance(text, str) or not text:
        raise InputError(f"{what}, got {text!r}")
    if "," in text and "?" in text:
        raise InputError(f"{what}; ',' and '?' cannot be mixed, got {text!r}")
    for item in re.split(r"[,?]", text):
        kind, _, ids = item.partition(":")
        if kind == "singleton" and not ids:
            continue
        if kind not in _DEP_TYPES or not ids:
            raise InputError(f"{what}, got {text!r} (bad item {item!r})")
        for jid in ids.split(":"):
            base, plus, minutes = jid.partition("+")
            if plus and (kind != "after" or not minutes.isdigit()):
                raise InputError(f"{what}; only after:ID+MINUTES takes a delay, got {item!r}")
            if not _JOB_ID_RE.fullmatch(base):
                raise InputError(f"{what}; {base!r} in {item!r} is not a job ID")
    return text


def check_memory(option, text, *, allow_zero=False):
    """Return ``text`` if it is a Slurm memory size: an integer with an optional K/M/G/T unit."""
    m = _MEMORY_RE.fullmatch(text) if isinstance(text, str) else None
    if m is None or (int(m.group(1)) == 0 and not allow_zero):
        zero = " (0 = all of a node's memory)" if allow_zero else ""
        raise InputError(f"{option} must be a positive size like 4000, 500M or 4G{zero}, "
                         f"got {text!r}")
    return text


def check_signal_offset(seconds, time_text, where="--time"):
    """Refuse a ``--signal-requeue`` offset that Slurm could never act on.

    Slurm sends the signal ``seconds`` before the time limit ``time_text``: with no limit
    (``UNLIMITED``) it never comes, and an offset as long as the limit or longer would
    come before the job could work. ``where`` names the limit's source in the message
    (``--time``, a site profile's default, the partition's default).

    Raises
    ------
    InputError
        If the limit is unlimited or not longer than ``seconds``.
    """
    if time_text is None:
        return
    limit = parse_time(time_text, where)
    if limit is None:
        raise InputError(f"--signal-requeue {seconds} needs a time limit, but {where} is "
                         f"{time_text}: Slurm never sends the signal to a job without one; "
                         "give --time")
    if seconds >= limit:
        raise InputError(f"--signal-requeue {seconds} must be shorter than the time limit "
                         f"({where} {time_text} = {limit} s): the signal would come before "
                         "the job could work; give a smaller offset or a longer --time")


def check_sbatch_option(text, option="--sbatch"):
    """Return ``text`` if it is ``--option`` or ``--option=value`` for an ``#SBATCH`` line.

    Options clusterkit writes itself (job name, output, array, …) are refused with the
    clusterkit option to use instead. ``option`` is what the messages call the value.
    """
    check_text(option, text)
    name, _, _ = text.partition("=")
    if not re.fullmatch(r"--[a-z][a-z0-9-]*", name):
        raise InputError(f"{option} must look like --option or --option=value, got {text!r}")
    if name[2:] in _MANAGED:
        raise InputError(f"{option}: sbatch option {name} is set by clusterkit; use clusterkit "
                         f"submit {_MANAGED[name[2:]]} instead")
    return text


def check_env(option, name, value):
    """Return ``(name, value)`` if they can be exported: a variable name, text without NUL.

    The value is shell-quoted into the script, so any other character is data.
    """
    if not isinstance(name, str) or not _ENV_NAME_RE.fullmatch(name):
        raise InputError(f"{option}: environment variable name must be letters, digits and _ "
                         f"(not starting with a digit), got {name!r}")
    if not isinstance(value, str) or "\0" in value:
        raise InputError(f"{option}: the value of {name} must be text without NUL bytes, "
                         f"got {value!r}")
    return name, value


def check_name(option, value, *, list_ok=False):
    """Return ``value`` if it is a Slurm name (partition, account, QOS), else raise.

    Letters, digits and ``_ . + -``; with ``list_ok`` a comma-separated list of such
    names (``--partition=a,b``). ``None`` passes (not given).
    """
    if value is None:
        return None
    check_text(option, value, spaces=False)
    parts = value.split(",") if list_ok else [value]
    if not all(_NAME_RE.fullmatch(p) for p in parts):
        raise InputError(f"{option} must be a Slurm name (letters, digits, _ . + -), "
                         f"got {value!r}")
    return value
