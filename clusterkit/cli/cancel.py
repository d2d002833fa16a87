"""``clusterkit cancel ID…``: cancel jobs with scancel, after checking Slurm knows them."""

from ..slurm.query import cancel
from ..slurm.spec import check_job_id

__all__ = ["add_parser", "handle"]


def add_parser(sub):
    """Register the ``cancel`` subcommand."""
    p = sub.add_parser("cancel", help="cancel Slurm jobs",
                       description="Cancel jobs, whole arrays (123) or array tasks (123_4) "
                       "with scancel. An unknown ID is an error (scancel alone says nothing).")
    p.add_argument("ids", nargs="+", metavar="ID", help="job ID (123) or array task (123_4)")
    p.set_defaults(handler=handle)


def handle(args):
    """Cancel each job in turn and say what happened; a malformed ID cancels nothing."""
    for job_id in args.ids:
        check_job_id(job_id)
    for job_id in args.ids:
        print(cancel(job_id), flush=True)
    return 0
