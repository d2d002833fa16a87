"""SPMD job entry: the abort guard, rank-0 argument parsing and the threads policy."""

import argparse
import atexit
import errno
import os
import re
import sys
import traceback

from . import comm as _comm
from . import trace as _trace
from .comm import MPI
from .errors import InputError
from .launch import STATUS_VARIABLE

__all__ = ["run_job", "exit_job", "JobArgumentParser", "abort", "on_abort", "configure_threads",
           "INPUT_ERRORS"]

on_abort = _comm.on_abort   # the registry lives in comm, below the I/O layer that uses it

#: the exception that means "bad input": one line on rank 0 and exit status 2, provided
#: every rank raised one (otherwise it is a bug and the job aborts with tracebacks).
#: Any other exception, a ValueError or TypeError of the job's own code included, is a bug.
INPUT_ERRORS = (InputError,)

#: errors of the system, not of the input or the code (a full disk, a quota, an I/O error,
#: a read-only file system): raised on every rank, one line on rank 0 and exit status 1
SYSTEM_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO, errno.EROFS})


def abort(exc=None, status=1):
    """Print ``exc``'s traceback prefixed with this rank, then MPI-Abort the whole job.

    Never returns. Every other rank is killed promptly by the MPI runtime, so an
    exception on one rank cannot leave the others waiting in a collective.
    """
    rank, size = _comm.world_position()
    prefix = f"[rank {rank}/{size}]"
    if exc is not None:
        text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        lines = [f"{prefix} {line}" for line in text.rstrip("\n").split("\n")]
        lines.append(f"{prefix} aborting the job: uncaught {type(exc).__name__} on rank {rank}")
        sys.stderr.write("\n".join(lines) + "\n")
    sys.stderr.flush()
    sys.stdout.flush()
    _comm.abort_job(status)   # runs the on_abort callbacks first
    os._exit(status)  # pragma: no cover - Abort does not return


def _excepthook(exc_type, exc, tb):
    if exc is None:
        exc = exc_type()
    exc.__traceback__ = tb
    abort(exc)


def configure_threads(comm=None):
    """Apply the threads-per-rank policy to Numba (if it is imported) and return it."""
    from .threads import threads_per_rank
    local = _comm.resolve(comm).Split_type(MPI.COMM_TYPE_SHARED)
    try:
        n = threads_per_rank(local.Get_size())
    finally:
        local.Free()
    numba = sys.modules.get("numba")
    if numba is not None:
        n = min(n, numba.config.NUMBA_NUM_THREADS)
        numba.set_num_threads(n)
    return n


def run_job(main, argv=None, comm=None, prog=None):
    """Run ``main(argv, comm=comm)`` under the abort guard and return its exit status.

    - returns ``main``'s result (``None`` → 0);
    - a ``SystemExit`` (e.g. from argument parsing, identical on every rank)
      passes its status through;
    - an :class:`~clusterkit.errors.InputError` raised on *every* rank prints one
      line ``prog: error: …`` on rank 0 and returns 2; if the ranks do not all
      raise one within ``CLUSTERKIT_AGREE_TIMEOUT`` seconds it is treated as a bug;
      a ``ValueError``/``TypeError`` that is not an ``InputError`` is a bug in the
      job, even when every rank raises it, and keeps its traceback;
    - an ``OSError`` of the system (:data:`SYSTEM_ERRNOS`: a full disk, a quota, an I/O
      error) raised on every rank prints one line on rank 0 and returns 1;
    - any other exception prints its traceback with the rank and aborts the
      whole job (``MPI_Abort``), so no rank is left hanging.

    Use it as ``sys.exit(run_job(main))`` under ``if __name__ == "__main__"``.
    Set ``CLUSTERKIT_DEBUG=1`` to get tracebacks for input errors too.
    """
    global _status_dir
    # this launch's exit-status channel is for these ranks only, not for the processes
    # they start (a nested mpirun, sbatch)
    _status_dir = os.environ.pop(STATUS_VARIABLE, None) or _status_dir
    sys.excepthook = _excepthook
    c = _comm.resolve(comm)
    guard = c.Dup()
    prog = prog or os.path.basename(sys.argv[0] or "clusterkit")
    try:
        try:
            with _trace.session(c):  # profile/trace from the environment; finalize on return
                configure_threads(c)
                status = main(argv, comm=c)
        except SystemExit as exc:
            code = exc.code
            if code is None or isinstance(code, int):
                return code or 0
            if c.Get_rank() == 0:
                print(code, file=sys.stderr)
            return 1
        except INPUT_ERRORS as exc:
            if os.environ.get("CLUSTERKIT_DEBUG") or not _comm.all_arrive(guard):
                abort(exc)
            if c.Get_rank() == 0:
                sys.stderr.write(f"{prog}: error: {exc}\n")
                sys.stderr.flush()
            return 2
        except OSError as exc:
            if (exc.errno not in SYSTEM_ERRNOS or os.environ.get("CLUSTERKIT_DEBUG")
                    or not _comm.all_arrive(guard)):
                abort(exc)
            if c.Get_rank() == 0:
                sys.stderr.write(f"{prog}: error: {exc}\n")
                sys.stderr.flush()
            return 1
        except BaseException as exc:  # noqa: BLE001 - the guard must catch everything
            abort(exc)
        return 0 if status is None else int(status)
    finally:
        sys.stdout.flush()
        guard.Free()


