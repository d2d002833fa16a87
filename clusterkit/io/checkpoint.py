"""Checkpoint/restart of distributed state: collective, atomic, checksummed HDF5 files.

A checkpoint is one HDF5 file ``ckpt-<step>.h5`` (step zero-padded to 9
digits) in a checkpoint directory, written by every rank through the ``mpio``
driver (each rank writes its interior block at its global offset; with a serial
h5py, or ``CLUSTERKIT_SERIAL_IO=1``, rank 0 writes every rank's block) under a
temporary name ``ckpt-<step>.h5.tmp-<token>`` and renamed only after every
rank has finished and rank 0 has ``fsync``-ed it. The last ``keep``
checkpoints are kept. A write the file system refuses on any rank (a full
disk) raises the same ``OSError`` on every rank, deletes the temporary and
keeps the previous checkpoints (:class:`~clusterkit.io.staged.StagedFile`);
temporaries of killed jobs are deleted by :meth:`Checkpointer.remove_stale`.

Integrity: every array carries a ``checksum`` attribute that does not
depend on the decomposition, so a checkpoint written by 4 ranks is verified
by 2. It is the sum modulo 2**64 of ``mix(bits(x[i]) ^ mix(i + c))`` over all
elements, where ``i`` is the element's flat index in the *global* array,
``bits`` its raw bit pattern and ``mix`` the splitmix64 finaliser (a
bijection of 64-bit integers). Each rank sums its own block; an ``MPI_SUM``
of unsigned 64-bit integers combines them. Any change to one element changes
the sum; a truncated file fails to open. The job's JSON state (step counter,
scalars, RNG state) and metadata carry a SHA-256.

Signals: :func:`install_signal_handlers` makes SIGTERM and SIGUSR1 set a
flag; :meth:`Checkpointer.at_step` agrees across ranks at a step boundary
(``allreduce`` LOR), writes a checkpoint and tells the job to exit with
:data:`EXIT_CHECKPOINTED` (99), which a batch script turns into a requeue.
"""

import hashlib
import json
import os
import re
import secrets
import signal
import sys
import time
from collections import namedtuple
from types import SimpleNamespace

import h5py
import numpy as np

from .. import comm as _comm
from ..comm import MPI, check
from .parallel import close_files, funnel_write, parallel_io
from ..faultinject import fault_point
from .staged import StagedFile, fsync_path
from ..errors import InputError

__all__ = ["Checkpointer", "Restored", "EXIT_CHECKPOINTED", "CheckpointExit",
           "install_signal_handlers", "stop_requested", "should_stop", "global_checksum",
           "list_checkpoints", "fsync_path", "FORMAT"]

#: exit status of a job that stopped on SIGTERM/SIGUSR1 after writing a checkpoint
EXIT_CHECKPOINTED = 99
#: format tag stored in every checkpoint file
FORMAT = "clusterkit-checkpoint-1"

_NAME = re.compile(r"^ckpt-(\d+)\.h5$")
_TMP = re.compile(r"^ckpt-\d+\.h5\.tmp-[0-9a-f]+$")
_STOP = {"signal": None}

#: what :meth:`Checkpointer.restore` returns
Restored = namedtuple("Restored", "step state meta path")


class CheckpointExit(Exception):
    """Raised by library loops (not jobs' ``main``) after a signal-triggered checkpoint."""

    def __init__(self, step):
        super().__init__(f"checkpointed at step {step} on a stop signal")
        self.step = step


# -- signals ---------------------------------------------------------------------------
def _handler(signum, frame):  # noqa: ARG001 - signal handler signature
    _STOP["signal"] = signum


def install_signal_handlers(signals=(signal.SIGTERM, signal.SIGUSR1)):
    """Make ``signals`` set a stop flag instead of ending the process.

    Parameters
    ----------
    signals : sequence of int
        Default SIGTERM and SIGUSR1 (Slurm's preemption / ``--signal`` warnings).
    """
    _STOP["signal"] = None
    for s in signals:
        signal.signal(s, _handler)


