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

__all__ = ["slurm", "SCRIPT"]

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
    previous = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = os.path.join(directory, "etc", "slurm.conf")
    try:
        yield directory
    finally:
        stop()
        if previous is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = previous
