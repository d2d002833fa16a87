"""Follow submitted jobs: status (squeue, sacct or scontrol), cancel (scancel), log files."""

import re

from .commands import one_line, run_slurm
from .spec import check_job_id
from ..errors import InputError

__all__ = ["parse_scontrol", "job_records", "accounting_enabled", "status_rows",
           "format_rows", "cancel", "log_files", "FINISHED_STATES", "COLUMNS"]

#: Job states after which nothing more happens to a job.
FINISHED_STATES = frozenset({"COMPLETED", "CANCELLED", "FAILED", "TIMEOUT", "NODE_FAIL",
                             "PREEMPTED", "BOOT_FAIL", "DEADLINE", "OUT_OF_MEMORY"})
#: Columns of :func:`status_rows`, in display order.
COLUMNS = ("JOBID", "STATE", "ELAPSED", "EXIT", "NAME", "REASON")
_KEY = re.compile(r" (?=[A-Za-z][A-Za-z0-9/:_]*=)")


def parse_scontrol(text):
    """Return one dict per line of ``scontrol --oneliner show job`` output.

    Values may contain spaces (a file name, a job name): a field ends only where the next
    ``Key=`` begins.
    """
    records = []
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("JobId="):
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


def accounting_enabled():
    """Return whether the cluster keeps job accounting (so ``sacct`` knows old jobs)."""
    proc = run_slurm(["scontrol", "show", "config"], check=False)
    m = re.search(r"^AccountingStorageType\s*=\s*(\S+)", proc.stdout, re.M)
    return bool(m) and m.group(1) != "accounting_storage/none"


def _display_id(rec):
    task = rec.get("ArrayTaskId")
    if task and rec.get("ArrayJobId"):
        return f"{rec['ArrayJobId']}_{task}" if task.isdigit() else f"{rec['ArrayJobId']}_[{task}]"
    return rec.get("JobId", "?")


def _row_from_scontrol(rec):
    return {"JOBID": _display_id(rec), "STATE": rec.get("JobState", "?"),
            "ELAPSED": rec.get("RunTime", "-"), "EXIT": rec.get("ExitCode", "-"),
            "NAME": rec.get("JobName", ""), "REASON": rec.get("Reason", "")}


def _sacct_rows(job_id):
    proc = run_slurm(["sacct", "-X", "-n", "-P", "-j", job_id,
                      "--format=JobID,State,Elapsed,ExitCode,Reason,JobName"], check=False)
    rows = []
    for line in proc.stdout.splitlines():
        parts = line.split("|", 5)
        if len(parts) == 6:
            rows.append(dict(zip(("JOBID", "STATE", "ELAPSED", "EXIT", "REASON", "NAME"),
                                 parts)))
    return rows


def status_rows(job_ids=()):
    """Return status rows (dicts keyed by :data:`COLUMNS`) and the IDs Slurm does not know.

    Without IDs: the caller's queued and running jobs (``squeue --me``). With IDs: each
    job's (or array task's) record from ``scontrol show job`` (pending, running, and
    recently finished jobs); jobs the controller has forgotten come from ``sacct`` when the
    cluster has accounting.

    Returns
    -------
    rows : list of dict
    unknown : list of str
    """
    if not job_ids:
        proc = run_slurm(["squeue", "--me", "--noheader", "--format=%i|%T|%M|%r|%j"])
        rows = []
        for line in proc.stdout.splitlines():
            parts = line.split("|", 4)
            if len(parts) == 5:
                rows.append({"JOBID": parts[0], "STATE": parts[1], "ELAPSED": parts[2],
                             "EXIT": "-", "REASON": parts[3], "NAME": parts[4]})
        return rows, []
    rows, unknown, accounting = [], [], None
    for job_id in job_ids:
        records = job_records(job_id)
        if records:
            rows += [_row_from_scontrol(r) for r in records]
            continue
        if accounting is None:
            accounting = accounting_enabled()
        found = _sacct_rows(job_id) if accounting else []
        rows += found
        if not found:
            unknown.append(job_id)
    return rows, unknown


def format_rows(rows):
    """Return ``rows`` as an aligned text table with a header line."""
    table = [COLUMNS] + [tuple(str(r.get(c, "")) for c in COLUMNS) for r in rows]
    widths = [max(len(t[i]) for t in table) for i in range(len(COLUMNS))]
    return "\n".join("  ".join(v.ljust(w) for v, w in zip(t, widths)).rstrip() for t in table)


def cancel(job_id):
    """Cancel ``job_id`` (a job, a whole array, or one array task) with ``scancel``.

    Returns
    -------
    str
        What happened, e.g. ``"cancelled job 12 (was RUNNING)"``.

    Raises
    ------
    ValueError
        If the ID is malformed or Slurm does not know the job (scancel alone would
        exit 0 and say nothing).
    """
    records = job_records(job_id)
    if not records:
        raise InputError(f"unknown job {job_id}: Slurm's controller does not know it "
                         "(finished jobs are forgotten after MinJobAge)")
    states = sorted({r.get("JobState", "?") for r in records})
    if all(s in FINISHED_STATES for s in states):
        return f"job {job_id} already ended ({', '.join(states)}); nothing to cancel"
    run_slurm(["scancel", job_id])
    return f"cancelled job {job_id} (was {', '.join(states)})"


def log_files(job_id):
    """Return ``[(task_id, state, stdout_path, stderr_path), …]`` for ``job_id``.

    Raises
    ------
    ValueError
        If Slurm does not know the job any more.
    """
    records = job_records(job_id)
    if not records:
        raise InputError(f"unknown job {job_id}: Slurm's controller does not know it any more; "
                         f"its output is slurm-{job_id}.out in the --output-dir it was "
                         "submitted with")
    return [(_display_id(r), r.get("JobState", "?"), r.get("StdOut", ""), r.get("StdErr", ""))
            for r in records]
