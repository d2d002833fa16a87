"""The one threads-per-rank policy (DESIGN rule 8); pure functions of the environment."""

import os
from .errors import InputError

__all__ = ["available_cores", "threads_per_rank"]


def available_cores():
    """Return the number of cores this process may run on (its CPU affinity)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def threads_per_rank(ranks_on_node, *, cores=None, node_cores=None, env=None):
    """Return how many Numba threads each rank should use.

    In order: an explicit ``NUMBA_NUM_THREADS``; Slurm's ``SLURM_CPUS_PER_TASK``;
    otherwise the cores this process may use, shared among the ranks on the node
    when the process is not bound (its affinity is the whole node), never below 1.

    Parameters
    ----------
    ranks_on_node : int
        Ranks sharing this node.
    cores : int, optional
        Cores in this process's affinity mask (default: measured).
    node_cores : int, optional
        Cores on the node (default: ``os.cpu_count()``).
    env : mapping, optional
        Environment (default: ``os.environ``).
    """
    env = os.environ if env is None else env
    for var in ("NUMBA_NUM_THREADS", "SLURM_CPUS_PER_TASK"):
        value = env.get(var, "").strip()
        if value:
            try:
                n = int(value)
            except ValueError:
                raise InputError(f"{var} must be a positive integer, got {value!r}") from None
            if n < 1:
                raise InputError(f"{var} must be a positive integer, got {value!r}")
            return n
    cores = available_cores() if cores is None else cores
    node_cores = (os.cpu_count() or cores) if node_cores is None else node_cores
    if cores >= node_cores:  # not bound: share the node
        return max(1, cores // max(1, ranks_on_node))
    return max(1, cores)
