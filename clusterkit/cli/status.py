"""``clusterkit status [ID…]``: a table of jobs from squeue, scontrol or sacct."""

from ..slurm.query import format_rows, status_rows, unknown_jobs
from ..slurm.values import check_job_id

__all__ = ["add_parser", "handle"]


def add_parser(sub):
    """Register the ``status`` subcommand."""
    p = sub.add_parser("status", help="show Slurm jobs (yours, or the IDs given)",
                       description="Without IDs: your queued and running jobs (squeue). "
                       "With IDs: each job or array task, also recently finished ones "
                       "(scontrol; sacct for older ones where the cluster keeps accounting). "
                       "RUNS counts a requeued job's runs and ELAPSED adds up their time; "
                       "REASON says why a job waits. Exit status 2 (one line, after the "
                       "table of the others) if an ID is malformed or unknown to Slurm.")
    p.add_argument("ids", nargs="*", metavar="ID", help="job ID (123) or array task (123_4)")
    p.set_defaults(handler=handle)


def handle(args):
    """Print the table; InputError if some ID is unknown (IDs are checked before Slurm runs)."""
    for job_id in args.ids:
        check_job_id(job_id)
    rows, unknown = status_rows(args.ids)
    if rows or not args.ids:
        print(format_rows(rows), flush=True)
    if unknown:
        raise unknown_jobs(unknown)
    return 0
