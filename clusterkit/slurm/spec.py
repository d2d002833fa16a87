"""A Slurm job specification: one validated dataclass (its values checked by
:mod:`clusterkit.slurm.values`)."""

import dataclasses
import os
import sys

from ..errors import InputError
from .values import (CountRange, check_array, check_count, check_dependency, check_env,
                     check_memory, check_name, check_nodes, check_sbatch_option,
                     check_signal_offset, check_text, parse_time)

__all__ = ["JobSpec", "ARRAY_INDEX", "RUN_INDEX", "MAIL_TYPES", "CHECKPOINT_OPTION",
           "takes_checkpoints"]

#: Placeholder in job arguments replaced, in each array task, by its index.
ARRAY_INDEX = "{array_index}"
#: Placeholder in job arguments and environment values replaced, in each of the ``runs``
#: of a job, by the run's number (0, 1, …).
RUN_INDEX = "{run_index}"

#: Values ``--mail-type`` accepts (a comma-separated list of them).
MAIL_TYPES = ("NONE", "BEGIN", "END", "FAIL", "REQUEUE", "ALL", "INVALID_DEPEND", "STAGE_OUT",
              "TIME_LIMIT", "TIME_LIMIT_90", "TIME_LIMIT_80", "TIME_LIMIT_50", "ARRAY_TASKS")

#: The job option through which a job writes checkpoints (the built-in jobs' and
#: ``jobs/_checkpoint_args``'): ``--signal-requeue`` needs it among the job's arguments.
CHECKPOINT_OPTION = "--checkpoint-dir"

def takes_checkpoints(args):
    """Return whether job arguments ``args`` give :data:`CHECKPOINT_OPTION` (and a DIR)."""
    return any(a == CHECKPOINT_OPTION or a.startswith(CHECKPOINT_OPTION + "=") for a in args)



