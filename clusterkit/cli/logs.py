"""``clusterkit logs ID``: print a job's output file (Slurm's StdOut path for it)."""

import os
import shutil
import sys

from ..slurm.query import log_files, reason_text, started
from ..slurm.values import check_job_id

__all__ = ["add_parser", "handle", "EXIT_NO_OUTPUT"]

#: exit status when the job exists but (some of) the file asked for does not
EXIT_NO_OUTPUT = 1


def add_parser(sub):
    """Register the ``logs`` subcommand."""
    p = sub.add_parser("logs", help="print a Slurm job's output",
                       description="Print the output file of a job, or of each task of an "
                       "array (headed by ==> FILE <==), as Slurm's controller reports its "
                       "path. Exit status 1 (a line saying why) if a file does not exist: "
                       "the job has not started, was cancelled before it started, or the "
                       "file is gone; 2 if the ID is malformed or unknown to Slurm.")
    p.add_argument("id", metavar="ID", help="job ID (123) or array task (123_4)")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--err", action="store_true",
                       help="the error file instead (tracebacks, clusterkit's header line)")
    which.add_argument("--path", action="store_true", help="print the file paths only")
    p.set_defaults(handler=handle)


def _missing(task, record, path, what):
    """Why the ``what`` file of a job that Slurm knows is not there."""
    state = record.get("JobState", "?")
    if int(record.get("Restarts", "0") or 0) == 0 and not started(record):
        if state == "PENDING":
            reason = reason_text(state, record.get("Reason"))
            return f"job {task} has not started yet ({reason}); no {what} yet"
        return f"job {task} was {state} before it started: it never ran, so it has no {what}"
    return f"job {task} is {state}, but its {what} {path} does not exist (deleted, or not " \
           "visible from this machine)"


def handle(args):
    """Print the file(s); exit status 1 with a line for each that does not exist."""
    files = log_files(check_job_id(args.id))
    if args.path:
        for _, _, out, err in files:
            print(err if args.err else out)
        return 0
    what = "error file" if args.err else "output file"
    missing = 0
    for task, record, out, err in files:
        path = err if args.err else out
        if not path or not os.path.isfile(path):
            sys.stdout.flush()
            sys.stderr.write(f"clusterkit logs: {_missing(task, record, path, what)}\n")
            missing += 1
            continue
        if len(files) > 1:
            print(f"==> {path} <==", flush=True)
        with open(path, "rb") as f:
            shutil.copyfileobj(f, sys.stdout.buffer)
        sys.stdout.buffer.flush()
    return EXIT_NO_OUTPUT if missing else 0
