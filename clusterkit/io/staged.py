"""Files written by every rank under a temporary name and renamed when complete, with every
collective HDF5 step agreed across the ranks.

Writing is collective, but the file system can refuse a write on one rank only (a full
disk, a quota, an I/O error) while the others are still inside the same HDF5 call. Every
collective HDF5 step therefore runs through :meth:`StagedFile.step`, which agrees on its
outcome across the ranks. Before data are written rank 0 reserves the file's blocks
(``fallocate``): a full disk is then found by one system call, not in the middle of a
collective write, where Open MPI's OMPIO drops the rest of a short write without
reporting an error.
"""


import ctypes
import ctypes.util
import errno
import os
import re
import sys
import time

import h5py
import numpy as np

from .. import comm as _comm

__all__ = ["StagedFile", "fsync_path"]

#: what h5py raises when HDF5 or the file system refuses an operation
_IO_FAILURES = (OSError, RuntimeError)


# -- temporaries being written by this process --------------------------------------
_LIVE = set()           # temporaries being written by this process


def _remove_live_temporaries():
    for path in list(_LIVE):
        _unlink(path)


_comm.on_abort(_remove_live_temporaries)


def _unlink(path):
    try:
        os.unlink(path)
    except OSError:
        pass
    _LIVE.discard(path)


# -- reserving space and naming the OS error -------------------------------------------
def _load_fallocate():
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        fn = getattr(libc, "fallocate64", None) or libc.fallocate
    except (OSError, AttributeError):
        return None
    fn.argtypes = (ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64)
    fn.restype = ctypes.c_int
    return fn


_FALLOCATE = _load_fallocate()


#: bytes reserved beyond the data for the metadata HDF5 writes when it flushes and closes:
#: 64 KiB plus 1/16 of the file, at most 256 KiB
_METADATA_SLACK = (1 << 16, 16, 1 << 18)
_KEEP_SIZE = 1        # FALLOC_FL_KEEP_SIZE: allocate blocks, leave the file size alone


def _reserve(path, end):
    """Allocate the blocks of ``path`` up to byte ``end`` without changing its size
    (Linux ``fallocate`` with ``FALLOC_FL_KEEP_SIZE``).

    A file system that cannot preallocate gets a free-space check instead. Raises
    ``OSError`` (``ENOSPC``, ``EDQUOT``, …) when the space is not there.
    """
    fd = os.open(path, os.O_WRONLY)
    try:
        if _FALLOCATE is not None:
            while True:
                if _FALLOCATE(fd, _KEEP_SIZE, 0, end) == 0:
                    return
                err = ctypes.get_errno()
                if err != errno.EINTR:
                    break
            if err not in (errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL):
                raise OSError(err, os.strerror(err), path)
        st, vfs = os.fstat(fd), os.fstatvfs(fd)
        if end - 512 * st.st_blocks > vfs.f_bavail * vfs.f_frsize:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)
    finally:
        os.close(fd)


def _release_reserve(path):
    """Free blocks reserved beyond the end of ``path`` (truncating to its own size)."""
    try:
        os.truncate(path, os.path.getsize(path))
    except OSError:
        pass


#: chunked datasets with more chunks than this are not scanned: the whole raw size is reserved
_MAX_CHUNKS_SCANNED = 4096


def _extent(ds):
    """``(end, more)``: the byte just past the storage ``ds`` holds in the file, and an
    upper bound of what it may still add.

    An allocated contiguous dataset adds nothing. One not allocated yet (serial HDF5
    allocates at the first write) may add its raw size. A chunked one may add its raw
    size less its allocated chunks, plus a margin for chunk bookkeeping; with a filter
    (compression), the whole raw size plus a margin for data that do not compress, as
    HDF5 places every compressed chunk anew.
    """
    raw = int(np.prod(ds.shape, dtype=np.int64)) * ds.dtype.itemsize
    offset = ds.id.get_offset()
    if offset is not None:
        return offset + ds.id.get_storage_size(), 0
    if ds.chunks is None:
        return 0, raw + 4096
    bound = raw + raw // 64 + 4096
    n = ds.id.get_num_chunks()
    if n > _MAX_CHUNKS_SCANNED:
        return 0, bound
    end = held = 0
    for i in range(n):
        info = ds.id.get_chunk_info(i)
        end, held = max(end, info.byte_offset + info.size), held + info.size
    filtered = ds.id.get_create_plist().get_nfilters() > 0
    return end, bound if filtered else max(0, bound - held)


