"""The ``clusterkit`` command: dispatches to one module per subcommand."""

import argparse
import importlib
import os
import sys

from ..errors import InputError

__all__ = ["main", "build_parser", "CliParser"]

#: subcommand -> module of this package that defines its ``add_parser``
_COMMANDS = {"run": "run", "info": "info", "make-dataset": "make_dataset",
             "submit": "submit", "status": "status", "cancel": "cancel", "logs": "logs",
             "bench": "bench"}


#: environment variables in which MPI launchers give a process its rank
_RANK_VARIABLES = ("OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK", "SLURM_PROCID")


def _first_rank():
    """Whether this process is rank 0 of an ``mpirun``/``srun`` launch, or not launched by
    one (``mpirun -n N clusterkit make-dataset …`` runs this command on every rank, and a
    bad option must be reported once, not N times)."""
    for name in _RANK_VARIABLES:
        value = os.environ.get(name, "")
        if value.isdigit():
            return int(value) == 0
    return True


def _error_line(text):
    if _first_rank():
        sys.stderr.write(text + "\n")
        sys.stderr.flush()


class CliParser(argparse.ArgumentParser):
    """ArgumentParser whose errors are one line, ``clusterkit: error: …``, exit status 2
    (printed by rank 0 only when the command runs on several ranks)."""

    def error(self, message):
        """Print one line naming the problem and exit with status 2."""
        _error_line(f"{self.prog}: error: {message}")
        raise SystemExit(2)


def build_parser(commands=None):
    """Return the top-level parser with ``commands`` (default: every subcommand) registered.

    A subcommand's module is imported only when it is registered: ``main`` registers just
    the one it runs, so ``clusterkit run`` does not import the Slurm or bench modules
    (about 20 ms before the ranks start).
    """
    parser = CliParser(prog="clusterkit",
                       description="SPMD array computing on MPI clusters.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=CliParser)
    sub.required = True
    for name in commands or _COMMANDS:
        importlib.import_module(f".{_COMMANDS[name]}", __package__).add_parser(sub)
    return parser


def main(argv=None):
    """Entry point of the ``clusterkit`` console script; returns the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser([argv[0]] if argv and argv[0] in _COMMANDS else None)
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except (InputError, OSError) as exc:   # bad input or the system refused; bugs keep
        # their traceback
        _error_line(f"clusterkit {args.command}: error: {exc}")
        return 2


if __name__ == "__main__":
    sys.exit(main())
