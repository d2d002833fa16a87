"""Site profiles (``slurm/sites/*.toml``): modules, launcher, defaults and extra #SBATCH lines."""

import dataclasses
import os
import pathlib
import re
import shlex

try:
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    try:
        import tomli as tomllib
    except ModuleNotFoundError:
        tomllib = None

from .values import check_env, check_name, check_sbatch_option, check_text, parse_time
from ..errors import InputError, InputFileNotFoundError

__all__ = ["Site", "data_dir", "site_dirs", "known_sites", "load_site", "site_from_dict",
           "DEFAULT_SITE", "DEFAULT_NUMBA_CACHE"]

#: The profile used when neither ``--site`` nor ``CLUSTERKIT_SITE`` names one.
DEFAULT_SITE = "local"
_LAUNCHERS = ("srun", "mpirun")
_SITE_NAME_RE = re.compile(r"[A-Za-z0-9_.-]+")
#: [defaults] keys and the check of the submit option each stands in for
_DEFAULT_CHECKS = {"partition": lambda key, v: check_name(key, v, list_ok=True),
                   "account": check_name, "qos": check_name,
                   "time": lambda key, v: parse_time(v, option=key)}
_DEFAULT_KEYS = tuple(_DEFAULT_CHECKS)
#: Root of the Numba cache a user's jobs share unless the site's ``numba_cache`` says
#: otherwise (shell text, expanded in the job: on a cluster $HOME is on every node)
DEFAULT_NUMBA_CACHE = "${XDG_CACHE_HOME:-$HOME/.cache}/clusterkit/numba"
#: a ``numba_cache`` path: text without double quotes, backslashes or backticks; ``$`` only as
#: ``$NAME`` or ``${NAME}``; starting with ``/`` or a variable
_NUMBA_CACHE_RE = re.compile(r"(?=[/$])(?:[^$`\\\"\x00-\x1f\x7f-\x9f]|\$[A-Za-z_]\w*|"
                             r"\$\{[A-Za-z_]\w*\})+")


class _SiteError(InputError):
    """An invalid field of a site profile; ``detail`` names the key and the rule."""

    def __init__(self, where, detail):
        super().__init__(f"{where}: {detail}")
        self.detail = detail


def _checked_env(env):
    """Return ``[env]`` as a tuple of (name, value), checked as ``--env`` values are."""
    if isinstance(env, dict):
        env = tuple(env.items())
    elif isinstance(env, (list, tuple)) and \
            all(isinstance(kv, (list, tuple)) and len(kv) == 2 for kv in env):
        env = tuple(tuple(kv) for kv in env)
    else:
        raise InputError(f"env must be a table of NAME = \"value\", got {env!r}")
    for name, value in env:
        check_env("env", name, value)
    return env


def _checked_defaults(defaults):
    """Return ``[defaults]`` as a dict, each value checked as its submit option is."""
    if not isinstance(defaults, dict):
        raise InputError(f"defaults must be a table with keys {', '.join(_DEFAULT_KEYS)}, "
                         f"got {defaults!r}")
    unknown = sorted(set(defaults) - set(_DEFAULT_KEYS))
    if unknown:
        raise InputError(f"unknown defaults {unknown}; valid: {', '.join(_DEFAULT_KEYS)}")
    for key, value in defaults.items():
        if value is not None:
            _DEFAULT_CHECKS[key](f"defaults.{key}", value)
    return dict(defaults)


def data_dir():
    """Return the directory holding ``templates/`` and ``sites/``.

    A regular install ships them as ``clusterkit/slurm/data`` (setup.py maps the
    repository's top-level ``slurm/`` there); an editable install or a source checkout
    reads the repository's ``slurm/`` directly.
    """
    here = pathlib.Path(__file__).resolve().parent
    for candidate in (here / "data", here.parent.parent / "slurm"):
        if (candidate / "templates").is_dir():
            return candidate
    raise FileNotFoundError(f"clusterkit's Slurm templates are missing (looked in "
                            f"{here / 'data'} and {here.parent.parent / 'slurm'}); reinstall "
                            "clusterkit")


def site_dirs(env=None):
    """Return the directories searched for ``NAME.toml``, first match wins.

    Those in ``CLUSTERKIT_SITE_PATH`` (``:``-separated), then the built-in profiles.
    """
    env = os.environ if env is None else env
    extra = [pathlib.Path(p) for p in env.get("CLUSTERKIT_SITE_PATH", "").split(":") if p]
    return extra + [data_dir() / "sites"]


