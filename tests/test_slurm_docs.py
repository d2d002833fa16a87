"""Every ``clusterkit`` command in docs/slurm.md, run as printed (issue 19).

The page's shell blocks are its examples; each line runs with bash, unchanged, in a fresh
directory with the venv's ``clusterkit`` first on PATH, against the local Slurm of the
``slurm`` fixture (a later line may use a variable an earlier one set, as in a shell
session). Inline ``clusterkit …`` text must be syntax (``JOB``, ``ID``, ``[…]``), a bare
command name, or one of the block lines, so a new example cannot go untested. All of them
run here: ``--site mycluster`` is the generic profile copied as ``mycluster.toml`` into a
directory on ``CLUSTERKIT_SITE_PATH``, as the page says, and its line is a dry run.
"""

import os
import pathlib
import re
import shutil
import subprocess
import sys

import pytest

from test_slurm_live import records, wait_for

REPO = pathlib.Path(__file__).resolve().parent.parent
DOC = REPO / "docs" / "slurm.md"
SESSION = [
    "id=$(clusterkit submit demo --ntasks-per-node 2 --time 10 -- --shape 24,181,360)",
    "clusterkit status",
    "clusterkit status $id",
    "clusterkit logs $id",
    "clusterkit cancel $id",
]
STENCIL = "clusterkit submit stencil -- 10 1000"
DRY_RUN = ("clusterkit submit climate-stats -N 4 --ntasks-per-node 32 -c 2 --site mycluster "
           "--dry-run -- in.nc out.nc")
CHAIN = "b=$(clusterkit submit stencil --dependency afterok:$(clusterkit submit demo) -- 10 1000)"
REQUEUE = ("clusterkit submit diffusion --ntasks-per-node 2 --time 60 --signal-requeue 300 -- "
           "--steps 100000 --checkpoint-dir ck --checkpoint-every 500")
#: Words that mark inline text as syntax, not a command to run.
_PLACEHOLDERS = re.compile(r"\b(JOB|ID|DIR|FILE|NAME|SECONDS|N)\b|\[|…")


def _page_lines():
    """The lines of the page's ``sh`` blocks, without their comments."""
    blocks = re.findall(r"```sh\n(.*?)```", DOC.read_text(), re.S)
    return [re.sub(r"\s+#.*$", "", line).strip() for block in blocks
            for line in block.splitlines() if line.strip()]


def _inline_commands():
    text = re.sub(r"```.*?```", "", DOC.read_text(), flags=re.S)
    return [s for s in re.findall(r"`([^`\n]+)`", text)
            if s.startswith("clusterkit ") or "$(clusterkit" in s]


def test_the_page_shows_exactly_the_commands_tested_here():
    assert _page_lines() == [*SESSION, STENCIL, DRY_RUN, CHAIN, REQUEUE]
    for span in _inline_commands():
        is_name = re.fullmatch(r"clusterkit [a-z-]+", span) is not None
        assert _PLACEHOLDERS.search(span) or is_name or span in _page_lines(), \
            f"docs/slurm.md shows `{span}`, which no test runs"


@pytest.fixture
def shell(tmp_path):
    """Run one line of the page with bash in a fresh directory; ``env`` adds variables."""
    bindir = str(pathlib.Path(sys.executable).parent)
    sites = tmp_path / "sites"
    sites.mkdir()
    shutil.copy(REPO / "slurm" / "sites" / "generic-cluster.toml", sites / "mycluster.toml")
    base = {**os.environ, "PATH": f"{bindir}:{os.environ['PATH']}",
            "CLUSTERKIT_SITE_PATH": str(sites)}
    base.pop("CLUSTERKIT_SITE", None)
    work = tmp_path / "work"
    work.mkdir()

    def run(line, *, show=None, **env):
        script = line + (f'\nprintf "%s" "${show}"' if show else "")
        return subprocess.run(["bash", "-c", script], cwd=work, env={**base, **env},
                              capture_output=True, text=True, timeout=180)
    run.work = work
    return run


