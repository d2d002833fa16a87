"""``clusterkit submit JOB [options] -- [job args]``: render a batch script and sbatch it."""

import argparse
import os
import sys

from ..slurm.commands import find_command
from ..slurm.limits import check_partition
from ..slurm.render import render
from ..slurm.sites import load_site
from ..slurm.spec import JobSpec
from ..slurm.submit import submit
from .run import resolve_job
from ..errors import InputError

__all__ = ["add_parser", "handle", "build_spec"]

_PARSER = {}
_USAGE = "clusterkit submit JOB [options] [-- JOB_ARGS...]"


def add_parser(sub):
    """Register the ``submit`` subcommand."""
    p = sub.add_parser(
        "submit", usage=_USAGE, help="render a Slurm batch script for a job and submit it",
        description="Render a batch script for JOB from clusterkit's templates and the site "
        "profile, save it beside the job's output files, submit it with sbatch --parsable and "
        "print the job ID. Every option is checked before anything runs. The job's own "
        "arguments go after --; in an array job, {array_index} in them becomes the task's "
        "index.")
    add = p.add_argument
    add("-N", "--nodes", default="1", metavar="N",
        help="nodes: N, or MIN-MAX to start on as many as are free (default 1)")
    add("--ntasks-per-node", default="1", metavar="N", help="MPI ranks per node (default 1)")
    add("-c", "--cpus-per-task", default="1", metavar="N",
        help="cores per rank; NUMBA_NUM_THREADS follows it (default 1)")
    add("-t", "--time", help="time limit: MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS, "
        "UNLIMITED (default: the site's)")
    add("-p", "--partition", help="partition (default: the site's)")
    add("-A", "--account", help="account to charge (default: the site's)")
    add("-q", "--qos", help="quality of service (default: the site's)")
    mem = p.add_mutually_exclusive_group()
    mem.add_argument("--mem", help="memory per node, e.g. 4G (0: all of it)")
    mem.add_argument("--mem-per-cpu", help="memory per core, e.g. 2000M")
    add("-C", "--constraint", help="node features required")
    add("--exclusive", action="store_true", help="whole nodes only")
    add("-a", "--array", help="job array indices: 0-9, 0-9%%2 (2 at a time), 1,3,5, 0-15:4")
    add("-d", "--dependency", help="e.g. afterok:123[:124], afterany:123, singleton")
    add("-J", "--job-name", help="job name (default: the job's)")
    add("--output-dir", default="clusterkit-jobs", metavar="DIR",
        help="where the script and slurm-ID.out/.err go (default ./clusterkit-jobs)")
    add("--signal-requeue", metavar="SECONDS",
        help="SECONDS before the time limit send USR1: the job checkpoints, and is requeued")
    add("--mail-type", help="e.g. END,FAIL")
    add("--mail-user", help="address for --mail-type")
    add("--env", action="append", default=[], metavar="NAME=VALUE",
        help="environment variable for the job (repeatable)")
    add("--profile", action="store_true",
        help="print the per-region profile table at the end of the job (as in run)")
    add("--trace", metavar="FILE",
        help="write a Chrome trace of every rank to FILE (as in run)")
    add("--sbatch", action="append", default=[], metavar="--OPTION[=VALUE]",
        help="any other sbatch option (repeatable), e.g. --sbatch=--gres=gpu:1")
    add("--site", help="site profile name or .toml path (default: $CLUSTERKIT_SITE or local)")
    add("--dry-run", action="store_true", help="print the script; submit nothing")
    # JOB, any options after it, and the job's own arguments after -- are taken apart by
    # _split_command from the words as given: argparse drops a -- that directly follows a
    # positional JOB (Python 3.11), so `submit stencil -- 10 1000` read 10 as an option.
    add("rest", nargs=argparse.REMAINDER, metavar="JOB",
        help="job name (demo, …), module path, or script.py; options may follow it, and the "
        "job's own arguments follow --")
    p.set_defaults(handler=handle)
    _PARSER["submit"] = p


def _split_command(args):
    """Set ``args.job`` from the words after submit's options; return the job's arguments.

    The words are ``JOB [options] [-- JOB_ARGS...]``: the job's arguments are everything
    after the first ``--``, the options between JOB and it are parsed as if given before
    JOB, and any other word there is refused.
    """
    words = list(args.rest)
    parser = _PARSER["submit"]
    if not words or words[0] == "--":
        parser.error("the following arguments are required: JOB")
    job, words = words[0], words[1:]
    if "--" in words:
        options, job_args = words[:words.index("--")], words[words.index("--") + 1:]
    else:
        options, job_args = words, []
    args.rest = []
    if options:
        parser.parse_args(options, namespace=args)
        if args.rest:
            raise InputError(f"unexpected argument {args.rest[0]!r} after {job}: the job's "
                             f"own arguments go after --, as in: {_USAGE}")
    args.job = job
    return job_args


def _env_pairs(items):
    pairs = []
    for item in items:
        name, eq, value = item.partition("=")
        if not eq:
            raise InputError(f"--env must be NAME=VALUE, got {item!r}")
        pairs.append((name, value))
    return pairs


def _trace_env(args):
    """``--profile``/``--trace`` as the variables that switch tracing on in the ranks."""
    pairs = [("CLUSTERKIT_PROFILE", "1")] if args.profile else []
    if args.trace:
        folder = os.path.dirname(os.path.abspath(args.trace))
        if not os.path.isdir(folder):
            raise InputError(f"--trace: directory {folder!r} does not exist")
        pairs.append(("CLUSTERKIT_TRACE", os.path.abspath(args.trace)))
    return pairs


def build_spec(args, job_args):
    """Return the :class:`JobSpec` for parsed ``submit`` arguments (ValueError if invalid)."""
    target, is_module = resolve_job(args.job)
    return JobSpec(
        target=target, module=is_module, args=job_args, python=sys.executable,
        job_name=args.job_name, nodes=args.nodes, ntasks_per_node=args.ntasks_per_node,
        cpus_per_task=args.cpus_per_task, time=args.time, partition=args.partition,
        account=args.account, qos=args.qos, constraint=args.constraint, mem=args.mem,
        mem_per_cpu=args.mem_per_cpu, exclusive=args.exclusive, mail_type=args.mail_type,
        mail_user=args.mail_user, array=args.array, dependency=args.dependency,
        output_dir=os.path.abspath(args.output_dir), signal_requeue=args.signal_requeue,
        env=_env_pairs(args.env) + _trace_env(args), sbatch_extra=args.sbatch)


def handle(args):
    """Validate, render, and submit (or print, with ``--dry-run``); print the job ID.

    Before sbatch runs, a job the partition can never run is refused
    (:func:`clusterkit.slurm.limits.check_partition`); a dry run does not ask Slurm.
    """
    job_args = _split_command(args)
    site = load_site(args.site)
    spec = build_spec(args, job_args)
    text = render(spec, site)              # checks what needs the site too, Slurm not asked
    if args.dry_run:
        sys.stdout.write(text)
        return 0
    find_command("sbatch")
    check_partition(spec, site)
    done = submit(spec, site)
    print(done.job_id, flush=True)
    if done.skipped:
        sys.stderr.write(f"clusterkit submit: {spec.output_dir} already held files of earlier "
                         f"jobs {', '.join(done.skipped)} (Slurm's job IDs started again); "
                         "left them alone and submitted again\n")
    sys.stderr.write(f"clusterkit submit: job {done.job_id} submitted (site {site.name}); "
                     f"script {done.script}; output {done.stdout}\n")
    return 0
