"""Jobs across the nodes of a real multi-node cluster on this machine (issue 19).

The ``nodes`` fixture (tests/multinode_fixture.py) builds three nodes with
tools/cluster-local.sh: network namespaces ckn1..ckn3 on a bridge, each with its own
hostname and slurmd. The stencil, diffusion and climate-stats jobs run across 2 and 3 of
them through ``clusterkit submit`` (srun, PMIx) and through ``clusterkit run`` (mpirun
with the cluster's hostfile and launch agent). Each run must have one rank per host (the
hosts the profile JSON lists), must run with Open MPI's transports forced to
``self,tcp`` (while ``self,vader``, shared memory, cannot connect the nodes at all), and
must give results bitwise equal to a plain local ``mpirun`` of the same job on as many
ranks. ``clusterkit bench strong --slurm --ntasks-per-node 1`` across 1-3 nodes records
the hosts of every point. Every command of docs/multinode.md runs here as printed.
"""

import json
import os
import pathlib
import re
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest

from clusterkit.slurm.query import parse_scontrol
from clusterkit.testing import run_mpi

import multinode_fixture

REPO = pathlib.Path(__file__).resolve().parent.parent
DOC = REPO / "docs" / "multinode.md"
BIN = str(pathlib.Path(sys.executable).parent)
TCP_ONLY = {"OMPI_MCA_pml": "ob1", "OMPI_MCA_btl": "self,tcp"}
SHARED_MEMORY_ONLY = {"OMPI_MCA_pml": "ob1", "OMPI_MCA_btl": "self,vader"}
UNREACHABLE = "unable to reach each other"
ENDED = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY"}

#: job name -> (module, its arguments for a run whose result goes to files named TAG.*)
JOBS = {
    "stencil": ("clusterkit.jobs.stencil",
                lambda d, tag: ["10", "200", "--dump-npy", f"{d}/{tag}.npy"]),
    "diffusion": ("clusterkit.jobs.diffusion",
                  lambda d, tag: ["--shape", "31,60", "--steps", "20",
                                  "--dump-npy", f"{d}/{tag}.npy"]),
    "climate-stats": ("clusterkit.jobs.climate_stats",
                      lambda d, tag: [f"{d}/in.nc", f"{d}/{tag}.nc"]),
}
CASES = [(job, n) for job in JOBS for n in (2, 3)]
IDS = [f"{job}-{n}nodes" for job, n in CASES]


def _result_file(work, job, tag):
    return work / f"{tag}.{'nc' if job == 'climate-stats' else 'npy'}"


def _result(path):
    """A job's result as {name: (dtype, shape, bytes)}: every array, bit for bit."""
    if path.suffix == ".npy":
        a = np.load(path)
        return {"": (a.dtype.str, a.shape, a.tobytes())}
    out = {}
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                a = obj[()]
                out[name] = (a.dtype.str, a.shape, np.asarray(a).tobytes())
        f.visititems(visit)
    return out


def _hosts(profile):
    with open(profile) as f:
        return json.load(f)["hosts"]


def _ck(env, *args, cwd=None, timeout=180):
    return subprocess.run([sys.executable, "-m", "clusterkit.cli.main", *args], env=env,
                          cwd=cwd, capture_output=True, text=True, timeout=timeout)


def _record(env, job_id):
    out = subprocess.run(["scontrol", "--oneliner", "show", "job", job_id], env=env,
                         capture_output=True, text=True, timeout=30).stdout
    recs = parse_scontrol(out)
    return recs[0] if recs else {}


def _wait(env, job_id, timeout=240):
    """Poll until the job has ended; return its record."""
    deadline = time.monotonic() + timeout
    while True:
        rec = _record(env, job_id)
        if rec.get("JobState") in ENDED:
            return rec
        if time.monotonic() > deadline:
            pytest.fail(f"job {job_id} did not end within {timeout} s: {rec}")
        time.sleep(0.3)


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """A directory with a small climate dataset ``in.nc``."""
    d = tmp_path_factory.mktemp("multinode")
    proc = _ck(dict(os.environ), "make-dataset", str(d / "in.nc"), "--shape", "24,31,60")
    assert proc.returncode == 0, proc.stderr
    return d


@pytest.fixture(scope="module")
def reference(work):
    """``reference(job, n)``: the result of a plain local mpirun of the job on n ranks."""
    done = {}

    def get(job, n):
        if (job, n) not in done:
            module, args = JOBS[job]
            tag = f"local-{job}-{n}"
            env = {k: v for k, v in os.environ.items() if not k.startswith("CLUSTERKIT_PROF")}
            res = run_mpi(n, module, args(work, tag), env=env, timeout=180)
            assert res.returncode == 0, res.stderr
            done[job, n] = _result(_result_file(work, job, tag))
        return done[job, n]
    return get