def _ok(proc):
    assert proc.returncode == 0, proc.stderr
    return proc


def test_the_session_block(slurm, shell):
    job_id = _ok(shell(SESSION[0], show="id")).stdout
    assert job_id.isdigit(), job_id
    listing = _ok(shell(SESSION[1])).stdout.splitlines()
    assert listing[0].split()[:4] == ["JOBID", "STATE", "RUNS", "ELAPSED"]
    row = _ok(shell(SESSION[2], id=job_id)).stdout.splitlines()[1].split()
    assert row[0] == job_id and row[1] in ("PENDING", "RUNNING", "COMPLETING", "COMPLETED")
    (rec,) = wait_for(job_id, {"COMPLETED", "FAILED"}, timeout=120)
    assert rec["JobState"] == "COMPLETED"
    text = _ok(shell(SESSION[3], id=job_id)).stdout
    assert "clusterkit demo: 2 ranks, field 24x181x360" in text and "(agrees)" in text
    assert (shell.work / "clusterkit-jobs" / f"slurm-{job_id}.out").read_text() == text
    said = _ok(shell(SESSION[4], id=job_id)).stdout
    assert said == f"job {job_id} already ended (COMPLETED); nothing to cancel\n"


def test_job_arguments_right_after_the_double_dash(slurm, shell):
    """This line failed once: argparse took 10 for an option of submit."""
    job_id = _ok(shell(STENCIL)).stdout.strip()
    (rec,) = wait_for(job_id, {"COMPLETED", "FAILED"}, timeout=120)
    out = (shell.work / "clusterkit-jobs" / f"slurm-{job_id}.out").read_text()
    assert rec["JobState"] == "COMPLETED" and "Solution validates" in out, out


def test_dry_run_with_a_site_of_your_own(shell):
    script = _ok(shell(DRY_RUN)).stdout
    for line in ("#SBATCH --nodes=4", "#SBATCH --ntasks-per-node=32",
                 "#SBATCH --cpus-per-task=2", "#SBATCH --partition=compute",
                 "#SBATCH --account=my-project", "module load openmpi/4.1.5"):
        assert line in script
    assert "-m clusterkit.jobs.climate_stats in.nc out.nc\n" in script.replace(" \\\n    ", " ")
    assert not (shell.work / "clusterkit-jobs").exists()


def test_the_dependency_chain(slurm, shell):
    second = _ok(shell(CHAIN, show="b")).stdout
    assert second.isdigit(), second
    (pending,) = records(second)
    first = pending["Dependency"].split(":")[1].split("(")[0]
    (r2,) = wait_for(second, {"COMPLETED", "FAILED", "CANCELLED"}, timeout=180)
    (r1,) = records(first)
    assert (r1["JobState"], r2["JobState"]) == ("COMPLETED", "COMPLETED")
    assert r2["StartTime"] >= r1["EndTime"]
    jobs = shell.work / "clusterkit-jobs"
    assert "Solution validates" in (jobs / f"slurm-{second}.out").read_text()
    assert "(agrees)" in (jobs / f"slurm-{first}.out").read_text()


def test_a_checkpointing_job_with_requeue(slurm, shell):
    job_id = _ok(shell(REQUEUE)).stdout.strip()
    script = (shell.work / "clusterkit-jobs" / f"slurm-{job_id}.sh").read_text()
    assert "#SBATCH --signal=B:USR1@300" in script and "#SBATCH --requeue" in script
    assert "--checkpoint-dir ck --checkpoint-every 500" in script.replace(" \\\n    ", " ")
    wait_for(job_id, {"RUNNING"}, timeout=120)
    _ok(shell(f"clusterkit cancel {job_id}"))
    wait_for(job_id, {"CANCELLED", "FAILED", "COMPLETED"}, timeout=120)
