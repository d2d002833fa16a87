"""A node dies mid-run and the work goes on (issue 19).

A checkpointed diffusion job is submitted with ``clusterkit submit diffusion -N 2-3
--signal-requeue ...`` (``#SBATCH --requeue``, the requeue template) to the 3-node cluster
of the ``nodes`` fixture (tests/multinode_fixture.py) and starts on all three nodes. Once
it has written a checkpoint, every process in the network namespace of its last node is
killed with SIGKILL: that node's slurmd, the job step's slurmstepd and its rank, as when
a node loses power. The ranks left behind do not end by themselves (Open MPI waits for
the vanished TCP peer, srun for the lost node's task); what ends the run is Slurm's
node-failure handling: the node is marked DOWN ``SlurmdTimeout`` (10 s on this cluster)
after its last answer, and Slurm requeues the job, killing the run on the other nodes.
The rerun starts on the two nodes left, resumes from the newest checkpoint on 2 ranks and
must finish with a field bitwise equal to an uninterrupted run. The times from the kill
to the node being DOWN, to the job running again and to the result are printed (``-s``).
The dead node is revived at the end (``tools/cluster-local.sh up 3`` restarts it).
"""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from clusterkit.errors import InputError
from clusterkit.slurm.query import parse_scontrol
from clusterkit.slurm.render import render
from clusterkit.slurm.sites import load_site
from clusterkit.slurm.spec import JobSpec

#: The diffusion problem: small, with a pause per step so that the run on 3 nodes is
#: still going when its first checkpoint has been written.
STEPS = 300
PROBLEM = ["--shape", "31,60", "--steps", str(STEPS), "--every", "100"]
STEP_SLEEP = "0.04"
#: How long the run on the dead node may go on: the node is DOWN SlurmdTimeout (10 s)
#: after its last answer, found at slurmctld's next ping (every SlurmdTimeout/3 s) or
#: background pass; Slurm then ends the run on the other nodes (KillWait 5 s at most).
ENDS_WITHIN = 45
TCP_ONLY = ["--env=OMPI_MCA_pml=ob1", "--env=OMPI_MCA_btl=self,tcp"]


def _ck(env, *args, cwd=None, timeout=120):
    return subprocess.run([sys.executable, "-m", "clusterkit.cli.main", *args], env=env,
                          cwd=cwd, capture_output=True, text=True, timeout=timeout)


def _job(env, job_id):
    out = subprocess.run(["scontrol", "--oneliner", "show", "job", job_id], env=env,
                         capture_output=True, text=True, timeout=30).stdout
    recs = parse_scontrol(out)
    return recs[0] if recs else {}


def _node_state(env, name):
    out = subprocess.run(["scontrol", "--oneliner", "show", "node", name], env=env,
                         capture_output=True, text=True, timeout=30).stdout
    recs = parse_scontrol(out, first="NodeName")
    return recs[0].get("State", "") if recs else ""


def _kill_namespace(name):
    """SIGKILL every process of network namespace ``name``; return their pids."""
    pids = subprocess.run(["ip", "netns", "pids", name], capture_output=True, text=True,
                          timeout=30, check=True).stdout.split()
    for pid in pids:
        try:
            os.kill(int(pid), signal.SIGKILL)
        except ProcessLookupError:
            pass
    return pids