def known_sites(env=None):
    """Return the sorted names of all site profiles found in :func:`site_dirs`."""
    names = set()
    for d in site_dirs(env):
        if d.is_dir():
            names.update(p.stem for p in d.glob("*.toml"))
    return sorted(names)


@dataclasses.dataclass(frozen=True)
class Site:
    """A validated site profile.

    Parameters
    ----------
    name : str
        Profile name (file stem).
    launcher : {"srun", "mpirun"}
        How ranks are started inside the job.
    mpi : str, optional
        ``srun --mpi=`` plugin (``pmix``, ``pmi2``, …); only for ``srun``.
    launcher_args : tuple of str
        Extra launcher arguments, each passed as one word.
    shell : str
        The script's interpreter line (``/bin/bash``; ``/bin/bash -l`` where modules
        need a login shell).
    modules : tuple of str
        Loaded in order with ``module load``; ``module_purge`` runs ``module purge`` first.
    module_purge : bool
    env : tuple of (name, value)
        Exported before the job's own environment.
    defaults : dict
        Defaults for ``partition``, ``account``, ``qos`` and ``time``.
    sbatch : tuple of str
        Extra ``--option=value`` lines for every job at this site.
    description : str
    numba_cache : str or False, optional
        Root of the Numba cache shared by a user's jobs at this site (each node uses the
        directory for its CPU type and Numba version below it): an absolute path that may
        use ``$NAME``/``${NAME}`` variables of the job's environment (``$SCRATCH/numba``),
        expanded on the compute node. None: :data:`DEFAULT_NUMBA_CACHE`. False: a fresh
        cache per job, removed at its end (where nodes cannot write a shared directory).

    Raises
    ------
    InputError
        On construction, naming the site, the key (``defaults.partition``) and the rule.

    Notes
    -----
    ``defaults`` and ``sbatch`` become ``#SBATCH`` lines and are checked like the
    ``clusterkit submit`` options they stand in for. ``shell``, ``launcher_args``,
    ``modules`` and ``env`` choose what the job runs (its interpreter, launcher flags,
    module files, variables such as ``PATH``): a profile is trusted like a shell start-up
    file, but each of these values is one quoted word or value and cannot add a line.
    """

    name: str
    launcher: str = "srun"
    mpi: str | None = None
    launcher_args: tuple = ()
    shell: str = "/bin/bash"
    modules: tuple = ()
    module_purge: bool = False
    env: tuple = ()
    defaults: dict = dataclasses.field(default_factory=dict)
    sbatch: tuple = ()
    description: str = ""
    numba_cache: str | bool | None = None

    def __post_init__(self):
        if not isinstance(self.name, str) or not _SITE_NAME_RE.fullmatch(self.name):
            raise InputError(f"site name must be letters, digits, _ . -, got {self.name!r}")
        try:
            self._check()
        except InputError as exc:
            raise _SiteError(f"site {self.name!r}", str(exc)) from None

    def _check(self):
        """Check every field with the rule of the matching option; normalise containers."""
        setv = lambda key, value: object.__setattr__(self, key, value)  # noqa: E731
        if not isinstance(self.launcher, str) or self.launcher not in _LAUNCHERS:
            raise InputError(f"launcher.command must be one of {', '.join(_LAUNCHERS)}, "
                             f"got {self.launcher!r}")
        if self.mpi is not None:
            if self.launcher != "srun":
                raise InputError("launcher.mpi (srun's --mpi plugin) needs launcher.command "
                                 "= \"srun\"")
            if not isinstance(self.mpi, str) or not re.fullmatch(r"[a-z0-9_]+", self.mpi):
                raise InputError(f"launcher.mpi must be a plugin name like pmix (lower-case "
                                 f"letters, digits, _), got {self.mpi!r}")
        check_text("shell", self.shell)
        try:
            words = shlex.split(self.shell)
        except ValueError as exc:
            raise InputError(f"shell {self.shell!r} cannot be split into words: {exc}") from None
        if not words or not os.path.isabs(words[0]):
            raise InputError(f"shell must start with an absolute path, got {self.shell!r}")
        for key, option in (("launcher_args", "launcher.args"), ("modules", "modules"),
                            ("sbatch", "sbatch")):
            values = getattr(self, key)
            if not isinstance(values, (list, tuple)) or \
                    not all(isinstance(v, str) for v in values):
                raise InputError(f"{option} must be a list of strings, got {values!r}")
            setv(key, tuple(values))
        if not isinstance(self.module_purge, bool):
            raise InputError(f"module_purge must be true or false, got {self.module_purge!r}")
        if not isinstance(self.description, str):
            raise InputError(f"description must be text, got {self.description!r}")
        if self.numba_cache is not None and self.numba_cache is not False and (
                not isinstance(self.numba_cache, str)
                or not _NUMBA_CACHE_RE.fullmatch(self.numba_cache)):
            raise InputError(f"numba_cache must be false or an absolute path (variables as "
                             f"$NAME or ${{NAME}}; no double quotes, backslashes, backticks or "
                             f"control characters), got {self.numba_cache!r}")
        for module in self.modules:
            check_text("modules entry", module, spaces=False)
        for arg in self.launcher_args:
            check_text("launcher.args entry", arg)
        for line in self.sbatch:
            check_sbatch_option(line, option="sbatch entry")
        setv("env", _checked_env(self.env))
        setv("defaults", _checked_defaults(self.defaults))

    def launch_prefix(self):
        """Return the launcher's argument list, e.g. ``["srun", "--mpi=pmix"]``."""
        argv = [self.launcher]
        if self.mpi:
            argv.append(f"--mpi={self.mpi}")
        return argv + list(self.launcher_args)


