"""The PRK stencil job: launched on 1-4 ranks, in-process against a NumPy twin, bad input."""

import re
import subprocess
import sys

import numpy as np
import pytest

from clusterkit.testing import run_mpi

JOB = "clusterkit.jobs.stencil"
RATE = re.compile(r"^Rate \(MFlops/s\): (\d+\.\d{6})  Avg time \(s\): (\d+\.\d{6})$")


def prk_twin(iterations, n, pattern, radius):
    """PRK's stencil on the whole grid in NumPy: B after ``iterations + 1`` iterations."""
    from clusterkit.kernels import stencil_weights
    w = stencil_weights(radius, pattern)
    r = radius
    i, j = np.indices((n, n), dtype=np.float64)
    a = i + j
    b = np.zeros((n, n))
    for _ in range(iterations + 1):
        for di, dj in zip(*np.nonzero(w)):
            b[r:n - r, r:n - r] += w[di, dj] * a[di:n - 2 * r + di, dj:n - 2 * r + dj]
        a += 1.0
    return b


# -- launched with mpirun (serial tests) ----------------------------------------------

@pytest.mark.parametrize("nranks, pattern, radius, n", [
    (1, "box", 3, 13),
    (2, "star", 2, 5),    # n = 2r + 1 split in two: one rank has no active point
    (3, "box", 1, 3),     # n = 2r + 1, one row per rank
    (4, "star", 3, 23),   # a prime on a 2x2 process grid
])
def test_stencil_validates_and_prints_prk_lines(nranks, pattern, radius, n):
    res = run_mpi(nranks, JOB, ["4", str(n), pattern, str(radius)], timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stderr == ""
    lines = res.stdout.splitlines()
    assert lines.count("Solution validates") == 1, res.stdout
    rates = [m for m in map(RATE.match, lines) if m]
    assert len(rates) == 1, res.stdout
    assert float(rates[0].group(1)) > 0 and float(rates[0].group(2)) > 0
    assert f"Number of ranks        = {nranks}" in lines
    assert f"Type of stencil        = {pattern}" in lines
    assert f"Radius of stencil      = {radius}" in lines


def test_clusterkit_run_defaults_to_star_radius_2_and_rate_is_prk_flops_over_time():
    proc = subprocess.run([sys.executable, "-m", "clusterkit.cli.main", "run", "-n", "2",
                           "stencil", "3", "600"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert "Type of stencil        = star" in lines and "Radius of stencil      = 2" in lines
    assert "Solution validates" in lines
    rate, avg = (float(x) for x in next(m for m in map(RATE.match, lines) if m).groups())
    flops = (2 * 9 + 1) * (600 - 4) ** 2  # star r=2: 9 points; (n - 2r)^2 active points
    assert avg >= 1e-4, proc.stdout  # enough printed digits for the check below
    assert rate == pytest.approx(1e-6 * flops / avg, rel=0.02)


@pytest.mark.parametrize("nranks, args, needle", [
    (2, ["0", "10"], "ITERATIONS must be >= 1, got 0"),
    (5, ["5", "3", "star", "1"], "cannot split the 3x3 grid over 5 ranks"),
    (3, ["5", "5", "star", "2"], "tiles only 1 cell wide, narrower than RADIUS=2"),
])
def test_bad_input_is_one_line_exit_2(nranks, args, needle):
    # every message is checked in-process below; these launches check the whole path
    res = run_mpi(nranks, JOB, args, timeout=60)
    assert res.returncode == 2, res.stdout + res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("stencil: error: ") and needle in lines[0], lines[0]
    assert "Solution validates" not in res.stdout


# -- in-process under mpirun -n 1..4 (MPI tests) --------------------------------------

@pytest.mark.mpi
@pytest.mark.parametrize("args, nranks, needle", [
    ((0, 10, "star", 2), 1, "ITERATIONS must be >= 1, got 0"),
    ((-3, 10, "star", 2), 1, "ITERATIONS must be >= 1, got -3"),
    ((5, 10, "star", 0), 1, "RADIUS must be >= 1, got 0"),
    ((5, 10, "box", -1), 1, "RADIUS must be >= 1, got -1"),
    ((5, 4, "star", 2), 1, "grid size 4 is smaller than 2*RADIUS+1 = 5"),
    ((5, 6, "box", 3), 1, "grid size 6 is smaller than 2*RADIUS+1 = 7"),
    ((5, 10, "diamond", 2), 1, "unknown stencil pattern 'diamond'; valid patterns: star, box"),
    ((5, 10, "STAR", 2), 1, "unknown stencil pattern 'STAR'"),
    ((5, 3, "star", 1), 5, "cannot split the 3x3 grid over 5 ranks"),
    ((5, 4, "star", 1), 17, "cannot split the 4x4 grid over 17 ranks"),
    ((5, 5, "star", 2), 3, "the 5x5 grid split 3x1 over 3 ranks has tiles only 1 cell wide, "
                           "narrower than RADIUS=2"),
    ((5, 7, "box", 3), 3, "tiles only 2 cells wide, narrower than RADIUS=3"),
])
def test_argument_checks_name_the_problem(args, nranks, needle):
    from clusterkit.jobs.stencil import check_arguments
    with pytest.raises(ValueError) as info:
        check_arguments(*args, nranks)
    assert needle in str(info.value)


@pytest.mark.mpi
@pytest.mark.parametrize("n, nranks, dims", [(3, 1, (1, 1)), (3, 3, (3, 1)), (3, 4, (2, 2)),
                                             (7, 4, (2, 2)), (3, 9, (3, 3))])
def test_argument_checks_accept_tight_fits(n, nranks, dims):
    from clusterkit.jobs.stencil import check_arguments
    assert check_arguments(1, n, "box", 1, nranks) == dims


CASES = [(p, r, n) for p in ("star", "box") for r in (1, 2, 3)
         for n in sorted({2 * r + 1, 2 * r + 2, 13, 19})]


@pytest.mark.mpi
@pytest.mark.parametrize("pattern, radius, n", CASES)
def test_distributed_b_matches_numpy_prk_twin(comm, pattern, radius, n):
    from clusterkit.jobs.stencil import check_arguments, reference_norm, run_stencil
    from clusterkit.testing import assert_all, assert_allclose_all
    try:
        check_arguments(3, n, pattern, radius, comm.Get_size())
    except ValueError:  # this grid cannot be split this way: the job must refuse it everywhere
        with pytest.raises(ValueError, match="narrower than RADIUS|cannot split"):
            run_stencil(3, n, pattern, radius, comm=comm)
        return
    b, norm, seconds, _ = run_stencil(3, n, pattern, radius, comm=comm)
    full = b.allgather()
    want = prk_twin(3, n, pattern, radius)
    assert_allclose_all(full, want, rtol=1e-13, atol=1e-11, comm=comm)
    r = radius
    edge = np.ones((n, n), bool)
    edge[r:n - r, r:n - r] = False
    assert_all(not full[edge].any(), "B changed within RADIUS of the global edge", comm=comm)
    assert_all(abs(norm - reference_norm(3)) < 1e-8, f"norm {norm}", comm=comm)
    assert_all(seconds > 0.0, "no time measured", comm=comm)


@pytest.mark.mpi
def test_a_kernel_off_by_1e_6_fails_validation_on_every_rank(comm, capsys, monkeypatch):
    import clusterkit.jobs.stencil as job
    from clusterkit.kernels import star_stencil
    from clusterkit.testing import assert_all

    def slightly_wrong(a, w, radius, out, **kw):
        star_stencil(a, w, radius, out)
        out[radius:-radius, radius:-radius] += 1e-6

    def unchecked_slightly_wrong(pattern, radius, parallel=False):
        return lambda a, w, out: slightly_wrong(a, w, radius, out)

    # the first iteration calls the checked kernel, the others the unchecked one
    monkeypatch.setitem(job._KERNELS, "star", slightly_wrong)
    monkeypatch.setattr(job, "unchecked_stencil", unchecked_slightly_wrong)
    monkeypatch.setattr(job, "warmup", lambda kernel, *args: 0.0)  # a lambda: nothing to warm
    status = job.main(["2", "12", "star", "1"], comm=comm)
    out = capsys.readouterr().out
    assert_all(status == 1, f"status {status}", comm=comm)
    ok = comm.Get_rank() != 0 or (
        "Solution validates" not in out and
        re.search(r"^ERROR: L1 norm = 6\.000003, Reference L1 norm = 6\.000000$", out, re.M))
    assert_all(ok, f"rank 0 printed {out!r}", comm=comm)
