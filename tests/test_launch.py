"""Serial tests of the mpirun command builder, the rank-count limits, the threads-per-rank
policy, and the process tree of a launch (its session, its end with the launcher)."""

import os
import subprocess
import sys
import time

import pytest

from clusterkit.errors import InputError
from clusterkit.jobcontrol import kill_session, killed_rank, session_processes, start_mpirun
from clusterkit.launch import (LOCAL_RANKS_PER_CORE, MIN_LOCAL_RANK_LIMIT, REPORT_FD_VARIABLE,
                               allocation_tasks, check_rank_count, job_environment,
                               local_rank_limit, mpirun_command, shell_command,
                               single_node)
from clusterkit.testing import run_command
from clusterkit.threads import threads_per_rank


def test_oversubscribes_only_when_ranks_exceed_cores():
    four = mpirun_command(4, "pkg.job", ["a", "--b"], cores=2, python="py")
    two = mpirun_command(2, "pkg.job", [], cores=2, python="py")
    assert "--oversubscribe" in four and "--oversubscribe" not in two
    assert four[:3] == ["mpirun", "-n", "4"]
    assert four[-5:] == ["py", "-m", "pkg.job", "a", "--b"]


def test_threaded_ranks_are_not_bound_to_one_core():
    one = mpirun_command(1, "pkg.job", cores=8, python="py")
    assert one[one.index("--bind-to") + 1] == "none"
    eight = mpirun_command(8, "pkg.job", cores=8, python="py")
    assert "--bind-to" not in eight  # one thread per rank: keep Open MPI's core binding


def test_ranks_on_other_nodes_keep_the_allocations_placement():
    """With a hostfile or a multi-node allocation, this node's core count says nothing
    about where ranks go: no --oversubscribe / --bind-to none from it."""
    for n in (1, 4, 64):
        argv = mpirun_command(n, "pkg.job", cores=2, python="py", local=False)
        assert "--oversubscribe" not in argv and "--bind-to" not in argv, argv


def test_dry_run_inside_a_multi_node_allocation_or_with_a_hostfile(tmp_path):
    hostfile = tmp_path / "hosts"
    hostfile.write_text("localhost slots=64\n")
    for extra in ({"SLURM_JOB_NUM_NODES": "3", "SLURM_NTASKS": "64"},
                  {"OMPI_MCA_orte_default_hostfile": str(hostfile)}):
        env = dict(os.environ, **extra)
        out = subprocess.run([sys.executable, "-m", "clusterkit.cli.main", "run", "-n", "8",
                              "--dry-run", "demo"], env=env, capture_output=True, text=True,
                             timeout=60)
        assert out.returncode == 0, out.stderr
        assert "--oversubscribe" not in out.stdout and "--bind-to" not in out.stdout, extra
    from clusterkit.threads import available_cores
    more = str(2 * available_cores())
    out = subprocess.run([sys.executable, "-m", "clusterkit.cli.main", "run", "-n", more,
                          "--dry-run", "demo"], capture_output=True, text=True, timeout=60,
                         env={k: v for k, v in os.environ.items()
                              if not k.startswith("SLURM_")})
    assert "--oversubscribe" in out.stdout   # on this node alone, as before


def test_script_target_and_mpich_flags():
    argv = mpirun_command(3, "/x/job.py", ["--k", "1"], flavour="mpich", cores=2,
                          python="py", module=False)
    assert argv == ["mpirun", "-n", "3", "-genvlist", "NUMBA_NUM_THREADS",
                    "py", "/x/job.py", "--k", "1"]


@pytest.mark.parametrize("bad", [0, -1, "2", 1.5, True])
def test_bad_rank_counts_rejected(bad):
    with pytest.raises(ValueError, match="positive integer"):
        mpirun_command(bad, "pkg.job", cores=2)


@pytest.mark.parametrize("ranks, cores, expected", [(1, 2, 2), (2, 2, 1), (4, 2, 1),
                                                    (3, 8, 2), (2, 64, 32)])
def test_threads_are_cores_divided_by_ranks(ranks, cores, expected):
    assert threads_per_rank(ranks, cores=cores, node_cores=cores, env={}) == expected


def test_explicit_settings_win_in_order():
    env = {"SLURM_CPUS_PER_TASK": "4"}
    assert threads_per_rank(2, cores=2, node_cores=2, env=env) == 4
    env["NUMBA_NUM_THREADS"] = "3"
    assert threads_per_rank(2, cores=2, node_cores=2, env=env) == 3


