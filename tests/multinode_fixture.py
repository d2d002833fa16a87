"""The ``nodes`` session fixture: a real 3-node Slurm cluster on this machine.

Started once per test session by ``tools/cluster-local.sh up 3`` (network namespaces
ckn1..ckn3 on a bridge, one slurmd in each, slurmctld and munged on the head) and taken
down at the end. It runs beside the single-node cluster of the ``slurm`` fixture, which it
asks for first (that one installs slurm-wlm and munge where they are missing). Tests skip
only when the script says a cluster cannot be built here (exit status 3: not root, no
``ip``/``nsenter``, the kernel refuses namespaces or bridges), with its one-line reason;
any other start-up failure fails them. tests/conftest.py imports it, so every test module can
ask for ``nodes``.
"""

import atexit
import os
import pathlib
import shlex
import shutil
import subprocess
import tempfile

import pytest

from slurm_fixture import _free_port_pair

__all__ = ["nodes_fixture", "SCRIPT", "Cluster"]

REPO = pathlib.Path(__file__).resolve().parent.parent
SCRIPT = REPO / "tools" / "cluster-local.sh"


class Cluster:
    """A cluster made by tools/cluster-local.sh in ``directory`` on ``port``.

    ``env`` is this process's environment plus what ``cluster-local.sh env`` exports
    (``SLURM_CONF``, the Open MPI interface, hostfile and launch-agent settings);
    ``exports`` is that text; ``names`` the node names.
    """

    def __init__(self, directory, port):
        self.directory = str(directory)
        self.port = int(port)
        self.script_env = {**os.environ, "CLUSTERKIT_CLUSTER_DIR": self.directory,
                           "CLUSTERKIT_CLUSTER_PORT": str(self.port)}
        self.exports = ""
        self.env = dict(self.script_env)
        self.names = []

    def script(self, *args, timeout=180):
        """Run ``tools/cluster-local.sh ARGS`` for this cluster; return the process."""
        return subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True,
                              timeout=timeout, env=self.script_env)

    def up(self, count=3):
        """``up COUNT``; read its ``env``. Returns the process of ``up``."""
        proc = self.script("up", str(count))
        if proc.returncode == 0:
            exported = self.script("env")
            assert exported.returncode == 0, exported.stderr
            self.exports = exported.stdout
            self.env = dict(self.script_env)
            for line in exported.stdout.splitlines():
                words = shlex.split(line)
                if words[:1] == ["export"]:
                    name, _, value = words[1].partition("=")
                    self.env[name] = value
            self.names = [f"ckn{i}" for i in range(1, count + 1)]
        return proc

    def down(self):
        """``down``; fails the test if it fails."""
        proc = self.script("down")
        assert proc.returncode == 0, proc.stderr
        return proc


@pytest.fixture(scope="session", name="nodes")
def nodes_fixture(slurm):
    """A running 3-node cluster (:class:`Cluster`), taken down at the end of the session.

    A private directory under /tmp and free ports, unless ``CLUSTERKIT_CLUSTER_DIR`` names
    a directory to use (then its cluster is reused if it runs, and taken down only if
    started here). The node names ckn1..ckn3 are the machine's, so one cluster at a time.
    """
    if os.environ.get("CLUSTERKIT_SKIP_MULTINODE"):
        pytest.skip("CLUSTERKIT_SKIP_MULTINODE is set")
    directory = os.environ.get("CLUSTERKIT_CLUSTER_DIR")
    private = directory is None
    if private:
        directory = tempfile.mkdtemp(prefix="ck-nodes-")
        port = _free_port_pair()
    else:
        port = int(os.environ.get("CLUSTERKIT_CLUSTER_PORT", "16917"))
    cluster = Cluster(directory, port)
    ours = private or cluster.script("status").returncode != 0
    stopped = []

    def stop():
        if ours and not stopped:
            stopped.append(True)
            cluster.script("down")
            if private:
                shutil.rmtree(directory, ignore_errors=True)

    atexit.register(stop)
    proc = cluster.up(3)
    last = (proc.stderr.strip().splitlines() or ["(no message)"])[-1]
    if proc.returncode == 3:
        stop()
        pytest.skip(last)
    if proc.returncode != 0:
        stop()
        pytest.fail(f"tools/cluster-local.sh up 3 failed ({proc.returncode}):\n"
                    f"{proc.stderr[-4000:]}", pytrace=False)
    try:
        yield cluster
    finally:
        stop()
