"""How much memory a rank can count on, and refusing inputs that cannot fit before allocating."""

import os
import resource

from . import comm as _comm
from .comm import MPI

__all__ = ["memory_per_rank", "check_fits_in_memory", "format_bytes"]


def format_bytes(n):
    """``n`` bytes as text with a binary unit: ``"74.5 GiB"``."""
    value, unit = float(n), "B"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"):
        if value < 1024 or unit == "EiB":
            break
        value /= 1024
    return f"{value:.1f} {unit}" if unit != "B" else f"{int(value)} B"


def _cgroup_memory_limit():
    """The memory limit of this process's cgroup (v2, else v1) in bytes, or ``None``."""
    try:
        with open("/proc/self/cgroup") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    files = []
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controllers == "":
            files += [f"/sys/fs/cgroup{path}/memory.max", "/sys/fs/cgroup/memory.max"]
        elif "memory" in controllers.split(","):
            files += [f"/sys/fs/cgroup/memory{path}/memory.limit_in_bytes",
                      "/sys/fs/cgroup/memory/memory.limit_in_bytes"]
    for name in files:
        try:
            with open(name) as f:
                text = f.read().strip()
        except OSError:
            continue
        return int(text) if text.isdigit() else None
    return None


def memory_per_rank(comm=None):
    """``(bytes, how)``: the memory one rank of ``comm`` can count on, and how it was found.

    The node's physical memory (or its cgroup limit, as under Slurm, if smaller) divided
    by the ranks of ``comm`` on this node, capped by this process's address-space limit
    (``ulimit -v``). Collective.
    """
    c = _comm.resolve(comm)
    local = c.Split_type(MPI.COMM_TYPE_SHARED)
    try:
        ranks = local.Get_size()
    finally:
        local.Free()
    node = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    how = "physical memory"
    limit = _cgroup_memory_limit()
    if limit is not None and limit < node:
        node, how = limit, "cgroup memory limit"
    per_rank = node // ranks
    how = f"{format_bytes(node)} {how} on this node / {ranks} rank{'s' * (ranks > 1)} there"
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft != resource.RLIM_INFINITY and soft < per_rank:
        per_rank, how = soft, "the address-space limit (ulimit -v) of each process"
    return per_rank, how


def check_fits_in_memory(need, what, comm=None):
    """Raise the same :class:`InputError` on every rank if ``need`` bytes (this rank's
    estimate) exceed :func:`memory_per_rank` on any rank. Collective.

    For inputs whose shape alone says the job cannot run: refusing before allocating
    gives one line instead of a ``MemoryError`` (or the kernel's out-of-memory killer)
    part-way through.
    """
    avail, how = memory_per_rank(comm)
    _comm.check(need <= avail,
                lambda: f"{what} needs about {format_bytes(need)} of memory per rank, but "
                        f"{format_bytes(avail)} is available per rank ({how}); use more "
                        "ranks on more nodes, or a smaller input", comm=comm)
