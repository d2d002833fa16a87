"""Submit a rendered script with ``sbatch --parsable``; the script is kept beside the outputs."""

import dataclasses
import os
import re
import tempfile

from .commands import find_command, run_slurm
from .render import output_patterns, render
from ..errors import InputError

__all__ = ["Submission", "submit", "parse_job_id"]


@dataclasses.dataclass(frozen=True)
class Submission:
    """What :func:`submit` did: the job ID, the saved script, and where output will go."""

    job_id: str
    script: str
    stdout: str
    stderr: str


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


def submit(spec, site, *, sbatch="sbatch", timeout=120):
    """Render ``spec`` for ``site``, submit it, and return a :class:`Submission`.

    The script is written to a temporary name in ``spec.output_dir``, submitted with
    ``sbatch --parsable SCRIPT`` (an argument list, never a shell), and renamed to
    ``slurm-<ID>.sh`` beside ``slurm-<ID>.out``/``.err``. If sbatch is missing or rejects
    the script, nothing stays behind (not even a directory this call created).

    Raises
    ------
    ValueError
        If ``sbatch`` is not on ``PATH``, does not answer, or rejects the job (its own
        message, on one line).
    """
    text = render(spec, site)
    find_command(sbatch)
    created = not os.path.isdir(spec.output_dir)
    try:
        os.makedirs(spec.output_dir, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create --output-dir {spec.output_dir!r}: "
                         f"{exc.strerror}") from None
    fd, tmp = tempfile.mkstemp(prefix=".clusterkit-", suffix=".sh", dir=spec.output_dir)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o755)
        proc = run_slurm([sbatch, "--parsable", tmp], timeout=timeout)
        job_id = parse_job_id(proc.stdout)
    except BaseException:
        os.unlink(tmp)
        if created:
            try:
                os.rmdir(spec.output_dir)
            except OSError:
                pass
        raise
    script = os.path.join(spec.output_dir, f"slurm-{job_id}.sh")
    os.replace(tmp, script)
    out, err = output_patterns(spec)
    return Submission(job_id, script, _fill(out, job_id), _fill(err, job_id))