def _uninterrupted(work):
    """Start the same problem, uninterrupted, as one local process (no checkpoints)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("OMPI_MCA_", "CLUSTERKIT_PROF", "SLURM_"))}
    return subprocess.Popen([sys.executable, "-m", "clusterkit.jobs.diffusion", *PROBLEM,
                             "--dump-npy", str(work / "uninterrupted.npy")], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)


class Clock:
    """When each thing was first seen, in seconds after the kill."""

    def __init__(self):
        self.kill = None
        self.seen = {}

    def mark(self, what):
        self.seen.setdefault(what, time.monotonic() - self.kill)


def _until(what, check, timeout, poll=0.25):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"not within {timeout} s: {what}")
        time.sleep(poll)


def test_a_node_dies_the_job_is_requeued_and_finishes_on_the_nodes_left(nodes, tmp_path):
    env = nodes.env
    assert nodes.up(3).returncode == 0          # every node up (revives one a test killed)
    victim = nodes.names[-1]
    work = tmp_path
    reference = _uninterrupted(work)
    try:
        proc = _ck(env, "submit", "diffusion", "-N", "2-3", "--time", "10",
                   "--signal-requeue", "60", "--output-dir", str(work / "jobs"), *TCP_ONLY,
                   f"--env=CLUSTERKIT_TEST_STEP_SLEEP={STEP_SLEEP}", "--", *PROBLEM,
                   "--checkpoint-dir", str(work / "ck"), "--checkpoint-every", "10",
                   "--dump-npy", str(work / "out.npy"), cwd=work)
        assert proc.returncode == 0, proc.stderr
        job_id = proc.stdout.strip()
        err = work / "jobs" / f"slurm-{job_id}.err"
        out = work / "jobs" / f"slurm-{job_id}.out"
        try:
            _run_and_kill(env, job_id, victim, work, out, err)
        finally:
            subprocess.run(["scancel", job_id], env=env, timeout=30)
            revived = nodes.up(3)
            assert revived.returncode == 0, revived.stderr
        ref_out, _ = reference.communicate(timeout=120)
        assert reference.returncode == 0, ref_out
    finally:
        if reference.poll() is None:
            os.killpg(reference.pid, signal.SIGKILL)
            reference.wait()
    final = np.load(work / "out.npy")
    expected = np.load(work / "uninterrupted.npy")
    assert final.dtype == expected.dtype and final.shape == expected.shape
    assert final.tobytes() == expected.tobytes(), "the requeued run's field differs"


def _run_and_kill(env, job_id, victim, work, out, err):
    def on_three_nodes():
        rec = _job(env, job_id)
        assert rec.get("JobState") in ("PENDING", "RUNNING"), rec
        ck = sorted((work / "ck").glob("ckpt-*.h5")) if (work / "ck").is_dir() else []
        return rec.get("JobState") == "RUNNING" and ck and rec
    rec = _until("the job runs on 3 nodes and has written a checkpoint", on_three_nodes, 120)
    assert rec["NodeList"] == "ckn[1-3]" and rec.get("Restarts") == "0", rec

    clock = Clock()
    clock.kill = time.monotonic()
    killed = _kill_namespace(victim)
    assert killed, f"no process in {victim}'s namespace"

    def finished():
        rec = _job(env, job_id)
        state, restarts = rec.get("JobState"), int(rec.get("Restarts", "0") or 0)
        if _node_state(env, victim).startswith("DOWN"):
            clock.mark("down")
        if restarts == 0 and state != "RUNNING":
            pytest.fail(f"the job ended without a requeue: {rec}\n"
                        f"{err.read_text(errors='replace')[-3000:]}")
        if restarts >= 1:
            clock.mark("first run ended")
            if state == "RUNNING":
                clock.mark("running again")
        if state in ("FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY"):
            pytest.fail(f"job {job_id} ended {state}: {rec}\n"
                        f"{err.read_text(errors='replace')[-3000:]}")
        return state == "COMPLETED" and rec
    rec = _until("the requeued job completes", finished, 150)
    clock.mark("finished")
    seen = clock.seen
    print(f"\nnode failure: kill -> {victim} DOWN {seen.get('down', float('nan')):.1f} s, "
          f"-> first run ended {seen['first run ended']:.1f} s, -> running again "
          f"{seen.get('running again', float('nan')):.1f} s, -> finished "
          f"{seen['finished']:.1f} s")
    log = out.read_text(errors="replace")
    assert "down" in seen, f"{victim} was never marked DOWN"
    assert seen["first run ended"] < ENDS_WITHIN, seen
    assert rec["Restarts"] == "1" and rec["NodeList"] == "ckn[1-2]", rec
    assert "diffusion: 3 ranks" in log and "diffusion: 2 ranks" in log, log
    step = [int(line.rsplit("(step ", 1)[1].rstrip(")"))
            for line in log.splitlines() if line.startswith("restarted from ")]
    assert len(step) == 1 and 10 <= step[0] < STEPS, log
    assert "run 2 of job" in err.read_text(errors="replace")


# ---- the node range, without a cluster -----------------------------------------------

def _spec(**kw):
    return JobSpec("clusterkit.jobs.diffusion", python="/py", output_dir="/o", time="10",
                   signal_requeue=60, args=("--checkpoint-dir", "/ck"), **kw)


def test_a_node_range_lets_slurm_start_the_job_on_fewer_nodes():
    """``-N 2-3``: at least 2 nodes, 3 if free. Slurm fixes the rank count at submission
    when ``--ntasks-per-node`` is given (MIN x N), so a range is rendered without it and
    srun starts one rank on each node Slurm gave."""
    text = render(_spec(nodes="2-3"), load_site("local"))
    assert "#SBATCH --nodes=2-3\n" in text
    assert "--ntasks-per-node" not in text
    assert "# 2-3 ranks, in the background" in text
    fixed = render(_spec(nodes="3"), load_site("local"))
    assert "#SBATCH --nodes=3\n#SBATCH --ntasks-per-node=1\n" in fixed
    assert render(_spec(nodes="3-3"), load_site("local")) == fixed


@pytest.mark.parametrize("nodes,ntasks_per_node,message", [
    ("3-2", 1, "--nodes must be N or MIN-MAX with 1 <= MIN <= MAX"),
    ("0-2", 1, "--nodes must be N or MIN-MAX with 1 <= MIN <= MAX"),
    ("2-", 1, "--nodes must be a positive integer N or a range MIN-MAX such as 2-3"),
    ("a-b", 1, "--nodes must be a positive integer N or a range MIN-MAX such as 2-3"),
    ("2-3", 2, "--nodes 2-3 (a range) runs one rank per node; got --ntasks-per-node 2"),
])
def test_bad_node_ranges_are_refused(nodes, ntasks_per_node, message):
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        _spec(nodes=nodes, ntasks_per_node=ntasks_per_node)

