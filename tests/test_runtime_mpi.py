"""MPI tests of communicator resolution, agreed checks and rank-aware printing."""

import pytest

from clusterkit.testing import assert_all

pytestmark = pytest.mark.mpi


def test_comm_none_is_one_lazy_duplicate_of_world():
    from mpi4py import MPI
    from clusterkit.comm import resolve
    a, b = resolve(None), resolve()
    assert_all(a is b, "resolve(None) made a second duplicate")
    assert_all(a != MPI.COMM_WORLD, "resolve(None) returned COMM_WORLD itself")
    assert_all(MPI.Comm.Compare(a, MPI.COMM_WORLD) == MPI.CONGRUENT, "not congruent")


def test_resolve_rejects_non_communicators():
    from clusterkit.comm import resolve
    with pytest.raises(TypeError, match="comm must be an mpi4py.MPI.Intracomm or None"):
        resolve("world")


def test_check_raises_on_every_rank_with_lowest_failing_message(comm):
    from clusterkit.comm import check
    size = comm.Get_size()
    bad = {size - 1, max(0, size - 2)}
    with pytest.raises(ValueError) as info:
        check(comm.Get_rank() not in bad, lambda: f"bad block on {comm.Get_rank()}", comm=comm)
    expected = f"bad block on {min(bad)}" + (f" (on rank {min(bad)})" if size > 1 else "")
    assert_all(str(info.value) == expected, f"got {info.value!r}, expected {expected!r}")
    check(True, "never", comm=comm)  # passes everywhere, no exception


def test_check_custom_exception_type(comm):
    from clusterkit.comm import check
    with pytest.raises(TypeError):
        check(comm.Get_rank() != 0, "dtype", exc_type=TypeError, comm=comm)


def test_any_and_all_ranks(comm):
    from clusterkit.comm import all_ranks, any_rank
    last = comm.Get_rank() == comm.Get_size() - 1
    assert_all(any_rank(last, comm) is True)
    assert_all(all_ranks(last, comm) is (comm.Get_size() == 1))


def test_assert_all_fails_everywhere_naming_ranks(comm):
    with pytest.raises(AssertionError, match=r"failed on rank\(s\) \[0\]"):
        assert_all(comm.Get_rank() != 0, "rank zero disagrees", comm)


def test_rprint_rank0_and_prefixed(comm, capsys):
    from clusterkit.log import rprint
    rprint("hello", comm=comm)
    rprint("a\nb", comm=comm, all_ranks=True)
    out = capsys.readouterr().out
    rank, size = comm.Get_rank(), comm.Get_size()
    expected = ("hello\n" if rank == 0 else "") + \
        f"[rank {rank}/{size}] a\n[rank {rank}/{size}] b\n"
    assert_all(out == expected, f"got {out!r}")


@pytest.mark.parametrize("typecode, value", [("d", 1.5), ("q", 3), ("f", 0.25)])
def test_allreduce_scalar_sums_and_maxes(comm, typecode, value):
    from mpi4py import MPI
    from clusterkit.collectives import allreduce_scalar
    size, rank = comm.Get_size(), comm.Get_rank()
    total = allreduce_scalar(value * (rank + 1), MPI.SUM, comm, typecode)
    assert_all(total == value * size * (size + 1) / 2, f"sum {total}", comm)
    assert_all(allreduce_scalar(rank, MPI.MAX, comm, typecode) == size - 1, "max", comm)


def test_logger_emits_on_rank0_only_with_the_rank(comm, capsys):
    from clusterkit.log import get_logger
    log = get_logger(f"clusterkit.test{comm.Get_size()}", comm=comm)
    log.info("hello %d", 7)
    err = capsys.readouterr().err
    rank, size = comm.Get_rank(), comm.Get_size()
    expected = f"[rank 0/{size}] INFO clusterkit.test{size}: hello 7\n" if rank == 0 else ""
    assert_all(err == expected, f"got {err!r}", comm)