def stop_requested():
    """The signal number received on this rank since the handlers were installed, or None."""
    return _STOP["signal"]


def should_stop(comm=None):
    """True on every rank if any rank received a stop signal (collective, allreduce LOR)."""
    return _comm.any_rank(_STOP["signal"] is not None, comm)


# -- checksums -------------------------------------------------------------------------
_M1, _M2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_CHUNK = 1 << 20


def _mix(z):
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


def _bits(block):
    size = block.dtype.itemsize
    if size not in (1, 2, 4, 8):
        raise TypeError(f"checkpoint arrays need 1, 2, 4 or 8-byte elements, got dtype "
                        f"{block.dtype}")
    return block.view(f"u{size}").astype(np.uint64, copy=False)


def _block_checksum(block, start, shape):
    """Sum over ``block`` (at global ``start`` in an array of ``shape``) of the mixed terms."""
    block = np.ascontiguousarray(block)
    if block.size == 0:
        return np.uint64(0)
    strides = np.cumprod((1,) + tuple(shape[:0:-1]))[::-1].astype(np.uint64)
    total = np.uint64(0)
    rows = max(1, _CHUNK // max(1, block[0].size))
    with np.errstate(over="ignore"):
        for r0 in range(0, block.shape[0], rows):
            part = block[r0:r0 + rows]
            idx = np.zeros(part.shape, np.uint64)
            for a in range(block.ndim):
                first = start[a] + (r0 if a == 0 else 0)
                g = np.arange(part.shape[a], dtype=np.uint64) + np.uint64(first)
                idx += (g * strides[a]).reshape([-1 if b == a else 1 for b in range(block.ndim)])
            terms = _mix(_bits(part) ^ _mix(idx + _GOLDEN))
            total = total + np.add.reduce(terms.ravel(), dtype=np.uint64)
    return np.uint64(total)


def global_checksum(block, start, shape, comm=None):
    """Decomposition-independent checksum of a distributed array (collective).

    Parameters
    ----------
    block : numpy.ndarray
        This rank's block (may be empty).
    start : sequence of int
        Global index of the block's first element.
    shape : sequence of int
        Global shape.
    comm : mpi4py.MPI.Intracomm, optional

    Returns
    -------
    int
        The same value on every rank and for every decomposition of the array.
    """
    local = np.array([_block_checksum(block, start, shape)], np.uint64)
    total = np.zeros(1, np.uint64)
    _comm.resolve(comm).Allreduce(local, total, op=MPI.SUM)
    return int(total[0])


def _sha(text):
    return hashlib.sha256(text.encode()).hexdigest()


# -- files -----------------------------------------------------------------------------
def _write_block(ds, block, sel, collective):
    """Write this rank's ``block`` at ``sel`` of ``ds`` (mpio): one collective transfer
    when every rank has a block, else independent writes of the non-empty ones."""
    if collective:
        with ds.collective:
            ds.write_direct(block, dest_sel=sel)
    elif block.size:
        ds.write_direct(block, dest_sel=sel)


def list_checkpoints(directory):
    """``[(step, path), ...]`` of the files ``ckpt-<step>.h5`` in ``directory``, newest first."""
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    found = [(int(m.group(1)), os.path.join(directory, n)) for n in names
             if (m := _NAME.match(n))]
    return sorted(found, reverse=True)


class Checkpointer:
    """Writes and restores checkpoints of a job's distributed state in ``directory``.

    Parameters
    ----------
    directory : str
        Checkpoint directory (created by :meth:`save` if missing).
    comm : mpi4py.MPI.Intracomm, optional
    every : int, optional
        :meth:`at_step` saves every ``every`` steps.
    seconds : float, optional
        ... and/or when ``seconds`` have passed since the last save (rank 0's clock).
    keep : int
        Number of checkpoints kept (>= 1; >= 2 lets a corrupt newest one fall back).
    job : str
        Job name stored in the file; :meth:`restore` refuses another job's checkpoints.
    meta : dict, optional
        JSON-serialisable parameters that must match on restore (e.g. grid shape).
    """

    def __init__(self, directory, comm=None, every=None, seconds=None, keep=3, job="job",
                 meta=None):
        if every is not None and every < 1:
            raise InputError(f"--checkpoint-every must be >= 1, got {every}")
        if seconds is not None and seconds <= 0:
            raise InputError(f"checkpoint seconds must be > 0, got {seconds}")
        if keep < 1:
            raise InputError(f"keep must be >= 1, got {keep}")
        self.directory, self.comm = os.path.abspath(directory), _comm.resolve(comm)
        self.every, self.seconds, self.keep, self.job = every, seconds, keep, job
        self.meta = json.loads(json.dumps(meta or {}))
        self._last = time.monotonic()
        self.restored = None  # the Restored of the last restore()

    # -- writing -----------------------------------------------------------------------
    def save(self, step, arrays, state=None):
        """Write a checkpoint of ``arrays`` at ``step`` (collective); return its path.

        Parameters
        ----------
        step : int
            Step counter (completed steps).
        arrays : dict of str to DistArray
            The distributed state; each rank writes its interior block.
        state : dict, optional
            JSON-serialisable scalars (e.g. RNG state, running sums).

        Raises
        ------
        OSError
            On every rank, naming the checkpoint and the OS error, when the file system
            refuses the file on any rank (a full disk): the temporary is deleted and the
            previous checkpoints are kept (see :class:`~clusterkit.io.staged.StagedFile`).
        """
        c, rank = self.comm, self.comm.Get_rank()
        ok = True
        if rank == 0:
            try:
                os.makedirs(self.directory, exist_ok=True)
            except OSError:
                ok = False
        check(ok, f"cannot create checkpoint directory {self.directory!r}", comm=c)
        state_json = json.dumps(state or {}, sort_keys=True)
        meta_json = json.dumps(self.meta, sort_keys=True)
        sums = {n: global_checksum(a.interior, a.grid.local_start, a.shape, c)
                for n, a in arrays.items()}
        final = os.path.join(self.directory, f"ckpt-{step:09d}.h5")
        tmp = f"{final}.tmp-{c.bcast(secrets.token_hex(4), root=0)}"
        # Parallel h5py: every rank writes through mpio. Serial h5py: rank 0 alone opens
        # the file and writes every rank's block (funnel_write). Every HDF5 call is a
        # step whose failure on any rank is agreed (or aborts the job) and deletes tmp.
        parallel = parallel_io(c)
        staged = StagedFile(final, tmp, c, parallel)
        try:
            staged.step(self._define, staged.file, step, arrays, sums, state_json,
                        meta_json)
            fault_point("save", step, c.Get_rank())
            staged.reserve(lambda: [staged.file["arrays"][n] for n in arrays])
            for name, a in arrays.items():
                block = np.ascontiguousarray(a.interior)
                sel = tuple(slice(s, s + n) for s, n in zip(a.grid.local_start, block.shape))
                ds = staged.file["arrays"][name] if staged.file is not None else None
                if not parallel:
                    staged.step(funnel_write, c, ds, block, sel)
                else:
                    staged.step(_write_block, ds, block, sel,
                                _comm.all_ranks(block.size > 0, c))
            staged.commit(fsync=True)
        except BaseException as exc:
            staged.abandon(exc)
            raise
        ok = True
        if rank == 0:
            try:
                for _, old in list_checkpoints(self.directory)[self.keep:]:
                    os.unlink(old)
            except OSError:
                ok = False
        check(ok, f"could not remove old checkpoints in {self.directory!r}", comm=c)
        self._last = time.monotonic()
        return final

    def _define(self, f, step, arrays, sums, state_json, meta_json):
        """Attributes and (unwritten) datasets of a checkpoint file (``f`` None: no file)."""
        if f is None:
            return
        for key, value in (("format", FORMAT), ("job", self.job), ("step", int(step)),
                           ("state", state_json), ("meta", meta_json),
                           ("ranks", self.comm.Get_size()),
                           ("sha256", _sha(f"{step}\n{state_json}\n{meta_json}"))):
            f.attrs[key] = value
        grp = f.create_group("arrays")
        for name, a in arrays.items():
            ds = grp.create_dataset(name, shape=a.shape, dtype=a.dtype,
                                    fill_time="never")  # every element is written
            ds.attrs["checksum"] = np.uint64(sums[name])

    def at_step(self, step, arrays, state=None):
        """Call at every step boundary (collective): save when due; True if the job must stop.

        Saves every ``every`` steps / ``seconds`` seconds; when any rank got a
        stop signal (see :func:`install_signal_handlers`) it saves and returns
        True, and the job should return :data:`EXIT_CHECKPOINTED`.
        """
        late = (self.seconds is not None and self.comm.Get_rank() == 0
                and time.monotonic() - self._last >= self.seconds)
        flags = np.array([stop_requested() is not None, late], dtype=np.int32)
        self.comm.Allreduce(MPI.IN_PLACE, flags, op=MPI.MAX)
        stop, late = bool(flags[0]), bool(flags[1])
        if stop or late or (self.every and step % self.every == 0):
            self.save(step, arrays, state)
        return stop

    # -- reading -----------------------------------------------------------------------
    def _inspect(self, path, arrays):
        """Rank 0: ``("ok", header)``, ``("corrupt", reason)`` or ``("foreign", reason)``."""
        try:
            with h5py.File(path, "r") as f:
                a = {k: f.attrs[k] for k in ("format", "job", "step", "state", "meta", "sha256")}
                a = {k: v.decode() if isinstance(v, bytes) else v for k, v in a.items()}
                shapes = {n: tuple(f["arrays"][n].shape) for n in f["arrays"]}
                dtypes = {n: str(f["arrays"][n].dtype) for n in f["arrays"]}
                sums = {n: int(f["arrays"][n].attrs["checksum"]) for n in f["arrays"]}
        except Exception as exc:  # noqa: BLE001 - any failure to read means corrupt
            return "corrupt", f"unreadable ({type(exc).__name__}: {str(exc).splitlines()[0]})"
        if a["format"] != FORMAT:
            return "foreign", f"{path} is not a clusterkit checkpoint (format {a['format']!r})"
        if a["sha256"] != _sha(f"{int(a['step'])}\n{a['state']}\n{a['meta']}"):
            return "corrupt", "state/metadata checksum mismatch"
        if a["job"] != self.job:
            return "foreign", (f"checkpoint {path} was written by job {a['job']!r}, not "
                               f"{self.job!r}")
        meta = json.loads(a["meta"])
        for key in sorted(set(meta) | set(self.meta)):
            if meta.get(key) != self.meta.get(key):
                return "foreign", (f"checkpoint {path} has {key}={meta.get(key)!r} but this "
                                   f"run has {key}={self.meta.get(key)!r}")
        for name, arr in arrays.items():
            if name not in shapes:
                return "corrupt", f"array {name!r} missing"
            if shapes[name] != tuple(arr.shape):
                return "foreign", (f"checkpoint {path} holds {name} of shape "
                                   f"{shapes[name]}, this run's grid is {tuple(arr.shape)}")
            if dtypes[name] != str(arr.dtype):
                return "foreign", (f"checkpoint {path} holds {name} as {dtypes[name]}, this "
                                   f"run uses {arr.dtype}")
        return "ok", {"step": int(a["step"]), "state": json.loads(a["state"]), "meta": meta,
                      "sums": sums}

    def _load(self, path, step, arrays, sums):
        """Read every rank's hyperslabs into ``arrays``; True if all checksums match."""
        c = self.comm
        parallel = parallel_io(c)
        # serial h5py: every rank opens the finished file read-only on its own
        f = h5py.File(path, "r", driver="mpio", comm=c) if parallel else h5py.File(path, "r")
        # an exception on this rank alone must not wait for the others in the collective
        # close (see close_files): they meet on a private communicator first
        reader = SimpleNamespace(file=f, parallel=parallel, close=f.close)
        guard = c.Dup() if parallel else None
        failed = False
        try:
            fault_point("load", step, c.Get_rank())
            ok = True
            for name, arr in arrays.items():
                buf = np.empty(arr.grid.local_shape, arr.dtype)
                sel = tuple(slice(s, s + n) for s, n in zip(arr.grid.local_start, buf.shape))
                try:
                    if buf.size:
                        f["arrays"][name].read_direct(buf, source_sel=sel)
                except Exception:  # noqa: BLE001 - a damaged dataset is a corrupt checkpoint
                    ok = False
                if not _comm.all_ranks(ok, c):
                    return False
                if global_checksum(buf, arr.grid.local_start, arr.shape, c) != sums[name]:
                    return False
                arr.interior[...] = buf
            return True
        except BaseException:
            failed = True
            raise
        finally:
            close_files([reader], failed, guard)
            if guard is not None and not failed:
                guard.Free()

    def restore(self, arrays):
        """Load the newest valid checkpoint into ``arrays`` (collective).

        The arrays may live on any decomposition (rank count, process grid):
        every rank reads its own hyperslab. A corrupt newest checkpoint is skipped
        for the previous one; once one is loaded, each skipped one gets a warning line on
        rank 0 (when none is valid, their reasons are in the one error).

        Parameters
        ----------
        arrays : dict of str to DistArray
            Filled in place (interiors; exchange halos afterwards).

        Returns
        -------
        Restored
            ``(step, state, meta, path)``.

        Raises
        ------
        ValueError
            On every rank: no checkpoint in the directory, none valid, or one
            written by another job / for another grid shape or parameters.
        """
        c, rank = self.comm, self.comm.Get_rank()
        found = c.bcast(list_checkpoints(self.directory) if rank == 0 else None, root=0)
        if not found:
            raise InputError(f"--restart: no checkpoint (ckpt-<step>.h5) in "
                             f"{self.directory!r}")
        skipped = []                    # (path, why), newest first
        for step, path in found:
            verdict, info = self._inspect(path, arrays) if rank == 0 else (None, None)
            verdict, info = c.bcast((verdict, info), root=0)
            if verdict == "foreign":
                raise InputError(f"--restart: {info}")
            if verdict == "ok" and self._load(path, step, arrays, info["sums"]):
                self.restored = Restored(info["step"], info["state"], info["meta"], path)
                if rank == 0:
                    for bad, why in skipped:
                        sys.stderr.write(f"warning: checkpoint {bad} is corrupt ({why}); "
                                         f"restarted from {os.path.basename(path)}\n")
                    sys.stderr.flush()
                return self.restored
            skipped.append((path, info if verdict == "corrupt" else "array checksum mismatch"))
        reasons = "; ".join(f"{os.path.basename(p)}: {why}" for p, why in skipped)
        raise InputError(f"--restart: none of the {len(found)} checkpoints in "
                         f"{self.directory!r} is valid ({reasons})")

    def has_checkpoints(self):
        """True on every rank if the directory holds ``ckpt-<step>.h5`` files (collective)."""
        return self.comm.bcast(bool(list_checkpoints(self.directory))
                               if self.comm.Get_rank() == 0 else None, root=0)

    def remove_stale(self):
        """Rank 0 deletes leftover temporaries ``ckpt-*.h5.tmp-*`` (of killed jobs). Collective."""
        if self.comm.Get_rank() == 0 and os.path.isdir(self.directory):
            for n in os.listdir(self.directory):
                if _TMP.match(n):
                    try:
                        os.unlink(os.path.join(self.directory, n))
                    except OSError:
                        pass
        self.comm.Barrier()
