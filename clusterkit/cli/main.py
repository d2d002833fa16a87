"""The ``clusterkit`` command: dispatches to one module per subcommand."""

import argparse
import sys

from . import info as _info
from . import make_dataset as _make_dataset
from . import bench as _bench
from . import run as _run
from . import submit as _submit
from . import status as _status
from . import cancel as _cancel
from . import logs as _logs

__all__ = ["main", "build_parser", "CliParser"]

_COMMANDS = {"run": _run, "info": _info, "make-dataset": _make_dataset,
             "submit": _submit, "status": _status, "cancel": _cancel, "logs": _logs,
             "bench": _bench}


class CliParser(argparse.ArgumentParser):
    """ArgumentParser whose errors are one line, ``clusterkit: error: …``, exit status 2."""

    def error(self, message):
        """Print one line naming the problem and exit with status 2."""
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise SystemExit(2)


def build_parser():
    """Return the top-level parser with every subcommand registered."""
    parser = CliParser(prog="clusterkit",
                       description="SPMD array computing on MPI clusters.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=CliParser)
    sub.required = True
    for name, module in _COMMANDS.items():
        module.add_parser(sub)
    return parser


def main(argv=None):
    """Entry point of the ``clusterkit`` console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        return args.handler(args)
    except (ValueError, TypeError, OSError) as exc:
        sys.stderr.write(f"clusterkit {args.command}: error: {exc}\n")
        return 2


if __name__ == "__main__":
    sys.exit(main())
