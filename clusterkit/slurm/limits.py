"""Refuse a job its partition can never run: too many nodes, cores or time.

sbatch accepts such a job unless the cluster sets ``EnforcePartLimits``, and it then
pends forever (reason ``PartitionNodeLimit``, ``PartitionConfig``, ``PartitionTimeLimit``).
:func:`check_partition` compares a job spec with the partition's configuration
(``scontrol show partition``) and its nodes' CPU counts (``sinfo``) before anything is
submitted, so that the user gets one line naming the partition's limits instead.
"""

from .commands import run_slurm
from .query import parse_scontrol
from .values import check_signal_offset, parse_time
from ..errors import InputError

__all__ = ["partitions", "node_cpus", "partition_problems", "check_partition"]


def partitions():
    """Return ``scontrol show partition``'s records, one dict per partition (``[]`` if
    scontrol fails: sbatch, which runs next, then says why)."""
    proc = run_slurm(["scontrol", "--oneliner", "show", "partition"], check=False)
    return parse_scontrol(proc.stdout, first="PartitionName") if proc.returncode == 0 else []


def node_cpus(partition):
    """Return ``[(node count, CPUs per node), …]`` for the nodes of ``partition`` (``None``
    if sinfo does not say)."""
    proc = run_slurm(["sinfo", "--noheader", "--exact", f"--partition={partition}",
                      "--format=%D|%c"], check=False)
    groups = []
    for line in proc.stdout.splitlines():
        count, _, cpus = line.strip().partition("|")
        if count.isdigit() and cpus.rstrip("+").isdigit():
            groups.append((int(count), int(cpus.rstrip("+"))))
    return groups if proc.returncode == 0 and groups else None


def _limit(value):
    """An integer limit of ``scontrol show partition``, or ``None`` for UNLIMITED."""
    return int(value) if value and value.isdigit() else None


def _time_limit(value):
    """A time limit of ``scontrol show partition`` as text, or ``None`` (NONE, UNLIMITED)."""
    return None if value in (None, "", "NONE", "UNLIMITED", "INFINITE") else value


def _describe(rec, groups):
    """The partition's limits in a few words."""
    total = _limit(rec.get("TotalNodes")) or 0
    shapes = f" ({', '.join(f'{n} with {c} CPUs' for n, c in groups)})" if groups else ""
    parts = [f"{total} node{'s' if total != 1 else ''}{shapes}"]
    if _limit(rec.get("MaxNodes")) is not None:
        parts.append(f"MaxNodes {rec['MaxNodes']}")
    if _limit(rec.get("MaxCPUsPerNode")) is not None:
        parts.append(f"MaxCPUsPerNode {rec['MaxCPUsPerNode']}")
    parts.append(f"MaxTime {rec.get('MaxTime', 'UNLIMITED')}")
    return f"partition {rec.get('PartitionName', '?')} has " + ", ".join(parts)


def partition_problems(spec, time_text, rec, groups):
    """Why partition record ``rec`` (nodes ``groups``) can never run ``spec``.

    Parameters
    ----------
    spec : clusterkit.slurm.spec.JobSpec
    time_text : str or None
        The job's time limit (``--time`` or the site's default); ``None``: the partition's.
    rec : dict
        The partition's ``scontrol show partition`` record.
    groups : list of (int, int) or None
        :func:`node_cpus` of the partition (``None``: unknown, not checked).

    Returns
    -------
    list of str
        Empty if the partition can run the job.
    """
    problems = []
    total, most = _limit(rec.get("TotalNodes")) or 0, _limit(rec.get("MaxNodes"))
    if spec.nodes > total or (most is not None and spec.nodes > most):
        problems.append(f"{spec.nodes} nodes (-N {spec.nodes})")
    cap = _limit(rec.get("MaxCPUsPerNode"))
    need = spec.ntasks_per_node * spec.cpus_per_task
    fitting = sum(n for n, cpus in groups or () if min(cpus, cap or cpus) >= need)
    if groups is not None and fitting < min(spec.nodes, total):
        problems.append(f"{need} CPUs per node (--ntasks-per-node {spec.ntasks_per_node} x "
                        f"--cpus-per-task {spec.cpus_per_task})")
    max_time = _time_limit(rec.get("MaxTime"))
    if time_text is not None and max_time is not None:
        asked, allowed = parse_time(time_text), parse_time(max_time, "MaxTime")
        if asked is None or asked > allowed:
            problems.append(f"a time limit of {time_text}")
    return problems


def check_partition(spec, site):
    """Refuse ``spec`` if the partition it goes to can never run it.

    The partition is the job's ``--partition``, else the site's default, else Slurm's
    default partition; with a list (``a,b``) one of them must fit. Also refuses
    ``--signal-requeue`` when the time limit comes from the partition and is too short or
    unlimited (:func:`clusterkit.slurm.values.check_signal_offset`). Unknown partitions are
    left to sbatch, which names them.

    Raises
    ------
    InputError
        One line: what the job asks for and the partition's limits.
    """
    wanted = spec.partition or site.defaults.get("partition")
    time_text = spec.time or site.defaults.get("time")
    records = partitions()
    if wanted:
        names = wanted.split(",")
        candidates = [r for r in records if r.get("PartitionName") in names]
        if len(candidates) < len(names):
            return                      # sbatch refuses an unknown partition itself
    else:
        candidates = [r for r in records if r.get("Default") == "YES"][:1]
    refusals = []
    for rec in candidates:
        groups = node_cpus(rec["PartitionName"])
        problems = partition_problems(spec, time_text, rec, groups)
        if not problems:
            if spec.signal_requeue is not None and time_text is None:
                limit = _time_limit(rec.get("DefaultTime")) or rec.get("MaxTime")
                check_signal_offset(spec.signal_requeue, limit or "UNLIMITED",
                                    f"partition {rec['PartitionName']}'s time limit")
            return
        refusals.append(f"the job asks for {' and '.join(problems)}, but {_describe(rec, groups)}")
    if refusals:
        raise InputError(f"{'; '.join(refusals)}: Slurm would accept the job and it would wait "
                         "forever; ask for less or choose another --partition")