def _probe_errno(path, nbytes=1 << 16):
    """Why the file system refuses writes to ``path`` (a doomed temporary): append
    ``nbytes`` zeros, cut them off again, and return the OS error number, or None."""
    try:
        fd = os.open(path, os.O_WRONLY)
    except OSError as exc:
        return exc.errno
    try:
        end, done = os.fstat(fd).st_size, 0
        try:
            while done < nbytes:
                n = os.pwrite(fd, bytes(nbytes - done), end + done)
                if n <= 0:
                    return errno.ENOSPC
                done += n
        except OSError as exc:
            return exc.errno
        finally:
            try:
                os.ftruncate(fd, end)
            except OSError:
                pass
        return None
    finally:
        os.close(fd)


def _errno_of(exc, tmp):
    """The OS error behind a failed HDF5 call: its own, the one HDF5's message quotes
    (``errno = 28``), the one a probe write gets, else ``EIO``."""
    if isinstance(exc, OSError) and exc.errno:
        return exc.errno
    m = re.search(r"errno = (\d+)", str(exc))
    if m and int(m.group(1)):
        return int(m.group(1))
    return _probe_errno(tmp) or errno.EIO


def _abort_job(message, report=True):
    """Print one line naming this rank and ``message`` (if ``report``), then abort the
    job (the on_abort callbacks delete the temporaries). Never returns.

    Ranks that do not report wait a moment first, so that the reporting rank's line is
    printed before an abort kills it.
    """
    rank, size = _comm.world_position()
    sys.stdout.flush()
    if report:
        sys.stderr.write(f"[rank {rank}/{size}] error: {message}; aborting the job\n")
        sys.stderr.flush()
    else:
        time.sleep(2.0)
    _comm.abort_job(1)
    os._exit(1)  # pragma: no cover - Abort does not return


_KEEP = []   # h5py files whose close failed: HDF5 crashes if they are ever released


def _first_failure(every):
    """``(rank, errno)`` of the lowest rank with a non-zero code in agreed outcomes
    (``EIO`` for a rank that failed without an OS error)."""
    bad = np.flatnonzero(every[:, 0])
    if not bad.size:
        return 0, errno.EIO
    code = int(every[bad[0], 0])
    return int(bad[0]), code if code > 0 else errno.EIO


