"""Fault injection for the test suite, in one place: every hook is switched on only by a
``CLUSTERKIT_TEST_*`` environment variable and does nothing when it is unset.

``CLUSTERKIT_TEST_KILL_AT_STEP=k`` + ``CLUSTERKIT_TEST_KILL_RANK=r``
    rank r SIGKILLs itself at the start of step k of the diffusion and stencil jobs;
``CLUSTERKIT_TEST_FAIL_SAVE=k:r:mode``
    while writing the checkpoint of step k, rank r raises ``RuntimeError`` (mode
    ``raise``) or SIGKILLs itself (``kill``), after the temporary file was created;
``CLUSTERKIT_TEST_FAIL_LOAD=k:r``
    while reading the checkpoint of step k to restart, rank r raises ``RuntimeError``
    (after the file was opened, while the other ranks read);
``CLUSTERKIT_TEST_STEP_SLEEP=s``
    the diffusion job sleeps s seconds after each step (so a test can signal it mid-run).
"""

import os
import signal
import time

__all__ = ["fault_point", "step_pause"]


def fault_point(where, step, rank):
    """Kill or fail this process here if the test switches say so (``where``: ``"step"``,
    ``"save"`` or ``"load"``; ``rank``: this process's rank)."""
    env = os.environ
    if where == "step" and env.get("CLUSTERKIT_TEST_KILL_AT_STEP"):
        if (int(env["CLUSTERKIT_TEST_KILL_AT_STEP"]) == step
                and int(env.get("CLUSTERKIT_TEST_KILL_RANK", "0")) == rank):
            os.kill(os.getpid(), signal.SIGKILL)
    if where == "load" and env.get("CLUSTERKIT_TEST_FAIL_LOAD"):
        k, r = env["CLUSTERKIT_TEST_FAIL_LOAD"].split(":")
        if int(k) == step and int(r) == rank:
            raise RuntimeError(f"injected failure while reading checkpoint {step} on rank "
                               f"{rank}")
    if where == "save" and env.get("CLUSTERKIT_TEST_FAIL_SAVE"):
        k, r, mode = env["CLUSTERKIT_TEST_FAIL_SAVE"].split(":")
        if int(k) == step and int(r) == rank:
            if mode == "kill":
                os.kill(os.getpid(), signal.SIGKILL)
            raise RuntimeError(f"injected failure while writing checkpoint {step} on rank {rank}")


_STEP_SLEEP = float(os.environ.get("CLUSTERKIT_TEST_STEP_SLEEP", "0") or 0)


def step_pause():
    """Sleep ``CLUSTERKIT_TEST_STEP_SLEEP`` seconds (read once, at import; 0: return)."""
    if _STEP_SLEEP:
        time.sleep(_STEP_SLEEP)