@dataclasses.dataclass(frozen=True)
class JobSpec:
    """Everything a batch script needs, validated on construction.

    Parameters
    ----------
    target : str
        Module run with ``python -m`` (``module=True``) or a script path.
    args : sequence of str
        The job's own arguments, passed verbatim; in an array job ``{array_index}``
        inside an argument becomes the task's index.
    module : bool
        Whether ``target`` is a module name.
    python : str
        Interpreter on the compute nodes (default: this one).
    job_name : str, optional
        Default: the last part of ``target``.
    nodes : int or str
        Positive count, or ``"MIN-MAX"`` (:func:`check_nodes`): Slurm gives the job as
        many nodes as it can, at least MIN (a requeued job then runs on the nodes left
        after a node failure). Stored as a :class:`CountRange`. A range runs one rank per
        node (``ntasks_per_node`` 1), on the nodes Slurm gave: a site's launcher
        arguments then should not fix ``{ntasks}``.
    ntasks_per_node, cpus_per_task : int
        Positive counts; ranks = nodes × ntasks_per_node, each with cpus_per_task cores.
    time : str, optional
        Time limit in a format :func:`parse_time` accepts.
    partition, account, qos, constraint : str, optional
    mem, mem_per_cpu : str, optional
        Memory per node or per CPU (not both).
    exclusive : bool
        Whole nodes.
    mail_type, mail_user : str, optional
    array : str, optional
        ``--array`` indices (:func:`check_array`).
    dependency : str, optional
        ``--dependency`` expression (:func:`check_dependency`).
    output_dir : str
        Where the script, ``slurm-%j.out`` and ``slurm-%j.err`` go (absolute path).
    signal_requeue : int, optional
        Seconds before the time limit at which the job gets USR1, checkpoints and is
        requeued (the requeue template). Needs :data:`CHECKPOINT_OPTION` in ``args``
        and a time limit longer than it.
    env : sequence of (name, value)
        Extra environment variables for the job (values verbatim, except
        ``{run_index}`` in a job with ``runs``).
    runs : int, optional
        Start the program this many times in a row in the one allocation (timing
        repeats); each run sees its number in ``CLUSTERKIT_RUN``, and ``{run_index}``
        in the job's arguments or environment values reads it. Not with ``array`` or
        ``signal_requeue``.
    sbatch_extra : sequence of str
        Extra ``--option=value`` lines (:func:`check_sbatch_option`).

    Raises
    ------
    InputError
        On construction, naming the first invalid field and what would be valid.
    """

    target: str
    args: tuple = ()
    module: bool = True
    python: str = dataclasses.field(default_factory=lambda: sys.executable)
    job_name: str | None = None
    nodes: int | str = 1
    ntasks_per_node: int = 1
    cpus_per_task: int = 1
    time: str | None = None
    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    constraint: str | None = None
    mem: str | None = None
    mem_per_cpu: str | None = None
    exclusive: bool = False
    mail_type: str | None = None
    mail_user: str | None = None
    array: str | None = None
    dependency: str | None = None
    output_dir: str = dataclasses.field(default_factory=lambda: os.path.abspath("clusterkit-jobs"))
    signal_requeue: int | None = None
    env: tuple = ()
    sbatch_extra: tuple = ()
    runs: int | None = None

    def __post_init__(self):
        setv = lambda name, value: object.__setattr__(self, name, value)  # noqa: E731
        check_text("job", self.target)
        check_text("python", self.python)
        for option in ("args", "env", "sbatch_extra"):
            value = getattr(self, option)
            if isinstance(value, (str, bytes)):
                raise InputError(f"{option} must be a sequence, got a string {value!r}")
            setv(option, tuple(tuple(v) if option == "env" else v for v in value))
        for arg in self.args:
            if not isinstance(arg, str) or "\0" in arg:
                raise InputError(f"job arguments must be text without NUL bytes, got {arg!r}")
        if self.array is None and any(ARRAY_INDEX in a for a in self.args):
            raise InputError(f"a job argument uses {ARRAY_INDEX} but no --array is given")
        if self.job_name is None:
            base = os.path.basename(self.target)
            setv("job_name", base[:-3] if base.endswith(".py") else base.rsplit(".", 1)[-1])
        check_text("--job-name", self.job_name)
        setv("nodes", check_nodes(self.nodes))
        for option in ("ntasks_per_node", "cpus_per_task"):
            setv(option, check_count("--" + option.replace("_", "-"), getattr(self, option)))
        if self.nodes.maximum > self.nodes and self.ntasks_per_node > 1:
            raise InputError(f"--nodes {self.nodes} (a range) runs one rank per node; got "
                             f"--ntasks-per-node {self.ntasks_per_node}: Slurm fixes a job's "
                             "rank count when it is submitted, so the job would never get "
                             "more than MIN nodes; give -N N or --ntasks-per-node 1")
        if self.time is not None:
            parse_time(self.time)
        check_name("--partition", self.partition, list_ok=True)
        check_name("--account", self.account)
        check_name("--qos", self.qos)
        if self.constraint is not None:
            check_text("--constraint", self.constraint, spaces=False)
        if self.mem is not None and self.mem_per_cpu is not None:
            raise InputError("give --mem or --mem-per-cpu, not both")
        if self.mem is not None:
            check_memory("--mem", self.mem, allow_zero=True)
        if self.mem_per_cpu is not None:
            check_memory("--mem-per-cpu", self.mem_per_cpu)
        if self.mail_type is not None:
            bad = [t for t in self.mail_type.split(",") if t not in MAIL_TYPES]
            if bad:
                raise InputError(f"--mail-type must be a comma-separated list of "
                                 f"{', '.join(MAIL_TYPES)}, got {self.mail_type!r}")
        if self.mail_user is not None:
            check_text("--mail-user", self.mail_user, spaces=False)
        if self.array is not None:
            check_array(self.array)
        if self.dependency is not None:
            check_dependency(self.dependency)
        self._check_output_dir()
        if self.signal_requeue is not None:
            seconds = check_count("--signal-requeue", self.signal_requeue)
            if seconds > 65535:
                raise InputError(f"--signal-requeue must be at most 65535 seconds, got {seconds}")
            setv("signal_requeue", seconds)
            if not takes_checkpoints(self.args):
                raise InputError(f"--signal-requeue needs a job that checkpoints: give it "
                                 f"{CHECKPOINT_OPTION} DIR after -- (stencil and diffusion "
                                 "take it); without one, USR1 would end the job and its work "
                                 "would be lost")
            check_signal_offset(seconds, self.time)
        for pair in self.env:
            if len(pair) != 2:
                raise InputError(f"environment entries must be (NAME, value) pairs, got {pair!r}")
            check_env("--env", *pair)
        for extra in self.sbatch_extra:
            check_sbatch_option(extra)
        self._check_runs()

    def _check_runs(self):
        if self.runs is None:
            if any(RUN_INDEX in v for v in self.args + tuple(v for _, v in self.env)):
                raise InputError(f"a job argument or environment value uses {RUN_INDEX} "
                                 "but the job has no runs")
            return
        object.__setattr__(self, "runs", check_count("runs", self.runs))
        if self.array is not None or self.signal_requeue is not None:
            raise InputError("runs cannot be combined with --array or --signal-requeue")

    def _check_output_dir(self):
        check_text("--output-dir", self.output_dir, max_len=3000)
        if not os.path.isabs(self.output_dir):
            raise InputError(f"--output-dir must be an absolute path, got {self.output_dir!r}")
        if "%" in self.output_dir:
            raise InputError("--output-dir must not contain '%' (Slurm would read it as a "
                             f"file-name pattern), got {self.output_dir!r}")

    @property
    def ntasks(self):
        """Total number of MPI ranks (a :class:`CountRange` when ``nodes`` is one)."""
        return CountRange(self.nodes * self.ntasks_per_node,
                          self.nodes.maximum * self.ntasks_per_node)