def test_bound_process_uses_its_own_cores():
    # affinity of 2 cores out of 16: the rank was bound by the launcher
    assert threads_per_rank(8, cores=2, node_cores=16, env={}) == 2


@pytest.mark.parametrize("value", ["0", "-2", "many"])
def test_invalid_thread_settings_name_the_variable(value):
    with pytest.raises(ValueError, match="NUMBA_NUM_THREADS must be a positive integer"):
        threads_per_rank(1, env={"NUMBA_NUM_THREADS": value})


def test_job_environment_root_and_threads():
    env = job_environment(4, cores=2, env={"PATH": "/bin"}, euid=0)
    assert env["NUMBA_NUM_THREADS"] == "1"
    assert env["OMPI_ALLOW_RUN_AS_ROOT"] == env["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] == "1"
    user = job_environment(1, cores=2, env={"PATH": "/bin"}, euid=1000)
    assert user["NUMBA_NUM_THREADS"] == "2" and "OMPI_ALLOW_RUN_AS_ROOT" not in user


def test_singleton_mpi_variables_of_the_caller_are_dropped():
    caller = {"PATH": "/bin", "OMPI_MCA_ess": "singleton", "PMIX_RANK": "0",
              "OMPI_MCA_orte_launch": "1", "ORTE_SCHIZO_DETECTION": "ORTE",
              "OMPI_MCA_btl": "self,vader"}
    env = job_environment(2, cores=2, env=caller, euid=1000)
    assert not any(k.startswith(("PMIX_", "ORTE_", "OMPI_MCA_orte", "OMPI_MCA_ess"))
                   for k in env)
    assert env["OMPI_MCA_btl"] == "self,vader"  # a user's own MCA settings stay


def test_single_node_launch_selects_shared_memory_transport():
    env = job_environment(2, cores=2, env={"PATH": "/bin"}, euid=1000)
    assert (env["OMPI_MCA_pml"], env["OMPI_MCA_btl"]) == ("ob1", "self,vader")


@pytest.mark.parametrize("caller", [
    {"OMPI_MCA_pml": "ucx"},                         # the user's choice
    {"OMPI_MCA_btl": "self,tcp"},
    {"OMPI_MCA_mtl": "psm2"},
    {"SLURM_JOB_NUM_NODES": "4"},                    # mpirun may use other nodes
    {"SLURM_NNODES": "2"},
    {"PBS_NODEFILE": "/var/spool/pbs/aux/1"},
    {"OMPI_MCA_orte_default_hostfile": "hosts"},
])
def test_transport_left_alone_when_chosen_or_multi_node(caller):
    env = job_environment(2, cores=2, env=dict(caller, PATH="/bin"), euid=1000)
    for key in ("OMPI_MCA_pml", "OMPI_MCA_btl", "OMPI_MCA_mtl"):
        assert env.get(key) == caller.get(key)



def test_shell_command_names_what_differs_from_the_callers_environment():
    """Added, changed and always-shown variables as NAME=VALUE, removed ones as -u NAME,
    every word quoted for a POSIX shell; the rest of the caller's environment is left out."""
    base = {"PATH": "/bin", "KEEP": "1", "CHANGED": "a", "GONE": "x", "NUMBA_NUM_THREADS": "2"}
    env = {"PATH": "/bin", "KEEP": "1", "CHANGED": "b c", "NEW": "it's",
           "NUMBA_NUM_THREADS": "2"}
    line = shell_command(["mpirun", "-n", "2", "py", "a b"], env, base=base)
    assert line == ("env -u GONE NUMBA_NUM_THREADS=2 'CHANGED=b c' 'NEW=it'\"'\"'s' "
                    "mpirun -n 2 py 'a b'")
    out = subprocess.run(["sh", "-c", line.replace("mpirun -n 2 py 'a b'", "env")], env=base,
                         capture_output=True, text=True, timeout=30).stdout.splitlines()
    shell_own = ("PWD=", "SHLVL=", "_=")
    assert sorted(v for v in out if not v.startswith(shell_own)) == \
        sorted(f"{k}={v}" for k, v in env.items())


def test_single_node_detection():
    assert single_node({}) and single_node({"SLURM_JOB_NUM_NODES": "1"})
    assert not single_node({"SLURM_JOB_NUM_NODES": "3"})
    assert not single_node({"LSB_HOSTS": "a b"})


def test_job_status_prefers_the_launcher_then_the_first_failing_rank(tmp_path):
    from clusterkit.launch import STATUS_VARIABLE, job_status, status_channel
    env = {}
    path = status_channel(env)
    assert env[STATUS_VARIABLE] == path and os.path.isdir(path)
    for rank, code in ((3, "7\n"), (1, "2\n"), (0, "0\n")):
        with open(os.path.join(path, f"status.{rank}"), "w") as f:
            f.write(code)
    open(os.path.join(path, "status.2.tmp"), "w").close()   # an unfinished write: ignored
    assert job_status(path, 0) == 2 and not os.path.exists(path)
    path = status_channel(env)
    with open(os.path.join(path, "status.0"), "w") as f:
        f.write("2\n")
    assert job_status(path, 134) == 134          # an abort or crash wins
    assert job_status(status_channel(env), 0) == 0


# -- the rank-count limits -------------------------------------------------------------
def test_local_rank_limit_is_a_multiple_of_the_cores_with_a_floor():
    assert local_rank_limit(2, {}) == MIN_LOCAL_RANK_LIMIT == 64
    assert local_rank_limit(128, {}) == LOCAL_RANKS_PER_CORE * 128
    assert local_rank_limit(2, {"CLUSTERKIT_MAX_LOCAL_RANKS": " 1000 "}) == 1000


@pytest.mark.parametrize("value", ["0", "-3", "lots", "2.5"])
def test_invalid_local_rank_limit_names_the_variable(value):
    with pytest.raises(InputError, match="CLUSTERKIT_MAX_LOCAL_RANKS must be a positive"):
        local_rank_limit(2, {"CLUSTERKIT_MAX_LOCAL_RANKS": value})


@pytest.mark.parametrize("env, expected", [
    ({}, None),
    ({"SLURM_NTASKS": "8", "SLURM_NPROCS": "9"}, (8, "SLURM_NTASKS=8")),
    ({"SLURM_NPROCS": "9"}, (9, "SLURM_NPROCS=9")),
    ({"SLURM_NTASKS_PER_NODE": "4", "SLURM_NNODES": "3"},
     (12, "SLURM_NTASKS_PER_NODE=4 x SLURM_NNODES=3")),
    ({"SLURM_NTASKS_PER_NODE": "4"}, None),           # nodes unknown: no statement
])
def test_allocation_tasks(env, expected):
    assert allocation_tasks(env) == expected


def test_check_rank_count_rules():
    check_rank_count(64, {}, cores=2)
    with pytest.raises(InputError, match=r"-n 65: at most 64 ranks start on one node .*2 cores"):
        check_rank_count(65, {}, cores=2)
    check_rank_count(10 ** 6, {"PBS_NODEFILE": "/x"}, cores=2)       # other nodes: not counted
    with pytest.raises(InputError, match=r"4 tasks of this Slurm allocation \(SLURM_NTASKS=4\)"):
        check_rank_count(5, {"SLURM_NTASKS": "4", "SLURM_JOB_NUM_NODES": "2"}, cores=2)
    check_rank_count(4, {"SLURM_NTASKS": "4"}, cores=2)


def test_report_mode_sends_open_mpi_messages_to_a_descriptor_not_to_silence():
    quiet = mpirun_command(2, "pkg.job", cores=2, python="py")
    report = mpirun_command(2, "pkg.job", cores=2, python="py", report=True)
    assert "-q" in quiet and "-q" not in report
    assert report[report.index("OPAL_OUTPUT_STDERR_FD=2") - 1] == "-x"   # ranks keep stderr
    # across nodes the report cannot come back through a descriptor: Open MPI's messages
    # must then reach stderr, not be silenced
    assert "-q" not in mpirun_command(2, "pkg.job", cores=2, python="py", local=False)


_DASH = "-" * 74 + "\n"
#: Open MPI 4.1's report of a rank that exited with status 2 (sys.exit(2) after MPI_Init)
_EXIT2 = (_DASH + "Primary job  terminated normally, but 1 process returned\na non-zero exit "
          "code. Per user-direction, the job has been aborted.\n" + _DASH + _DASH +
          "mpirun detected that one or more processes exited with non-zero status, thus "
          "causing\nthe job to be terminated. The first process to do so was:\n\n  Process "
          "name: [[16020,1],0]\n  Exit code:    2\n" + _DASH)
_ABORT = (_DASH + "MPI_ABORT was invoked on rank 1 in communicator MPI_COMM_WORLD\nwith "
          "errorcode 1.\n\nNOTE: invoking MPI_ABORT causes Open MPI to kill all MPI "
          "processes.\n" + _DASH)
_UNREACHABLE = (_DASH + "At least one pair of MPI processes are unable to reach each other "
                "for\nMPI communications.\n" + _DASH + "[vm:1] *** An error occurred in "
                "MPI_Init_thread\n")


def test_only_open_mpis_explanations_are_relayed_not_its_notices():
    from clusterkit.cli.run import _explanation
    assert _explanation(_EXIT2) == "" and _explanation(_ABORT) == ""
    assert _explanation(_EXIT2 + _ABORT) == ""
    relayed = _explanation(_EXIT2 + _UNREACHABLE)
    assert "unable to reach each other" in relayed and "MPI_Init_thread" in relayed
    assert "non-zero" not in relayed


def test_open_mpis_own_explanation_of_a_failed_start_is_shown(tmp_path):
    # only the self transport: the two ranks cannot reach each other, MPI_Init fails, and
    # Open MPI's report is the only account of it (it was dropped: exit 1, no output)
    env = dict(os.environ, OMPI_MCA_btl="self")
    proc = run_command([sys.executable, "-m", "clusterkit.cli.main", "run", "-n", "2",
                        "stencil", "4", "100"], timeout=120, env=env, cwd=tmp_path)
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert lines and lines[-1].startswith(
        "clusterkit run: error: mpirun ended the job with status"), proc.stderr
    # Open MPI's own lines come first: usually its "unable to reach each other" help text,
    # but its help aggregation sometimes loses that text when ranks abort at once
    # ("ORTE_ERROR_LOG: Data unpack had inadequate space ... show_help.c"): what reaches
    # the report is relayed either way
    assert len(lines) > 1 and any("MPI" in line or "ORTE" in line for line in lines[:-1])


def test_killed_rank_reads_open_mpis_report():
    report = ("-" * 74 + "\nPrimary job  terminated normally, but 1 process returned\n"
              "a non-zero exit code. Per user-direction, the job has been aborted.\n"
              + "-" * 74 + "\n" + "-" * 74 + "\nmpirun noticed that process rank 3 with PID 0 "
              "on node vm exited on signal 9 (Killed).\n" + "-" * 74 + "\n")
    assert killed_rank(report) == (3, 9)
    assert killed_rank("MPI_ABORT was invoked on rank 1 in communicator MPI_COMM_WORLD") is None
    assert killed_rank("") is None


# -- the process tree of a launch ------------------------------------------------------
def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0] not in ("Z", "X")
    except OSError:
        return False


