"""Serial tests of the mpirun command builder and the threads-per-rank policy."""

import os

import pytest

from clusterkit.launch import job_environment, mpirun_command, single_node
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