def site_from_dict(name, data, source="<dict>"):
    """Return a :class:`Site` from parsed TOML ``data``; unknown keys are errors.

    Every value is checked with the rule of the matching ``clusterkit submit`` option
    (``[defaults]`` like ``--partition``/``--account``/``--qos``/``--time``, ``sbatch``
    like ``--sbatch``, ``[env]`` like ``--env``).

    Raises
    ------
    InputError
        One line naming ``source``, the bad key and what would be valid.
    """
    fields = {f.name for f in dataclasses.fields(Site)} - {"name", "launcher", "mpi",
                                                          "launcher_args"}
    data = dict(data)
    launcher = data.pop("launcher", {})
    if not isinstance(launcher, dict):
        raise InputError(f"{source}: [launcher] must be a table with command, mpi, args")
    bad = set(launcher) - {"command", "mpi", "args"}
    unknown = sorted(set(data) - fields) + sorted(f"launcher.{k}" for k in bad)
    if unknown:
        raise InputError(f"{source}: unknown keys {unknown}; valid: launcher.command, "
                         f"launcher.mpi, launcher.args, {', '.join(sorted(fields))}")
    try:
        return Site(name=name, launcher=launcher.get("command", "srun"),
                    mpi=launcher.get("mpi"), launcher_args=launcher.get("args", ()), **data)
    except _SiteError as exc:
        raise InputError(f"{source}: {exc.detail}") from None
    except InputError as exc:
        raise InputError(f"{source}: {exc}") from None


def load_site(name=None, env=None):
    """Return the site profile ``name``, ``$CLUSTERKIT_SITE``, or :data:`DEFAULT_SITE`.

    ``name`` may also be a path to a ``.toml`` file.

    Raises
    ------
    InputError
        If no such profile exists (listing the known ones) or the file is invalid.
    """
    env = os.environ if env is None else env
    name = name or env.get("CLUSTERKIT_SITE") or DEFAULT_SITE
    if name.endswith(".toml"):
        path = pathlib.Path(name)
        if not path.is_file():
            raise InputFileNotFoundError(f"site file {name!r} not found")
    else:
        found = [d / f"{name}.toml" for d in site_dirs(env)
                 if _SITE_NAME_RE.fullmatch(name) and (d / f"{name}.toml").is_file()]
        if not found:
            raise InputError(f"unknown site {name!r}; known sites: "
                             f"{', '.join(known_sites(env)) or '(none)'} (or a path to a "
                             ".toml file; more directories via CLUSTERKIT_SITE_PATH)")
        path = found[0]
    if tomllib is None:  # pragma: no cover - Python 3.10 without tomli
        raise InputError("reading site profiles needs Python 3.11+ (tomllib) or the tomli "
                         "package (pip install tomli)")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise InputError(f"site file {str(path)!r}: {exc}") from None
    return site_from_dict(path.stem, data, source=f"site file {str(path)!r}")
