"""``clusterkit logs ID``: print a job's output file (Slurm's StdOut path for it)."""

import os
import shutil
import sys

from ..slurm.query import log_files
from ..slurm.spec import check_job_id
from ..errors import InputError

__all__ = ["add_parser", "handle"]


def add_parser(sub):
    """Register the ``logs`` subcommand."""
    p = sub.add_parser("logs", help="print a Slurm job's output",
                       description="Print the output file of a job, or of each task of an "
                       "array (headed by ==> FILE <==), as Slurm's controller reports its path.")
    p.add_argument("id", metavar="ID", help="job ID (123) or array task (123_4)")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--err", action="store_true",
                       help="the error file instead (tracebacks, clusterkit's header line)")
    which.add_argument("--path", action="store_true", help="print the file paths only")
    p.set_defaults(handler=handle)


def handle(args):
    """Print the file(s); InputError if no file exists yet (a note for each missing one)."""
    files = log_files(check_job_id(args.id))
    if args.path:
        for _, _, out, err in files:
            print(err if args.err else out)
        return 0
    printed = 0
    for task, state, out, err in files:
        path = err if args.err else out
        if not path or not os.path.isfile(path):
            when = "has not started yet" if state == "PENDING" else f"is {state}"
            note = f"job {task} {when}; no output file yet"
            if len(files) == 1:
                raise InputError(f"{note} ({path})")
            sys.stderr.write(f"clusterkit logs: {note}\n")
            continue
        if len(files) > 1:
            print(f"==> {path} <==", flush=True)
        with open(path, "rb") as f:
            shutil.copyfileobj(f, sys.stdout.buffer)
        sys.stdout.buffer.flush()
        printed += 1
    if not printed and len(files) > 1:
        raise InputError(f"no task of job {args.id} has written output yet")
    return 0
