"""Follow submitted jobs: status (squeue, sacct or scontrol), cancel (scancel), log files."""

import functools
import re

from .commands import one_line, run_slurm
from .values import check_job_id
from ..errors import InputError

__all__ = ["parse_scontrol", "job_records", "controller_config", "accounting_enabled",
           "status_rows", "format_rows", "cancel", "log_files", "unknown_jobs", "reason_text",
           "started", "run_times", "FINISHED_STATES", "NEVER_STARTS", "COLUMNS"]

#: Job states after which nothing more happens to a job.
FINISHED_STATES = frozenset({"COMPLETED", "CANCELLED", "FAILED", "TIMEOUT", "NODE_FAIL",
                             "PREEMPTED", "BOOT_FAIL", "DEADLINE", "OUT_OF_MEMORY"})
#: Reasons a pending job gives when it can never start as submitted (Slurm accepts such
#: jobs unless EnforcePartLimits is set, and they wait forever).
NEVER_STARTS = frozenset({"PartitionConfig", "PartitionNodeLimit", "PartitionTimeLimit",
                          "BadConstraints", "InvalidAccount", "InvalidQOS",
                          "DependencyNeverSatisfied"})
#: Columns of :func:`status_rows`, in display order.
COLUMNS = ("JOBID", "STATE", "RUNS", "ELAPSED", "EXIT", "NAME", "REASON")
#: What a pending job's reason means, for the common ones.
_PENDING = {"None": "not scheduled yet", "Priority": "other jobs go first",
            "Resources": "waiting for free resources", "Dependency": "waiting for its "
            "dependency", "BeginTime": "not eligible yet (a requeued job waits a few "
            "seconds)", "JobHeldUser": "held: scontrol release ID starts it",
            "JobHeldAdmin": "held by an administrator"}
_KEY = re.compile(r" (?=[A-Za-z][A-Za-z0-9/:_]*=)")
#: The requeue template's line for a run that stopped at a checkpoint (its run number and
#: seconds): how the time of earlier runs is known.
_STOPPED = re.compile(r"^clusterkit: run (\d+) checkpointed and stopped after (\d+) s")


def parse_scontrol(text, first="JobId"):
    """Return one dict per line of ``scontrol --oneliner show job`` output.

    Values may contain spaces (a file name, a job name): a field ends only where the next
    ``Key=`` begins. ``first`` is the key that starts a record (``PartitionName`` for
    ``show partition``).
    """
    records = []
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith(first + "="):
            continue
        record = {}
        for field in _KEY.split(line):
            key, _, value = field.partition("=")
            record[key] = value
        records.append(record)
    return records


def job_records(job_id):
    """Return scontrol's records of ``job_id`` (one per array task), or ``[]`` if unknown."""
    check_job_id(job_id)
    proc = run_slurm(["scontrol", "--oneliner", "show", "job", job_id], check=False)
    if proc.returncode != 0:
        if "Invalid job id" in proc.stderr:
            return []
        raise InputError(f"scontrol failed: {one_line(proc.stderr) or proc.returncode}")
    return sorted(parse_scontrol(proc.stdout), key=_task_order)


def _task_order(rec):
    """Array tasks in index order, the not-yet-started rest of an array last."""
    task = rec.get("ArrayTaskId", "")
    return (0, int(task)) if task.isdigit() else (1, 0)


@functools.lru_cache(maxsize=None)
def controller_config():
    """Return ``scontrol show config`` as ``{key: value}`` (once per process; ``{}`` if the
    controller does not answer)."""
    proc = run_slurm(["scontrol", "show", "config"], check=False)
    return {m.group(1): m.group(2).strip()
            for m in re.finditer(r"^(\w+)\s*=(.*)$", proc.stdout, re.M)}


def accounting_enabled():
    """Return whether the cluster keeps job accounting (so ``sacct`` knows old jobs)."""
    kind = controller_config().get("AccountingStorageType")
    return kind is not None and kind != "accounting_storage/none"


