"""A full disk while writing: every job ends promptly with one error line and no temporary.

Each test mounts a small file system (a 20 MiB tmpfs; a loop-mounted ext4 image if
tmpfs cannot be mounted), fills it until 0.25 to 2 MiB are left, and runs a real job on
1, 2 and 4 ranks whose output does not fit: climate-stats (its statistics file; its
``--anomalies`` file), the diffusion job's checkpoints, and make-dataset. The input
lies outside the small file system, so the job gets as far as writing. Every run must
end within 30 s with a non-zero status and exactly one error line on stderr naming
the file and ``No space left on device`` (Open MPI's own launcher notices aside), leave
no ``.tmp-`` file and no process behind. A last test makes one rank's write fail
while the other ranks wait for it inside the collective HDF5 call.
"""

import os
import re
import subprocess
import time

import h5py
import pytest

from .helpers import run_cli, run_mpi_job

#: the requirement: a failing run ends within this many seconds
LIMIT = 30
#: launcher timeout: a run still going after this long is a hang
TIMEOUT = 90
NOSPACE = "No space left on device"
RANKS = [1, 2, 4]
KIB = 1024


def _mount(mnt, work):
    """Mount a 20 MiB file system on ``mnt``; return None, or why it could not be done."""
    tmpfs = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=20m", "tmpfs", str(mnt)],
                           capture_output=True, text=True)
    if tmpfs.returncode == 0:
        return None
    image = work / "disk.img"
    with open(image, "wb") as f:
        f.truncate(20 << 20)
    steps = [["mkfs.ext4", "-q", "-F", "-m", "0", str(image)],
             ["mount", "-o", "loop", str(image), str(mnt)]]
    for argv in steps:
        try:
            done = subprocess.run(argv, capture_output=True, text=True)
        except OSError as exc:
            done = subprocess.CompletedProcess(argv, 1, "", str(exc))
        if done.returncode != 0:
            return (f"tmpfs: {tmpfs.stderr.strip() or tmpfs.returncode}; loop-mounted ext4: "
                    f"{' '.join(argv[:1])}: {done.stderr.strip() or done.returncode}")
    return None