# -- the staged file -------------------------------------------------------------------
class StagedFile:
    """An HDF5 file every rank of ``comm`` writes under a temporary name, renamed when complete.

    Every collective HDF5 call goes through :meth:`step`. After the call, the ranks
    exchange their outcomes (a non-blocking ``Iallgather`` on a private communicator):

    - every rank succeeded: go on;
    - a rank failed and every rank heard of it: close the file collectively (rank 0
      first truncates it, so closing can flush metadata on a full disk), delete it, and
      raise the same ``OSError`` — the OS error number and the final ``path`` — on
      every rank;
    - a failed rank's partners do not answer within ``CLUSTERKIT_AGREE_TIMEOUT``
      seconds (they are stuck inside the HDF5 call it left): it prints one line naming
      the file and the OS error and aborts the job, whose on_abort callback deletes the
      temporary. A rank that succeeded waits without a deadline: a slow partner is not
      a failure.

    Parameters
    ----------
    path : str
        Final name, named in error messages.
    tmp : str
        Temporary name beside it, the same on every rank.
    comm : mpi4py.MPI.Intracomm
    parallel : bool
        Every rank opens the file with the ``mpio`` driver; otherwise rank 0 alone
        (serial h5py) and :attr:`file` is ``None`` elsewhere.
    **kwargs
        Passed to ``h5py.File``.
    """

    def __init__(self, path, tmp, comm, parallel, **kwargs):
        self.path, self.tmp, self.comm, self.parallel = path, tmp, comm, parallel
        self.rank = comm.Get_rank()
        self.file = None
        self.done = False
        self._reserved = 0
        self._poisoned = False
        self._guard = comm.Dup()
        _LIVE.add(tmp)
        opts = {"driver": "mpio", "comm": comm} if parallel else {}

        def create():
            if parallel or self.rank == 0:
                self.file = h5py.File(tmp, "w", **opts, **kwargs)
        self.step(create)

    # -- agreement ---------------------------------------------------------------------
    def _agree(self, code):
        """Every rank's ``(code, holds the file, close failed)``, or None if this rank
        (``code != 0``) waited longer than the deadline."""
        mine = np.array([code, self.file is not None, self._poisoned], np.int64)
        every = np.empty((self.comm.Get_size(), 3), np.int64)
        request = self._guard.Iallgather(mine, every)
        if code == 0:
            request.Wait()
            return every
        # failed ranks wait a little longer the higher their rank, so that the lowest one
        # is the one that reports and aborts
        deadline = time.monotonic() + _comm.agree_timeout() + 0.25 * min(self.rank, 8)
        while not request.Test():
            if time.monotonic() > deadline:
                return None
            time.sleep(0.001)
        return every

    def _failure(self, code):
        return f"cannot write {self.path!r}: {os.strerror(code)}"

    def step(self, fn, *args):
        """Run ``fn(*args)``, one collective HDF5 call, on every rank; agree on its outcome.

        Collective. Returns what ``fn`` returned.

        Raises
        ------
        OSError
            On every rank, when the call failed on any rank (the file is then closed
            and deleted). Exceptions other than HDF5/OS failures propagate at once.
        """
        if self.done:
            raise RuntimeError(f"{self.path!r} was already finished or discarded")
        code, result = 0, None
        try:
            result = fn(*args)
        except _IO_FAILURES as exc:
            code = _errno_of(exc, self.tmp)
        every = self._agree(code)
        if every is None:
            _abort_job(f"{self._failure(code)}; the other ranks did not answer within "
                       f"{_comm.agree_timeout():g} s")
        self._settle(every)
        return result

    def _settle(self, every, exc=None):
        """Act on agreed outcomes: nothing if all succeeded; else discard and raise."""
        codes = every[:, 0]
        if not codes.any():
            return
        failed = [int(c) for c in codes if c > 0]
        foreign = [r for r, c in enumerate(codes) if c < 0]
        text = None
        if foreign:   # one rank's own exception, told to the others
            text = self._guard.bcast(f"{type(exc).__name__}: {exc}" if exc is not None
                                     else None, root=foreign[0])
        self._discard(every)
        if exc is not None:
            return    # the caller re-raises its own exception
        if failed:
            raise OSError(failed[0], os.strerror(failed[0]), self.path)
        raise RuntimeError(f"writing {self.path!r} was abandoned: rank {foreign[0]} raised "
                           f"{text}")

    def _discard(self, every):
        """Close (collectively) and delete the temporary once every rank agreed to."""
        self.done = True
        holders, poisoned = every[:, 1], every[:, 2]
        if poisoned.any() or (self.parallel and 0 < holders.sum() < len(holders)):
            first, code = _first_failure(every)
            _abort_job(f"{self._failure(code)}; the file could not be closed after the "
                       "failure", report=self.rank == first)
        if holders.any():
            if self.rank == 0:
                try:
                    os.truncate(self.tmp, 0)   # frees the space the metadata flush needs
                except OSError:
                    pass
            if self.parallel:
                self._guard.Barrier()
            code = self._close()
            every = self._agree(code)
            if every is None or every[:, 0].any():
                first, code = (self.rank, code) if every is None else _first_failure(every)
                _abort_job(f"{self._failure(code)}; the file could not be closed after the "
                           "failure", report=self.rank == first)
        if self.rank == 0:
            _unlink(self.tmp)
        _LIVE.discard(self.tmp)
        self._guard.Free()

    def _close(self):
        """Close the file on this rank; the OS error number if that failed, else 0."""
        if self.file is None:
            return 0
        try:
            self.file.close()
        except _IO_FAILURES as exc:
            _KEEP.append(self.file)   # released, the half-closed handle crashes HDF5
            self._poisoned = True
            return _errno_of(exc, self.tmp)
        finally:
            self.file = None
        return 0

    # -- writing -----------------------------------------------------------------------
    def reserve(self, datasets, extra=0):
        """Reserve the disk space the file will take, before data are written. Collective.

        ``datasets`` is a function that returns the file's datasets (called on rank 0).

        Rank 0 allocates the blocks from the start of the file to the end of the
        storage of ``datasets``, plus what they may still add (:func:`_extent`), plus
        ``extra`` bytes (a dataset about to be created) and some room for the metadata.
        A full disk then fails here, on one rank, in one system call; the part not used
        is released when the file is committed.
        """
        def reserve():
            if self.rank != 0 or self.file is None:
                return
            extents = [_extent(ds) for ds in datasets()]
            end = max([os.path.getsize(self.tmp)] + [e for e, _ in extents])
            end += extra + sum(more for _, more in extents)
            low, part, high = _METADATA_SLACK
            end += min(high, low + end // part)
            if end > self._reserved:
                _reserve(self.tmp, end)
                self._reserved = end
        self.step(reserve)

    def commit(self, fsync=False):
        """Flush and close the file on every rank, then rename it to ``path``. Collective.

        With ``fsync`` the file and then its directory are synced around the rename.

        Raises
        ------
        OSError
            On every rank if flushing, closing or renaming failed; the temporary is
            deleted.
        """
        def close():
            code = self._close()
            if code:
                raise OSError(code, os.strerror(code), self.tmp)
        self.step(lambda: self.file is not None and self.file.flush())
        self.step(close)
        self.done = True
        code = 0
        if self.rank == 0:
            _release_reserve(self.tmp)
            try:
                if fsync:
                    fsync_path(self.tmp)
                os.replace(self.tmp, self.path)
                if fsync:
                    fsync_path(os.path.dirname(os.path.abspath(self.path)))
            except OSError as exc:
                code = exc.errno or errno.EIO
                _unlink(self.tmp)
        code = self._guard.bcast(code, root=0)
        _LIVE.discard(self.tmp)
        self._guard.Free()
        if code:
            raise OSError(code, os.strerror(code), self.path)

    def abandon(self, exc=None):
        """Give the file up after ``exc`` was raised on this rank.

        Waits up to ``CLUSTERKIT_AGREE_TIMEOUT`` seconds for the other ranks (in a
        :meth:`step`, or abandoning too): if they all come, the file is closed and
        deleted collectively and the ranks that did not raise get an error naming this
        one. Otherwise they may be inside an HDF5 call, so this rank touches no HDF5 and
        only deletes the temporary; the job's abort guard ends the others.
        """
        if self.done:
            return
        every = self._agree(-1)
        if every is None:
            self.done = True
            if self.file is not None:    # released, h5py would close it: a collective call
                _KEEP.append(self.file)
            _unlink(self.tmp)
            return
        self._settle(every, exc if exc is not None else RuntimeError("abandoned"))


def fsync_path(path):
    """``fsync`` a file or directory by name (its data, or its entries, reach the disk)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
