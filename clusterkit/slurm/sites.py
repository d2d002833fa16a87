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

from .spec import check_sbatch_option, check_text, parse_time
from ..errors import InputError, InputFileNotFoundError

__all__ = ["Site", "data_dir", "site_dirs", "known_sites", "load_site", "site_from_dict",
           "DEFAULT_SITE"]

#: The profile used when neither ``--site`` nor ``CLUSTERKIT_SITE`` names one.
DEFAULT_SITE = "local"
_LAUNCHERS = ("srun", "mpirun")
_DEFAULT_KEYS = ("partition", "account", "qos", "time")


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

    def __post_init__(self):
        where = f"site {self.name!r}"
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", self.name or ""):
            raise InputError(f"site name must be letters, digits, _ . -, got {self.name!r}")
        if self.launcher not in _LAUNCHERS:
            raise InputError(f"{where}: launcher must be one of {', '.join(_LAUNCHERS)}, "
                             f"got {self.launcher!r}")
        if self.mpi is not None:
            if self.launcher != "srun":
                raise InputError(f"{where}: mpi (srun's --mpi plugin) needs launcher = \"srun\"")
            if not re.fullmatch(r"[a-z0-9_]+", self.mpi):
                raise InputError(f"{where}: mpi must be a plugin name like pmix, got {self.mpi!r}")
        words = shlex.split(check_text(f"{where}: shell", self.shell))
        if not words or not os.path.isabs(words[0]):
            raise InputError(f"{where}: shell must start with an absolute path, "
                             f"got {self.shell!r}")
        for key in ("launcher_args", "modules", "sbatch"):
            values = getattr(self, key)
            if isinstance(values, str) or not all(isinstance(v, str) for v in values):
                raise InputError(f"{where}: {key} must be a list of strings")
            object.__setattr__(self, key, tuple(values))
        if not isinstance(self.module_purge, bool) or not isinstance(self.description, str):
            raise InputError(f"{where}: module_purge must be true or false, description text")
        for module in self.modules:
            check_text(f"{where}: module", module, spaces=False)
        for arg in self.launcher_args:
            check_text(f"{where}: launcher argument", arg)
        for line in self.sbatch:
            check_sbatch_option(line)
        env = tuple(self.env.items()) if isinstance(self.env, dict) else tuple(self.env)
        for name, value in env:
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) or not isinstance(value, str):
                raise InputError(f"{where}: env entries must be NAME = \"text\", got {name!r}")
        object.__setattr__(self, "env", env)
        unknown = set(self.defaults) - set(_DEFAULT_KEYS)
        if unknown:
            raise InputError(f"{where}: unknown defaults {sorted(unknown)}; valid: "
                             f"{', '.join(_DEFAULT_KEYS)}")
        if self.defaults.get("time") is not None:
            parse_time(self.defaults["time"])
        object.__setattr__(self, "defaults", dict(self.defaults))

    def launch_prefix(self):
        """Return the launcher's argument list, e.g. ``["srun", "--mpi=pmix"]``."""
        argv = [self.launcher]
        if self.mpi:
            argv.append(f"--mpi={self.mpi}")
        return argv + list(self.launcher_args)


def site_from_dict(name, data, source="<dict>"):
    """Return a :class:`Site` from parsed TOML ``data``; unknown keys are errors.

    Raises
    ------
    ValueError
        Naming ``source`` and the bad key or value.
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
    except TypeError as exc:
        raise InputError(f"{source}: {exc}") from None
    except ValueError as exc:
        raise InputError(f"{source}: {exc}") from None


def load_site(name=None, env=None):
    """Return the site profile ``name``, ``$CLUSTERKIT_SITE``, or :data:`DEFAULT_SITE`.

    ``name`` may also be a path to a ``.toml`` file.

    Raises
    ------
    ValueError
        If no such profile exists (listing the known ones) or the file is invalid.
    """
    env = os.environ if env is None else env
    name = name or env.get("CLUSTERKIT_SITE") or DEFAULT_SITE
    if name.endswith(".toml"):
        path = pathlib.Path(name)
        if not path.is_file():
            raise InputError(f"site file {name!r} not found")
    else:
        found = [d / f"{name}.toml" for d in site_dirs(env)
                 if re.fullmatch(r"[A-Za-z0-9_.-]+", name) and (d / f"{name}.toml").is_file()]
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