class SmallDisk:
    """A mounted small file system ``path`` that :meth:`fill` fills up."""

    def __init__(self, path):
        self.path = path

    def fill(self, free):
        """Leave about ``free`` bytes free, with one file ``filler``."""
        vfs = os.statvfs(self.path)
        size = vfs.f_bavail * vfs.f_frsize - free
        fd = os.open(os.path.join(self.path, "filler"), os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            os.posix_fallocate(fd, 0, size)
        finally:
            os.close(fd)

    def leftovers(self, *keep):
        """Files in the file system (recursively) other than the filler and ``keep``."""
        found = []
        for root, _, files in os.walk(self.path):
            for name in files:
                rel = os.path.relpath(os.path.join(root, name), self.path)
                if rel not in ("filler",) + keep:
                    found.append(rel)
        return sorted(found)


@pytest.fixture
def disk(tmp_path):
    """A freshly mounted 20 MiB file system, unmounted after the test."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    why = _mount(mnt, tmp_path)
    if why is not None:
        pytest.skip(f"cannot mount a small file system here (needs root): {why}")
    try:
        yield SmallDisk(str(mnt))
    finally:
        if subprocess.run(["umount", str(mnt)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


@pytest.fixture(scope="module")
def climate_input(tmp_path_factory):
    """A small synthetic dataset (40 x 90 x 180, 2.6 MB) outside the small file system."""
    path = tmp_path_factory.mktemp("input") / "in.nc"
    res = run_cli(["make-dataset", str(path), "--shape", "40,90,180"], timeout=120)
    assert res.returncode == 0, res.stderr
    return str(path)


def _own_lines(stderr):
    """stderr without Open MPI's launcher notices (its dashed help blocks and the
    'N more processes have sent help message' lines)."""
    lines, inside = [], False
    for line in stderr.splitlines():
        if re.fullmatch(r"-{20,}", line.strip()):
            inside = not inside
            continue
        if inside or re.match(r"\[[^\]]+:\d+\] (\d+ more process|Set MCA parameter)", line):
            continue
        if line.strip():
            lines.append(line)
    return lines


def _processes_with(marker):
    """Processes whose command line mentions ``marker`` (the test's own directory)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if marker.encode() in f.read():
                    found.append(int(pid))
        except OSError:
            continue
    return found


def run_failing(nranks, target, args, disk, failed_file, keep=(), reason=NOSPACE, **kwargs):
    """Run ``target`` on ``nranks`` ranks and check the full-disk requirements."""
    res = run_mpi_job(nranks, target, [str(a) for a in args], timeout=TIMEOUT, **kwargs)
    assert res.returncode != 0, res.stdout + res.stderr
    assert res.elapsed < LIMIT, f"took {res.elapsed:.1f} s"
    lines = _own_lines(res.stderr)
    assert len(lines) == 1, res.stderr
    assert failed_file in lines[0] and reason in lines[0], lines[0]
    assert "Traceback" not in res.stderr
    assert disk.leftovers(*keep) == [], f"left behind: {disk.leftovers(*keep)}"
    deadline = time.monotonic() + 5
    while _processes_with(disk.path) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _processes_with(disk.path) == [], "processes left running"
    return res


@pytest.mark.parametrize("nranks", RANKS)
def test_climate_stats_output(nranks, disk, climate_input):
    disk.fill(512 * KIB)                      # the statistics file takes 0.95 MB
    out = os.path.join(disk.path, "stats.nc")
    run_failing(nranks, "clusterkit.jobs.climate_stats", [climate_input, out], disk, out)


@pytest.mark.parametrize("nranks", RANKS)
def test_climate_stats_anomalies(nranks, disk, climate_input):
    disk.fill(2048 * KIB)                     # the statistics fit, the 2.6 MB anomalies not
    out, anom = os.path.join(disk.path, "stats.nc"), os.path.join(disk.path, "anom.nc")
    run_failing(nranks, "clusterkit.jobs.climate_stats",
                [climate_input, out, "--anomalies", anom], disk, anom, keep=("stats.nc",))
    with h5py.File(out, "r") as f:            # the complete first output stays readable
        assert f["time_mean"].shape == (90, 180)
    st = os.stat(out)                         # and holds no space reserved beyond its end
    assert st.st_blocks * 512 < st.st_size + 64 * KIB


@pytest.mark.parametrize("nranks", RANKS)
def test_checkpoint(nranks, disk):
    disk.fill(256 * KIB)                      # one checkpoint of 181 x 360 takes 0.52 MB
    ck = os.path.join(disk.path, "ck")
    run_failing(nranks, "clusterkit.jobs.diffusion",
                ["--shape", "181,360", "--steps", "6", "--checkpoint-dir", ck,
                 "--checkpoint-every", "2"], disk, os.path.join(ck, "ckpt-000000002.h5"))


def test_checkpoint_keeps_the_previous_one(disk):
    disk.fill(900 * KIB)                      # room for the first checkpoint only
    ck = os.path.join(disk.path, "ck")
    run_failing(2, "clusterkit.jobs.diffusion",
                ["--shape", "181,360", "--steps", "6", "--checkpoint-dir", ck,
                 "--checkpoint-every", "2"], disk, os.path.join(ck, "ckpt-000000004.h5"),
                keep=(os.path.join("ck", "ckpt-000000002.h5"),))
    with h5py.File(os.path.join(ck, "ckpt-000000002.h5"), "r") as f:
        assert f.attrs["step"] == 2 and f["arrays/u"].shape == (181, 360)


@pytest.mark.parametrize("nranks", RANKS)
@pytest.mark.parametrize("options", [[], ["--compress"]], ids=["plain", "compressed"])
def test_make_dataset(nranks, options, disk):
    disk.fill(512 * KIB)                      # the dataset takes 2.6 MB (1.9 MB compressed)
    out = os.path.join(disk.path, "data.nc")
    run_failing(nranks, "clusterkit.cli.main",
                ["make-dataset", out, "--shape", "40,90,180", *options], disk, out)


STUCK_JOB = """
import sys
import h5py
import numpy as np
from clusterkit.io.ncwrite import NCWriter
from clusterkit.runtime import exit_job, run_job


def refuse(self, *args, **kwargs):
    raise OSError("Can't write data (file write failed)")


def main(argv=None, comm=None):
    rank, size = comm.Get_rank(), comm.Get_size()
    if rank == size - 1:        # this rank's write fails before it joins the collective one
        h5py.Dataset.write_direct = refuse
    with NCWriter(argv[0], comm=comm) as w:
        w.dimension("x", np.arange(1000.0 * size))
        w.variable("v", ("x",), prefill=False)
        w.write("v", np.ones(1000), (1000 * rank,))
    return 0


if __name__ == "__main__":
    exit_job(run_job(main, sys.argv[1:], prog="stuck"))
"""


@pytest.mark.parametrize("nranks", [2, 4])
def test_io_error_on_one_rank_while_the_others_are_inside_hdf5(nranks, disk, tmp_path):
    """The last rank's write fails before it enters the collective transfer, in which
    the other ranks then wait for it: it must not wait for them in turn. It reports the
    file and the error in one line and aborts the job (or, if its partners do come back,
    every rank raises the same error); the temporary is deleted either way."""
    job = tmp_path / "stuck.py"
    job.write_text(STUCK_JOB)
    out = os.path.join(disk.path, "out.nc")
    run_failing(nranks, str(job), [out], disk, out, reason="Input/output error",
                module=False, env={**os.environ, "CLUSTERKIT_AGREE_TIMEOUT": "2"})
