"""The ``slurm`` session fixture: a private single-node Slurm (slurmctld + slurmd + munged).

Started once per test session by tools/slurm-local.sh (which installs slurm-wlm and munge
with apt-get if needed) and stopped at the end. Tests skip only when that script says
Slurm cannot run here (exit status 3: not root, no apt-get, packages not installable);
any other start-up failure fails them. Imported by tests/conftest.py, so every test file
that asks for ``slurm`` shares the one cluster.
"""

import atexit
import os
import pathlib
import random
import shutil
import socket
import subprocess
import tempfile

import pytest

__all__ = ["slurm", "SCRIPT", "PrivateCluster"]

REPO = pathlib.Path(__file__).resolve().parent.parent
SCRIPT = REPO / "tools" / "slurm-local.sh"


def _free_port_pair():
    """Two consecutive free TCP ports (slurmctld, slurmd)."""
    for _ in range(200):
        port = random.randrange(20000, 40000)
        try:
            for p in (port, port + 1):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", p))
        except OSError:
            continue
        return port
    raise RuntimeError("no free port pair found")


@pytest.fixture(scope="session")
def slurm():
    """A running local Slurm; ``SLURM_CONF`` is exported for the session.

    By default a private cluster (own directory under /tmp, free ports), started and
    stopped here, so concurrent test runs do not meet. ``CLUSTERKIT_SLURM_DIR`` reuses the
    cluster in that directory instead (started if needed, stopped only if started here).
    """
    if os.environ.get("CLUSTERKIT_SKIP_SLURM"):
        pytest.skip("CLUSTERKIT_SKIP_SLURM is set")
    env = dict(os.environ)
    directory = os.environ.get("CLUSTERKIT_SLURM_DIR")
    private = directory is None
    if private:
        directory = tempfile.mkdtemp(prefix="ck-slurm-")
        env["CLUSTERKIT_SLURM_PORT"] = str(_free_port_pair())
    ours = private or subprocess.run(["bash", str(SCRIPT), "status", directory],
                                     capture_output=True, timeout=60).returncode != 0
    stopped = []

    def stop():
        if ours and not stopped:
            stopped.append(True)
            subprocess.run(["bash", str(SCRIPT), "stop", directory], capture_output=True,
                           timeout=120, env=env)
            if private:
                shutil.rmtree(directory, ignore_errors=True)

    atexit.register(stop)
    proc = subprocess.run(["bash", str(SCRIPT), "start", directory], capture_output=True,
                          text=True, timeout=280, env=env)
    last = (proc.stderr.strip().splitlines() or ["(no message)"])[-1]
    if proc.returncode == 3:
        stop()
        pytest.skip(last)
    if proc.returncode != 0:
        stop()
        pytest.fail(f"tools/slurm-local.sh start failed ({proc.returncode}):\n"
                    f"{proc.stderr[-4000:]}", pytrace=False)
    # jobs keep their Numba cache under XDG_CACHE_HOME (slurm/templates): the session's
    # jobs share one in the cluster's directory instead of the user's home
    values = {"SLURM_CONF": os.path.join(directory, "etc", "slurm.conf"),
              "XDG_CACHE_HOME": os.path.join(directory, "cache")}
    previous = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield directory
    finally:
        stop()
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


class PrivateCluster:
    """A second local Slurm of a test's own (own directory and ports), which the test may
    restart: ``tools/slurm-local.sh start`` begins with empty state, so job IDs start again
    from the same first ID, as on a cluster that lost its state. Use after the ``slurm``
    fixture (which installs Slurm or skips); a context manager that stops it at the end.

    ``env`` is this process's environment with ``SLURM_CONF`` pointing at this cluster.
    """

    def __init__(self):
        self.directory = tempfile.mkdtemp(prefix="ck-slurm2-")
        self.env = {**os.environ, "CLUSTERKIT_SLURM_PORT": str(_free_port_pair()),
                    "SLURM_CONF": os.path.join(self.directory, "etc", "slurm.conf")}

    def _script(self, action, timeout):
        proc = subprocess.run(["bash", str(SCRIPT), action, self.directory],
                              capture_output=True, text=True, timeout=timeout, env=self.env)
        if proc.returncode != 0:
            pytest.fail(f"tools/slurm-local.sh {action} failed ({proc.returncode}):\n"
                        f"{proc.stderr[-4000:]}", pytrace=False)

    def start(self):
        """Start it (again), with empty state."""
        self._script("start", 280)

    def stop(self):
        """Stop exactly its daemons (cancelling its jobs first)."""
        self._script("stop", 120)

    def restart(self):
        """Stop and start: the controller forgets every job and reuses their IDs."""
        self.stop()
        self.start()

    def __enter__(self):
        try:
            self.start()
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc):
        try:
            self.stop()
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)