@pytest.fixture(scope="module")
def submitted(nodes, work):
    """Every (job, nodes) case submitted at once (they share the nodes' cores), each with
    Open MPI limited to TCP and a profile JSON; ``{case: (job ID, output dir)}``."""
    jobs = {}
    for job, n in CASES:
        tag = f"submit-{job}-{n}"
        env_opts = [f"--env={k}={v}" for k, v in TCP_ONLY.items()]
        proc = _ck(nodes.env, "submit", job, "-N", str(n), "--time", "5",
                   "--output-dir", str(work / "jobs"), *env_opts,
                   f"--env=CLUSTERKIT_PROFILE_JSON={work}/{tag}.json",
                   "--", *JOBS[job][1](work, tag), cwd=work)
        assert proc.returncode == 0, proc.stderr
        jobs[job, n] = proc.stdout.strip()
    return jobs


@pytest.mark.parametrize("job,n", CASES, ids=IDS)
def test_submit_across_nodes(nodes, work, submitted, reference, job, n):
    job_id = submitted[job, n]
    rec = _wait(nodes.env, job_id)
    err = (work / "jobs" / f"slurm-{job_id}.err").read_text(errors="replace")
    assert rec["JobState"] == "COMPLETED", err[-3000:]
    tag = f"submit-{job}-{n}"
    hosts = _hosts(work / f"{tag}.json")
    assert sorted(hosts) == nodes.names[:n], hosts       # one rank on each of n hosts
    assert _result(_result_file(work, job, tag)) == reference(job, n)


@pytest.mark.parametrize("job,n", CASES, ids=IDS)
def test_mpirun_with_the_hostfile_across_nodes(nodes, work, reference, job, n):
    module, args = JOBS[job]
    tag = f"mpirun-{job}-{n}"
    env = {**nodes.env, **TCP_ONLY, "CLUSTERKIT_PROFILE_JSON": f"{work}/{tag}.json"}
    proc = _ck(env, "run", "-n", str(n), job, *args(work, tag), cwd=work)
    assert proc.returncode == 0, proc.stderr[-3000:]
    hosts = _hosts(work / f"{tag}.json")
    assert sorted(hosts) == nodes.names[:n], hosts
    assert _result(_result_file(work, job, tag)) == reference(job, n)


