"""``clusterkit cancel ID…``: cancel jobs with scancel, after checking Slurm knows them."""

from ..slurm.query import cancel, job_records, unknown_jobs
from ..slurm.values import check_job_id

__all__ = ["add_parser", "handle"]


def add_parser(sub):
    """Register the ``cancel`` subcommand."""
    p = sub.add_parser("cancel", help="cancel Slurm jobs",
                       description="Cancel jobs, whole arrays (123) or array tasks (123_4) "
                       "with scancel. A malformed ID, or one Slurm does not know, is an error "
                       "(one line, exit status 2; scancel alone says nothing) and cancels "
                       "nothing; a job that already ended is not an error.")
    p.add_argument("ids", nargs="+", metavar="ID", help="job ID (123) or array task (123_4)")
    p.set_defaults(handler=handle)


def handle(args):
    """Cancel each job in turn and say what happened; a bad or unknown ID cancels nothing."""
    for job_id in args.ids:
        check_job_id(job_id)
    found = {job_id: job_records(job_id) for job_id in args.ids}
    unknown = [job_id for job_id, records in found.items() if not records]
    if unknown:
        raise unknown_jobs(unknown)
    for job_id, records in found.items():
        print(cancel(job_id, records), flush=True)
    return 0
