"""Job IDs repeat after a Slurm restart: ``clusterkit submit`` never overwrites an earlier
job's ``slurm-ID.sh/.out/.err`` in the same ``--output-dir`` (issue 19).

Runs a second local Slurm of its own (tests/slurm_fixture.py's :class:`PrivateCluster`)
and restarts it, which empties its state as a controller that lost it would: the next job
gets the same ID as the first.
"""

import subprocess
import sys
import time

import pytest

from clusterkit.slurm.query import parse_scontrol
from slurm_fixture import PrivateCluster


def _ck(env, *args):
    return subprocess.run([sys.executable, "-m", "clusterkit.cli.main", *args], env=env,
                          capture_output=True, text=True, timeout=120)


def _wait_done(env, job_id, timeout=90):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = subprocess.run(["scontrol", "--oneliner", "show", "job", job_id], env=env,
                             capture_output=True, text=True, timeout=30).stdout
        (rec,) = parse_scontrol(out)
        if rec["JobState"] in ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT"):
            return rec
        time.sleep(0.2)
    pytest.fail(f"job {job_id} did not end within {timeout} s")


def test_job_ids_repeating_after_a_restart_never_overwrite_earlier_files(slurm, tmp_path):
    job = tmp_path / "say.py"
    job.write_text("import sys\nprint(sys.argv[1])\nprint(sys.argv[1], file=sys.stderr)\n")
    out = tmp_path / "jobs"
    with PrivateCluster() as cluster:
        first = _ck(cluster.env, "submit", str(job), "--time", "5", "--output-dir", str(out),
                    "--", "first")
        assert first.returncode == 0, first.stderr
        first_id = first.stdout.strip()
        assert _wait_done(cluster.env, first_id)["JobState"] == "COMPLETED"
        kept = {p.name: p.read_bytes() for p in out.iterdir()}
        assert sorted(kept) == [f"slurm-{first_id}.{ext}" for ext in ("err", "out", "sh")]

        cluster.restart()                       # the controller forgets; IDs start again
        second = _ck(cluster.env, "submit", str(job), "--time", "5", "--output-dir",
                     str(out), "--", "second")
        assert second.returncode == 0, second.stderr
        second_id = second.stdout.strip()
        assert second_id != first_id
        assert (f"{out} already held files of earlier jobs {first_id} (Slurm's job IDs "
                "started again)") in second.stderr
        rec = _wait_done(cluster.env, second_id)
        assert rec["JobState"] == "COMPLETED"
        assert rec["StdOut"] == str(out / f"slurm-{second_id}.out")
    assert {name: (out / name).read_bytes() for name in kept} == kept
    assert (out / f"slurm-{first_id}.out").read_text() == "first\n"
    assert (out / f"slurm-{second_id}.out").read_text() == "second\n"
    assert "second" in (out / f"slurm-{second_id}.sh").read_text()