def test_shared_memory_cannot_connect_the_nodes(nodes, work):
    """The proof that the ranks are apart: with only shared memory (and self) allowed, a
    2-node job cannot start, through Slurm or through mpirun; the TCP-only runs above can."""
    env_opts = [f"--env={k}={v}" for k, v in SHARED_MEMORY_ONLY.items()]
    proc = _ck(nodes.env, "submit", "stencil", "-N", "2", "--time", "5", "--output-dir",
               str(work / "vader"), *env_opts, "--", "2", "50", cwd=work)
    assert proc.returncode == 0, proc.stderr
    job_id = proc.stdout.strip()
    run = subprocess.run(["mpirun", "-n", "2", sys.executable, "-m", "clusterkit.jobs.stencil",
                          "2", "50"], env={**nodes.env, **SHARED_MEMORY_ONLY}, cwd=work,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode != 0 and UNREACHABLE in run.stdout + run.stderr, run.stderr[-3000:]
    rec = _wait(nodes.env, job_id)
    err = (work / "vader" / f"slurm-{job_id}.err").read_text(errors="replace")
    assert rec["JobState"] == "FAILED" and UNREACHABLE in err, err[-3000:]


def test_bench_strong_on_one_to_three_nodes_records_the_hosts(nodes, tmp_path):
    out = tmp_path / "bench"
    proc = _ck(nodes.env, "bench", "strong", "stencil", "--ranks", "1,2,3", "--repeat", "1",
               "--warmup", "0", "--out", str(out), "--no-plots", "--slurm",
               "--ntasks-per-node", "1", "--time", "5", "--timeout", "240", "--", "10", "200",
               cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads((out / "results.json").read_text())
    seen = {p["ranks"]: (p["slurm"]["nodes"], p["slurm"]["hosts"]) for p in results["points"]}
    assert seen == {1: (1, ["ckn1"]), 2: (2, ["ckn1", "ckn2"]),
                    3: (3, ["ckn1", "ckn2", "ckn3"])}, seen


def test_up_avoids_a_subnet_in_use(nodes):
    """A /24 that an address of this machine is on is never used: with the cluster's
    subnet taken by another interface, a new ``up`` picks another one (and ``up`` on a
    running cluster only checks it)."""
    taken = nodes.env["OMPI_MCA_btl_tcp_if_include"]          # e.g. 10.213.17.0/24
    nodes.down()
    other = "cktaken0"   # a bridge: dummy links need a module this kernel may lack
    subprocess.run(["ip", "link", "add", other, "type", "bridge"], check=True, timeout=30)
    try:
        subprocess.run(["ip", "addr", "add", taken.replace(".0/", ".200/"), "dev", other],
                       check=True, timeout=30)
        proc = nodes.up(3)
        assert proc.returncode == 0, proc.stderr
        now = nodes.env["OMPI_MCA_btl_tcp_if_include"]
        assert now != taken and now.endswith(".0/24"), (taken, now)
        assert f"on {now}," in proc.stderr
        again = nodes.up(3)
        assert again.returncode == 0 and "already running" in again.stderr, again.stderr
    finally:
        subprocess.run(["ip", "link", "del", other], timeout=30)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run the script as another user")
def test_without_root_one_line_and_status_3(tmp_path):
    proc = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                           "bash", str(multinode_fixture.SCRIPT), "up", "3"],
                          env={**os.environ, "CLUSTERKIT_CLUSTER_DIR": str(tmp_path / "c")},
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 3
    assert proc.stderr == ("cluster-local: cannot build a multi-node cluster here: needs "
                           "root (network namespaces, a bridge, slurmd as root)\n")


# ---- docs/multinode.md, run as printed ------------------------------------------------

BUILD = ["tools/cluster-local.sh up 3", "tools/cluster-local.sh status",
         'eval "$(tools/cluster-local.sh env)"', "sinfo"]
SUBMIT = ["id=$(clusterkit submit stencil -N 3 -- 10 1000)", "clusterkit status $id",
          "clusterkit logs $id"]
MPIRUN = ["clusterkit run -n 3 stencil 10 1000", "mpirun -n 3 hostname"]
DOWN = ["tools/cluster-local.sh down"]


def _page_lines():
    blocks = re.findall(r"```sh\n(.*?)```", DOC.read_text(), re.S)
    return [re.sub(r"\s+#.*$", "", line).strip() for block in blocks
            for line in block.splitlines() if line.strip()]


def test_the_page_shows_exactly_the_commands_tested_here():
    assert _page_lines() == [*BUILD, *SUBMIT, *MPIRUN, *DOWN]
    text = re.sub(r"```.*?```", "", DOC.read_text(), flags=re.S)
    for span in re.findall(r"`([^`\n]+)`", text):
        if span.startswith(("clusterkit ", "tools/cluster-local.sh ")):
            assert re.fullmatch(r"clusterkit [a-z-]+", span) or span in _page_lines(), \
                f"docs/multinode.md shows `{span}`, which no test runs"


def test_the_page_commands(nodes, tmp_path):
    """In the page's order, each line in a fresh bash that first evaluates the ``env``
    line once the page has shown it (a later line may use a variable an earlier one set,
    as in a shell session); in a fresh directory whose ``tools`` is the repository's, so
    the submitted job's files stay out of the repository. ``down`` last; then the
    session's cluster is built again."""
    (tmp_path / "tools").symlink_to(REPO / "tools")
    base = {**nodes.script_env, "PATH": f"{BIN}:{os.environ['PATH']}",
            "OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"}
    for name in [k for k in base if k == "SLURM_CONF" or k.startswith("OMPI_MCA_")]:
        del base[name]
    shown = []

    def sh(line, show=None, **env):
        prefix = [BUILD[2]] if BUILD[2] in shown else []
        shown.append(line)
        script = "\n".join(prefix + [line] + ([f'printf "%s" "${show}"'] if show else []))
        proc = subprocess.run(["bash", "-c", script], cwd=tmp_path, env={**base, **env},
                              capture_output=True, text=True, timeout=180)
        assert proc.returncode == 0, f"{line}: {proc.stderr[-3000:]}"
        return proc.stdout

    sh(BUILD[0])                                            # running already: a check
    assert sh(BUILD[1]).count(" idle\n") == 3
    assert sh(BUILD[2], show="OMPI_MCA_orte_default_hostfile").endswith("/etc/hostfile")
    assert re.search(r"ckn\[1-3\]", sh(BUILD[3]))
    job_id = sh(SUBMIT[0], show="id")
    assert job_id.isdigit(), job_id
    assert job_id in sh(SUBMIT[1], id=job_id)
    rec = _wait(nodes.env, job_id)
    assert rec["JobState"] == "COMPLETED" and rec["NodeList"] == "ckn[1-3]", rec
    log = sh(SUBMIT[2], id=job_id)
    assert "Number of ranks        = 3" in log and "Solution validates" in log, log
    out = sh(MPIRUN[0])
    assert "Number of ranks        = 3" in out and "Solution validates" in out, out
    assert sorted(sh(MPIRUN[1]).split()) == ["ckn1", "ckn2", "ckn3"]
    sh(DOWN[0])
    left = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert not re.search(r"^ckn\d", left, re.M), left
    sh(DOWN[0])                                             # down twice: nothing to do
    assert nodes.up(3).returncode == 0                      # the session's cluster again
