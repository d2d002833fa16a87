"""Run a Slurm client command (sbatch, squeue, …) as an argument list; errors become one line."""

import shutil
import subprocess
from ..errors import InputError

__all__ = ["run_slurm", "find_command", "one_line"]


def one_line(text, limit=400):
    """Return ``text``'s non-empty lines joined by ``"; "``, shortened to ``limit`` characters."""
    line = "; ".join(s.strip() for s in text.splitlines() if s.strip())
    return line if len(line) <= limit else line[:limit - 1] + "…"


def find_command(name):
    """Return the path of Slurm command ``name``.

    Raises
    ------
    ValueError
        If it is not on ``PATH``.
    """
    exe = shutil.which(name)
    if exe is None:
        hint = " (--dry-run prints the script without it)" if name == "sbatch" else ""
        raise InputError(f"{name} not found on PATH: is Slurm installed here (a login node, "
                         f"or `module load slurm`)?{hint}")
    return exe


def run_slurm(argv, *, timeout=60, check=True):
    """Run ``argv`` (never through a shell) and return the completed process.

    Parameters
    ----------
    argv : list of str
        The command; ``argv[0]`` is looked up on ``PATH``.
    timeout : float
        Seconds before giving up (the controller may be unreachable).
    check : bool
        Raise on a non-zero exit status.

    Raises
    ------
    ValueError
        If the command is not on ``PATH``, times out, or (``check``) fails; the message is
        the command's own error output on one line.
    """
    exe = find_command(argv[0])
    try:
        proc = subprocess.run([exe, *argv[1:]], capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise InputError(f"{argv[0]} did not answer within {timeout:g} s "
                         "(is the Slurm controller reachable?)") from None
    except OSError as exc:
        raise InputError(f"cannot run {argv[0]}: {exc}") from None
    if check and proc.returncode != 0:
        message = (one_line(proc.stderr) or one_line(proc.stdout)
                   or f"exit status {proc.returncode}")
        raise InputError(f"{argv[0]} failed: {message}")
    return proc