_status_dir = None   # taken out of the environment by run_job: not inherited by children


def _hand_status_to_launcher(code):
    """Under a launcher that opened the status channel (see
    :func:`clusterkit.launch.status_channel`), leave a non-zero ``code`` there and
    return 0 (so mpirun does not run its slow kill sequence); else return ``code``."""
    folder = _status_dir or os.environ.get(STATUS_VARIABLE)
    if code == 0 or not folder or not MPI.Is_initialized() or MPI.Is_finalized():
        return code
    path = os.path.join(folder, f"status.{_comm.world_position()[0]}")
    try:
        with open(path + ".tmp", "w") as f:
            f.write(f"{code}\n")
        os.replace(path + ".tmp", path)
    except OSError:
        return code                      # no channel after all: exit with the status
    return 0


def exit_job(status, *, fast=False):
    """End this rank with exit ``status`` (what :func:`run_job` returned). Never returns.

    Flushes stdout/stderr and, under ``clusterkit run``, hands a non-zero status to the
    launcher through a file and exits 0 itself, which spares Open MPI's 1–2 s kill
    sequence (plain ``mpirun``/``srun`` launches exit with the status). Use it in a job's
    entry point::

        if __name__ == "__main__":
            exit_job(run_job(main))

    By default the interpreter then shuts down normally (``sys.exit``): files are
    flushed and closed, ``atexit`` handlers run, mpi4py finalizes MPI. With
    ``fast=True`` it runs the ``atexit`` handlers (``weakref.finalize`` clean-ups, …)
    and ``MPI_Finalize`` itself and leaves with ``os._exit``, skipping the rest of the
    interpreter's teardown, which with Numba kernels loaded takes a noticeable fraction
    of a second per rank; files the job left open are then *not* flushed. The built-in
    jobs use it; use it only if every file your job writes is closed (``with``).
    """
    code = status if isinstance(status, int) else 1
    sys.stdout.flush()
    sys.stderr.flush()
    if not fast:
        sys.exit(_hand_status_to_launcher(code))
    try:
        atexit._run_exitfuncs()
        code = _hand_status_to_launcher(code)
        # mpi4py finalizes MPI from the interpreter's teardown, which os._exit skips
        if MPI.Is_initialized() and not MPI.Is_finalized():
            MPI.Finalize()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


#: a value that starts like a negative number, e.g. ``-30,30,-10,10`` or ``-.5``
_NEGATIVE_LIST = re.compile(r"^-\.?\d")


class JobArgumentParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose messages appear once (rank 0) and whose errors are one line.

    Every rank parses the same ``argv``, so every rank exits with the same status;
    only rank 0 prints.
    """

    def __init__(self, *args, comm=None, **kwargs):
        self._ck_comm = comm
        super().__init__(*args, **kwargs)

    def _is_root(self):
        return _comm.resolve(self._ck_comm).Get_rank() == 0

    def parse_known_args(self, args=None, namespace=None):
        """As argparse's, but an option's value may be a list starting with a negative
        number (``--region -30,30,-10,10``): argparse would take it for an option."""
        args = list(sys.argv[1:] if args is None else args)
        one = {o for a in self._actions if a.option_strings and a.nargs is None
               for o in a.option_strings}
        out = []
        for i, a in enumerate(args):
            if a == "--":
                out += args[i:]
                break
            if out and out[-1] in one and _NEGATIVE_LIST.match(a):
                out[-1] = f"{out[-1]}={a}"
            else:
                out.append(a)
        return super().parse_known_args(out, namespace)

    def _print_message(self, message, file=None):
        if message and self._is_root():
            super()._print_message(message, file)

    def error(self, message):
        """Print ``prog: error: message`` once and exit with status 2."""
        if self._is_root():
            sys.stderr.write(f"{self.prog}: error: {message}\n")
            sys.stderr.flush()
        raise SystemExit(2)
