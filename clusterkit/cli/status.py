"""``clusterkit status [ID…]``: a table of jobs from squeue, scontrol or sacct."""

import sys

from ..slurm.query import format_rows, status_rows
from ..slurm.spec import check_job_id

__all__ = ["add_parser", "handle"]


def add_parser(sub):
    """Register the ``status`` subcommand."""
    p = sub.add_parser("status", help="show Slurm jobs (yours, or the IDs given)",
                       description="Without IDs: your queued and running jobs (squeue). "
                       "With IDs: each job or array task, also recently finished ones "
                       "(scontrol; sacct for older ones where the cluster keeps accounting). "
                       "Exit status 1 if Slurm knows none of the records for some ID.")
    p.add_argument("ids", nargs="*", metavar="ID", help="job ID (123) or array task (123_4)")
    p.set_defaults(handler=handle)


def handle(args):
    """Print the table; return 1 if some ID is unknown (IDs are checked before Slurm runs)."""
    for job_id in args.ids:
        check_job_id(job_id)
    rows, unknown = status_rows(args.ids)
    if rows or not args.ids:
        print(format_rows(rows))
    for job_id in unknown:
        sys.stderr.write(f"clusterkit status: job {job_id} is not known to Slurm (finished "
                         "jobs are forgotten after MinJobAge unless the cluster keeps "
                         "accounting)\n")
    return 1 if unknown else 0
