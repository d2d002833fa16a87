"""The jobs' checkpoint options (``--checkpoint-dir``, ``--checkpoint-every``, ``--restart``)."""

import os

from clusterkit import comm as _comm
from clusterkit.errors import InputError, InputNotADirectoryError
from clusterkit.io.checkpoint import Checkpointer, install_signal_handlers
from clusterkit.log import rprint
from clusterkit.options import integer_at_least, positive_number

__all__ = ["add_checkpoint_arguments", "checkpointer_from_args", "RESTART_VARIABLE"]

#: set to 1 by the requeue template on a requeued run: resume from the newest checkpoint
RESTART_VARIABLE = "CLUSTERKIT_RESTART"


def _not_a_file(path):
    """The error that makes ``path`` unusable as a checkpoint directory, or ``None``."""
    if os.path.exists(path) and not os.path.isdir(path):
        return InputNotADirectoryError(f"--checkpoint-dir {path!r} is a file, not a directory")
    return None


def add_checkpoint_arguments(parser):
    """Add ``--checkpoint-dir``, ``--checkpoint-every``, ``--checkpoint-seconds``,
    ``--checkpoint-keep`` and ``--restart`` to an ``argparse`` parser."""
    g = parser.add_argument_group("checkpoint/restart")
    g.add_argument("--checkpoint-dir", metavar="DIR",
                   help="write checkpoints to DIR; SIGTERM/SIGUSR1 then make the job write "
                        "one at the next step and exit with status 99 (requeue)")
    g.add_argument("--checkpoint-every", type=integer_at_least(1), metavar="N",
                   help="write a checkpoint every N steps")
    g.add_argument("--checkpoint-seconds", type=positive_number("seconds"), metavar="T",
                   help="write a checkpoint when T seconds have passed since the last one")
    g.add_argument("--checkpoint-keep", type=integer_at_least(1), default=3, metavar="K",
                   help="keep the last K checkpoints (default 3)")
    g.add_argument("--restart", action="store_true", default=None,
                   help="resume from the newest valid checkpoint in --checkpoint-dir "
                        "(implied by CLUSTERKIT_RESTART=1, which the requeue template sets "
                        "on a requeued run: there, a directory with no checkpoint yet "
                        "starts the run from the beginning)")


def checkpointer_from_args(args, job, meta, comm):
    """A :class:`Checkpointer` for the parsed options, or ``None`` without ``--checkpoint-dir``.

    Installs the SIGTERM/SIGUSR1 handlers and deletes stale temporaries.
    Collective.

    Raises
    ------
    InputError
        Checkpoint options without ``--checkpoint-dir``; a ``--checkpoint-dir`` that is
        a file; a fresh run (no ``--restart``) into a directory that already holds
        checkpoints.
    """
    implied = args.restart is None and os.environ.get(RESTART_VARIABLE) == "1"
    args.restart = bool(args.restart)
    if args.checkpoint_dir is None:
        for flag, value in (("--restart", args.restart or None),
                            ("--checkpoint-every", args.checkpoint_every),
                            ("--checkpoint-seconds", args.checkpoint_seconds)):
            if value is not None:
                raise InputError(f"{flag} needs --checkpoint-dir DIR")
        return None
    _comm.root_decides(lambda: _not_a_file(args.checkpoint_dir), comm)
    ck = Checkpointer(args.checkpoint_dir, comm=comm, every=args.checkpoint_every,
                      seconds=args.checkpoint_seconds, keep=args.checkpoint_keep, job=job,
                      meta=meta)
    if implied:
        # a requeued run: resume if the job got as far as a checkpoint (a node may fail
        # before the first one), else start again from the beginning
        args.restart = ck.has_checkpoints()
        if not args.restart:
            rprint(f"{job}: {RESTART_VARIABLE}=1 but no checkpoint in "
                   f"{args.checkpoint_dir!r} yet: starting from the beginning", comm=comm)
    if not args.restart and ck.has_checkpoints():
        raise InputError(f"--checkpoint-dir {args.checkpoint_dir!r} already holds "
                         f"checkpoints; pass --restart to resume from them or use an "
                         f"empty directory")
    ck.remove_stale()
    install_signal_handlers()
    comm.Barrier()  # every rank has its handlers before anyone reports readiness
    return ck
