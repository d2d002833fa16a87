"""Submit a rendered script with ``sbatch --parsable``; the script is kept beside the outputs."""

import dataclasses
import os
import re
import tempfile

from .commands import find_command, run_slurm
from .render import output_patterns, render
from ..errors import InputError

__all__ = ["Submission", "submit", "parse_job_id", "earlier_files", "MAX_TRIES"]

#: Submissions tried when the job IDs Slurm gives already have files in the output directory
MAX_TRIES = 20
_JOB_FILE = re.compile(r"slurm-(\d+)[._]")
#: IDs of the jobs this process submitted (a sweep puts several into one directory)
_SUBMITTED = set()


@dataclasses.dataclass(frozen=True)
class Submission:
    """What :func:`submit` did: the job ID, the saved script, where output will go, and
    the IDs passed over because an earlier job's files in the output directory had them."""

    job_id: str
    script: str
    stdout: str
    stderr: str
    skipped: tuple = ()


def parse_job_id(text):
    """Return the job ID from ``sbatch --parsable`` output (``ID`` or ``ID;CLUSTER``).

    Raises
    ------
    ValueError
        If the output holds no job ID.
    """
    first = text.strip().splitlines()[0] if text.strip() else ""
    job_id = first.split(";", 1)[0].strip()
    if not re.fullmatch(r"[1-9]\d*", job_id):
        raise InputError(f"sbatch printed no job ID (got {text.strip()!r})")
    return job_id


def _fill(pattern, job_id):
    return pattern.replace("%A", job_id).replace("%j", job_id)


def earlier_files(output_dir, job_id):
    """Return the names of files in ``output_dir`` that belong to a job ``job_id``.

    ``slurm-ID.sh``, ``slurm-ID.out``/``.err`` and an array's ``slurm-ID_N.out``/``.err``.
    Slurm's job IDs repeat (after a restart that lost its state, or at ``MaxJobId``), and
    such files are then an earlier job's.
    """
    try:
        names = os.listdir(output_dir)
    except OSError:
        return []
    return sorted(n for n in names if n.startswith((f"slurm-{job_id}.", f"slurm-{job_id}_")))


def _holds_job_files(output_dir):
    """Whether ``output_dir`` holds a ``slurm-<ID>…`` file of a job this process did not
    submit itself (only then can a new ID be an earlier job's)."""
    try:
        names = os.listdir(output_dir)
    except OSError:
        return False
    return any(m and m.group(1) not in _SUBMITTED for m in map(_JOB_FILE.match, names))


def _withdraw(job_id, quiet_mail):
    """Cancel a held job that never ran (without the mail its end would send)."""
    if quiet_mail:
        run_slurm(["scontrol", "update", f"JobId={job_id}", "MailType=NONE"], check=False)
    run_slurm(["scancel", job_id], check=False)


def _release(job_id):
    """Release a held job; Slurm refuses one that its partition can never run."""
    try:
        run_slurm(["scontrol", "release", job_id])
    except InputError as exc:
        raise InputError(f"Slurm would not start job {job_id} ({exc}); it was cancelled, "
                         "nothing is queued") from None


def _keep_script(tmp, script):
    """Give the submitted script its final name; never replaces an existing file."""
    try:
        os.link(tmp, script)
    except FileExistsError:
        raise InputError(f"{script} appeared while submitting (another clusterkit submit "
                         "into the same --output-dir?); not replacing it") from None
    except OSError:                 # a file system without hard links
        if os.path.exists(script):
            raise InputError(f"{script} exists; not replacing it") from None
        os.replace(tmp, script)
        return
    os.unlink(tmp)


def submit(spec, site, *, sbatch="sbatch", timeout=120):
    """Render ``spec`` for ``site``, submit it, and return a :class:`Submission`.

    The script is written to a temporary name in ``spec.output_dir`` and submitted with
    ``sbatch --parsable SCRIPT`` (an argument list, never a shell), then renamed to
    ``slurm-<ID>.sh`` beside ``slurm-<ID>.out``/``.err``. If the directory already holds
    ``slurm-<ID>`` files (other than those of jobs this process submitted), the job is
    submitted held (``--hold``) instead: if files of an earlier job with the ID Slurm gave
    are there (:func:`earlier_files`), that held job is cancelled before it could write
    anything and the script submitted again, up to :data:`MAX_TRIES` times; then the job
    is released (``scontrol release``; it stays held if the site or ``--sbatch`` asked for
    ``--hold``). Nothing ever replaces an earlier job's files, and if anything fails,
    nothing stays submitted or behind (not even a directory this call created).

    Raises
    ------
    InputError
        If ``sbatch`` is not on ``PATH``, does not answer, or rejects the job (its own
        message, on one line); if the output directory holds files for each of the IDs
        tried; if Slurm refuses to release the job (a partition that can never run it).
    """
    text = render(spec, site)
    find_command(sbatch)
    created = not os.path.isdir(spec.output_dir)
    try:
        os.makedirs(spec.output_dir, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create --output-dir {spec.output_dir!r}: "
                         f"{exc.strerror}") from None
    keep_held = "--hold" in site.sbatch + tuple(spec.sbatch_extra)
    guard = _holds_job_files(spec.output_dir)
    quiet_mail = spec.mail_type is not None
    fd, tmp = tempfile.mkstemp(prefix=".clusterkit-", suffix=".sh", dir=spec.output_dir)
    job_id, script, kept, skipped = None, None, False, []
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o755)
        for _ in range(MAX_TRIES):
            proc = run_slurm([sbatch, "--parsable", *(["--hold"] if guard else []), tmp],
                             timeout=timeout)
            job_id = parse_job_id(proc.stdout)
            if not earlier_files(spec.output_dir, job_id):
                break
            _withdraw(job_id, quiet_mail)
            skipped.append(job_id)
            job_id = None
        else:
            raise InputError(
                f"--output-dir {spec.output_dir} already holds files of earlier jobs with "
                f"each of the {MAX_TRIES} job IDs Slurm gave ({skipped[0]}-{skipped[-1]}): "
                "its job IDs have started again (after a restart that lost its state?); move "
                "those slurm-ID.* files away or give another --output-dir")
        script = os.path.join(spec.output_dir, f"slurm-{job_id}.sh")
        _keep_script(tmp, script)
        kept = True
        if guard and not keep_held:
            _release(job_id)
    except BaseException:
        if job_id is not None:
            _withdraw(job_id, quiet_mail)
            if kept:
                os.unlink(script)
        if os.path.exists(tmp):
            os.unlink(tmp)
        if created:
            try:
                os.rmdir(spec.output_dir)
            except OSError:
                pass
        raise
    _SUBMITTED.add(job_id)
    out, err = output_patterns(spec)
    return Submission(job_id, script, _fill(out, job_id), _fill(err, job_id), tuple(skipped))