def unknown_jobs(job_ids):
    """The one error of ``status``, ``logs`` and ``cancel`` for IDs Slurm does not know.

    Returns
    -------
    InputError
        Naming the IDs, why Slurm may have forgotten them, and where their files are.
    """
    age = controller_config().get("MinJobAge", "")
    age = f" ({age} here)" if age else ""
    names = ", ".join(job_ids)
    return InputError(
        f"unknown job{'s' if len(job_ids) > 1 else ''} {names}: Slurm does not know "
        f"{'them' if len(job_ids) > 1 else 'it'} (a finished job is forgotten MinJobAge after "
        f"it ends{age}, unless the cluster keeps accounting); a job's files are "
        "slurm-ID.sh/.out/.err in the --output-dir it was submitted with")


def _display_id(rec):
    task = rec.get("ArrayTaskId")
    if task and rec.get("ArrayJobId"):
        return f"{rec['ArrayJobId']}_{task}" if task.isdigit() else f"{rec['ArrayJobId']}_[{task}]"
    return rec.get("JobId", "?")


def started(rec):
    """Whether the job's current run has started: it has (or had) a batch host or has run
    for a while (a job cancelled while pending has neither)."""
    return rec.get("BatchHost", "") not in ("", "(null)") or bool(_seconds(rec.get("RunTime")))


def reason_text(state, reason):
    """Slurm's reason for a job's state, with what it means where that is not obvious.

    A pending job without a reason (``None``) has not been looked at by the scheduler yet;
    a job that is not pending shows a reason only if it has one.
    """
    reason = reason or "None"
    if state != "PENDING":
        return "" if reason == "None" else reason
    if reason in NEVER_STARTS:
        return f"{reason}: can never start as submitted; cancel it"
    hint = _PENDING.get(reason)
    if reason == "None":
        return hint
    return f"{reason}: {hint}" if hint else reason


def _seconds(text):
    """Seconds of a Slurm duration ``[D-]HH:MM:SS``, ``MM:SS`` (``None`` if unreadable)."""
    m = re.fullmatch(r"(?:(\d+)-)?(?:(\d+):)?(\d+):(\d+)(?:\.\d+)?", (text or "").strip())
    if m is None:
        return None
    d, h, mi, sec = (int(x) if x else 0 for x in m.groups())
    return ((d * 24 + h) * 60 + mi) * 60 + sec


def _duration(seconds):
    """``seconds`` as Slurm writes durations: ``HH:MM:SS`` or ``D-HH:MM:SS``."""
    d, rest = divmod(int(seconds), 86400)
    text = f"{rest // 3600:02d}:{rest // 60 % 60:02d}:{rest % 60:02d}"
    return f"{d}-{text}" if d else text


def run_times(stderr_path, restarts):
    """Seconds of each earlier run of a requeued job, from its error file.

    The requeue template writes ``clusterkit: run N checkpointed and stopped after S s``
    before each requeue. Returns ``{N: S}`` for runs ``1..restarts`` (runs requeued
    otherwise, e.g. by Slurm after a node failure, left no such line).
    """
    found = {}
    if restarts < 1 or not stderr_path:
        return found
    try:
        with open(stderr_path, errors="replace") as f:
            for line in f:
                m = _STOPPED.match(line)
                if m and 1 <= int(m.group(1)) <= restarts:
                    found[int(m.group(1))] = int(m.group(2))
    except OSError:
        pass
    return found


def _row(job_id, state, restarts, used, is_started, stderr, exit_code, name, reason):
    """A status row: runs so far and the time over all of them (``+``: some not known)."""
    runs = restarts + (1 if is_started else 0)
    earlier = run_times(stderr, restarts)
    total = sum(earlier.values()) + ((_seconds(used) or 0) if is_started else 0)
    elapsed = _duration(total) + ("+" if len(earlier) < restarts else "")
    return {"JOBID": job_id, "STATE": state, "RUNS": str(runs), "ELAPSED": elapsed,
            "EXIT": exit_code, "NAME": name, "REASON": reason_text(state, reason)}


def _row_from_scontrol(rec):
    restarts = int(rec.get("Restarts", "0") or 0)
    return _row(_display_id(rec), rec.get("JobState", "?"), restarts, rec.get("RunTime"),
                started(rec), rec.get("StdErr"), rec.get("ExitCode", "-"),
                rec.get("JobName", ""), rec.get("Reason"))


def _fill_pattern(path, job_id):
    """squeue's file names keep Slurm's ``%j``/``%A``/``%a`` patterns: fill them in."""
    job, _, task = job_id.partition("_")
    return path.replace("%j", job).replace("%A", job).replace("%a", task or "%a")