def test_session_processes_and_kill_session_cover_process_groups_of_their_own():
    """Open MPI gives each rank a process group of its own inside mpirun's session:
    the session, not the group, finds and ends all of them."""
    code = ("import os, subprocess, sys, time\n"
            "kids = [subprocess.Popen(['sleep', '60'], process_group=0) for _ in range(2)]\n"
            "print(' '.join(str(k.pid) for k in kids), flush=True)\n"
            "time.sleep(60)\n")
    if sys.version_info < (3, 11):
        code = code.replace("process_group=0", "preexec_fn=lambda: os.setpgid(0, 0)")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        kids = [int(p) for p in proc.stdout.readline().split()]
        assert all(os.getpgid(k) == k for k in kids)            # groups of their own
        assert sorted(session_processes(proc.pid)) == sorted([proc.pid] + kids)
        assert sorted(kill_session(proc.pid)) == sorted([proc.pid] + kids)
        assert proc.wait(timeout=10) == -9
        deadline = time.monotonic() + 10
        while any(_alive(k) for k in kids) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not any(_alive(k) for k in kids)
        assert session_processes(proc.pid) == []
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, 9)
            proc.wait()


def test_started_mpirun_dies_with_its_parent_even_of_sigkill():
    code = ("import os, sys, time\n"
            "from clusterkit.jobcontrol import start_mpirun\n"
            "p = start_mpirun(['sleep', '60'], dict(os.environ))\n"
            "print(p.pid, flush=True)\n"
            "time.sleep(60)\n")
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                              start_new_session=True)
    child = int(parent.stdout.readline())
    try:
        assert os.getsid(child) == child != os.getsid(parent.pid)   # a session of its own
        parent.kill()
        parent.wait(timeout=10)
        deadline = time.monotonic() + 10
        while _alive(child) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not _alive(child), "the child outlived its SIGKILLed parent"
    finally:
        if _alive(child):
            os.kill(child, 9)


def test_start_mpirun_hands_the_report_descriptor_over(tmp_path):
    report = tmp_path / "report.txt"
    code = f"import os; os.write(int(os.environ[{REPORT_FD_VARIABLE!r}]), b'from mpirun\\n')"
    proc = start_mpirun([sys.executable, "-c", code], dict(os.environ), report_path=str(report))
    assert proc.wait(timeout=30) == 0
    assert report.read_text() == "from mpirun\n"