def _sacct_rows(job_id):
    """Rows from accounting: one per job or task, summing the runs it lists for it."""
    proc = run_slurm(["sacct", "-X", "-D", "-n", "-P", "-j", job_id,
                      "--format=JobID,State,Elapsed,ExitCode,Reason,JobName"], check=False)
    runs = {}
    for line in proc.stdout.splitlines():
        parts = line.split("|", 5)
        if len(parts) == 6:
            runs.setdefault(parts[0], []).append(parts)
    rows = []
    for jid, lines in runs.items():
        _, state, _, exit_code, reason, name = lines[-1]
        state = state.split()[0] if state else "?"      # "CANCELLED by 0"
        total = sum(_seconds(p[2]) or 0 for p in lines)
        rows.append({"JOBID": jid, "STATE": state, "RUNS": str(len(lines)),
                     "ELAPSED": _duration(total), "EXIT": exit_code, "NAME": name,
                     "REASON": reason_text(state, reason)})
    return rows


def status_rows(job_ids=()):
    """Return status rows (dicts keyed by :data:`COLUMNS`) and the IDs Slurm does not know.

    Without IDs: the caller's queued and running jobs (``squeue --me``). With IDs: each
    job's (or array task's) record from ``scontrol show job`` (pending, running, and
    recently finished jobs); jobs the controller has forgotten come from ``sacct`` when the
    cluster has accounting. ``RUNS`` counts the runs started (a requeued job runs again);
    ``ELAPSED`` is the time over all of them, ``+`` where a run's time is not known.

    Returns
    -------
    rows : list of dict
    unknown : list of str
    """
    if not job_ids:
        proc = run_slurm(["squeue", "--me", "--noheader", "--Format=JobArrayID:0|,State:0|,"
                          "TimeUsed:0|,RestartCnt:0|,Reason:0|,StdErr:0|,Name:0"])
        rows = []
        for line in proc.stdout.splitlines():
            parts = line.split("|", 6)
            if len(parts) == 7:
                jid, state, used, restarts, reason, err, name = (p.strip() for p in parts)
                rows.append(_row(jid, state, int(restarts or 0), used, state != "PENDING",
                                 _fill_pattern(err, jid), "-", name, reason))
        return rows, []
    rows, unknown = [], []
    for job_id in job_ids:
        records = job_records(job_id)
        if records:
            rows += [_row_from_scontrol(r) for r in records]
            continue
        found = _sacct_rows(job_id) if accounting_enabled() else []
        rows += found
        if not found:
            unknown.append(job_id)
    return rows, unknown


def format_rows(rows):
    """Return ``rows`` as an aligned text table with a header line."""
    table = [COLUMNS] + [tuple(str(r.get(c, "")) for c in COLUMNS) for r in rows]
    widths = [max(len(t[i]) for t in table) for i in range(len(COLUMNS))]
    return "\n".join("  ".join(v.ljust(w) for v, w in zip(t, widths)).rstrip() for t in table)


def cancel(job_id, records=None):
    """Cancel ``job_id`` (a job, a whole array, or one array task) with ``scancel``.

    Parameters
    ----------
    job_id : str
    records : list of dict, optional
        Its :func:`job_records`, if already looked up.

    Returns
    -------
    str
        What happened, e.g. ``"cancelled job 12 (was RUNNING)"``.

    Raises
    ------
    InputError
        If the ID is malformed or Slurm does not know the job (scancel alone would
        exit 0 and say nothing): :func:`unknown_jobs`.
    """
    records = job_records(job_id) if records is None else records
    if not records:
        raise unknown_jobs([job_id])
    states = sorted({r.get("JobState", "?") for r in records})
    if all(s in FINISHED_STATES for s in states):
        return f"job {job_id} already ended ({', '.join(states)}); nothing to cancel"
    run_slurm(["scancel", job_id])
    return f"cancelled job {job_id} (was {', '.join(states)})"


def log_files(job_id):
    """Return one ``(task_id, record, stdout_path, stderr_path)`` per job or array task.

    Raises
    ------
    InputError
        If Slurm does not know the job (:func:`unknown_jobs`).
    """
    records = job_records(job_id)
    if not records:
        raise unknown_jobs([job_id])
    return [(_display_id(r), r, r.get("StdOut", ""), r.get("StdErr", "")) for r in records]
