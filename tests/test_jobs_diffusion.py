"""The lat-lon diffusion job on 1-4 ranks against a serial NumPy twin of the same scheme."""

import re
import subprocess
import sys

import numpy as np
import pytest

from clusterkit.testing import run_mpi

JOB = "clusterkit.jobs.diffusion"
DIAG = re.compile(r"^step +(\d+)  mean (\S+)  min (\S+)  max (\S+)$")


# -- the NumPy twin, written from the job's documented definition --------------------

def twin_grid(ny, nx):
    """Coordinates and metric: node-centred latitudes with both poles, polar caps."""
    lat = -90.0 + np.arange(ny) * (180.0 / (ny - 1))
    lon = np.arange(nx) * (360.0 / nx)
    dphi, dlam = np.pi / (ny - 1), 2.0 * np.pi / nx
    phi_faces = np.deg2rad(np.concatenate([[-90.0], (lat[:-1] + lat[1:]) / 2, [90.0]]))
    cos_faces = np.cos(phi_faces)
    cos_faces[[0, -1]] = 0.0  # no flux through a pole
    area = (np.sin(phi_faces[1:]) - np.sin(phi_faces[:-1])) / dphi
    return lat, lon, dphi, dlam, area, cos_faces[:-1], cos_faces[1:]


def twin_initial(lat, lon):
    phi, lam = np.deg2rad(lat)[:, None], np.deg2rad(lon)[None, :]
    p0, l0 = np.deg2rad(40.0), np.deg2rad(60.0)
    d = np.arccos(np.clip(np.sin(phi) * np.sin(p0) + np.cos(phi) * np.cos(p0) * np.cos(lam - l0),
                          -1.0, 1.0))
    return (250.0 + 40.0 * np.cos(phi) ** 2 + 5.0 * np.cos(phi) * np.sin(2.0 * lam)
            + 30.0 * np.exp(-(d / np.deg2rad(10.0)) ** 2))


def twin_run(ny, nx, steps, fraction=0.9, every=0):
    """The whole scheme in NumPy; returns the final field and the diagnostics per step."""
    lat, lon, dphi, dlam, c, cb, ca = twin_grid(ny, nx)
    limit = np.min(1.0 / ((cb + ca) / (dphi * dphi * c) + 2.0 / (dlam * dlam * c * c)))
    kdt = fraction * limit
    a_b = (kdt * cb * (1.0 / dphi ** 2) / c)[:, None]
    a_a = (kdt * ca * (1.0 / dphi ** 2) / c)[:, None]
    a_x = (kdt * (1.0 / dlam ** 2) / (c * c))[:, None]
    u = twin_initial(lat, lon)
    zero = np.zeros((1, nx))

    def diag(u):
        return (np.sum(u * c[:, None]) / (np.sum(c) * nx), u.min(), u.max())

    diags = {0: diag(u)}
    for step in range(1, steps + 1):
        before = np.vstack([zero, u[:-1]])  # the ghost row past a pole is never used (cos 0)
        after = np.vstack([u[1:], zero])
        west, east = np.roll(u, 1, axis=1), np.roll(u, -1, axis=1)
        u = u + ((a_a * (after - u) - a_b * (u - before))
                 + a_x * ((east - u) - (u - west)))
        if step == steps or (every and step % every == 0):
            diags[step] = diag(u)
    return u, diags


def launch(nranks, shape, steps, tmp_path, extra=()):
    path = tmp_path / "u.npy"
    res = run_mpi(nranks, JOB, ["--shape", f"{shape[0]},{shape[1]}", "--steps", str(steps),
                                "--dump-npy", str(path), *extra], timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr
    return res, np.load(path)


# -- launched with mpirun (serial tests) ----------------------------------------------

@pytest.mark.parametrize("nranks, shape", [
    (1, (19, 36)),
    (2, (19, 36)),   # 1x2: both longitude neighbours are the same rank
    (3, (37, 12)),   # 3x1: latitude split, the poles on different ranks
    (4, (19, 36)),   # 2x2
])
def test_final_field_matches_numpy_twin_to_round_off(nranks, shape, tmp_path):
    steps = 30
    res, u = launch(nranks, shape, steps, tmp_path, ["--every", "10"])
    want, diags = twin_run(*shape, steps, every=10)
    assert u.shape == shape
    err = float(np.max(np.abs(u - want)))
    assert err <= 1e-12, err
    # the comparison can fail: one step fewer is far outside the tolerance
    fewer, _ = twin_run(*shape, steps - 1)
    assert np.max(np.abs(u - fewer)) > 1e-6
    # the diagnostics: steps 0, 10, 20, 30, printed once, matching the twin
    got = [m.groups() for m in map(DIAG.match, res.stdout.splitlines()) if m]
    assert [int(g[0]) for g in got] == [0, 10, 20, 30], res.stdout
    for step, mean, lo, hi in got:
        m, lo_w, hi_w = diags[int(step)]
        assert float(mean) == pytest.approx(m, abs=2e-12)
        assert float(lo) == pytest.approx(lo_w, abs=2e-9)
        assert float(hi) == pytest.approx(hi_w, abs=2e-9)
    assert float(got[0][1]) == pytest.approx(float(got[-1][1]), abs=1e-11)  # conserved
    assert f"diffusion: {nranks} ranks" in res.stdout
    assert re.search(r"^timing: 29 steps after the first in \S+ s, \S+ ms/step", res.stdout,
                     re.M), res.stdout
    assert res.stderr == ""


def test_clusterkit_run_knows_the_job_and_kappa_scales_the_step(tmp_path):
    # 1x3 process grid, uneven blocks, periodic wrap between ranks 0 and 2
    path = tmp_path / "half.npy"
    proc = subprocess.run([sys.executable, "-m", "clusterkit.cli.main", "run", "-n", "3",
                           "diffusion", "--shape", "23,37", "--steps", "7", "--kappa", "0.5",
                           "--every", "0", "--dump-npy", str(path)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "process grid 1x3" in proc.stdout
    steps = [int(m.group(1)) for m in map(DIAG.match, proc.stdout.splitlines()) if m]
    assert steps == [0, 7]
    want, _ = twin_run(23, 37, 7, fraction=0.5)
    assert np.max(np.abs(np.load(path) - want)) <= 1e-12
    assert np.max(np.abs(np.load(path) - twin_run(23, 37, 7, fraction=0.9)[0])) > 1e-6
    assert not list(tmp_path.glob("*.tmp*"))  # the temporary file was renamed


@pytest.mark.parametrize("nranks, args, needle", [
    (2, ["--shape", "2,10"], "--shape must be two integers NY,NX"),
    (5, ["--shape", "3,4"], "--shape 3,4 cannot be split over 5 ranks"),
])
def test_bad_input_is_one_line_exit_2(nranks, args, needle, tmp_path):
    # every message is checked in-process below; these launches check the whole path
    res = run_mpi(nranks, JOB, args + ["--dump-npy", str(tmp_path / "u.npy")], timeout=60)
    assert res.returncode == 2, res.stdout + res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("diffusion: error: ") and needle in lines[0], lines[0]
    assert res.stdout == "" and not list(tmp_path.iterdir())  # no partial output


def test_dump_into_a_missing_folder_is_refused_before_any_work(tmp_path):
    res = run_mpi(2, JOB, ["--shape", "5,8", "--dump-npy", str(tmp_path / "no" / "u.npy")],
                  timeout=60)
    assert res.returncode == 2, res.stdout + res.stderr
    assert res.stderr.strip().splitlines() == [
        f"diffusion: error: --dump-npy: folder {str(tmp_path / 'no')!r} does not exist "
        f"(on rank 0)"]


def test_help_documents_the_options():
    res = run_mpi(1, JOB, ["--help"], timeout=60)
    assert res.returncode == 0
    for option in ("--shape", "--steps", "--every", "--kappa", "--dump-npy"):
        assert option in res.stdout


# -- in-process under mpirun -n 1..4 (MPI tests) --------------------------------------

@pytest.mark.mpi
@pytest.mark.parametrize("options, nranks, needle", [
    (("2,10", 1, 1, 0.9), 1, "--shape must be two integers NY,NX (latitudes incl. both poles, "
                             "longitudes), each >= 3, got '2,10'"),
    (("10", 1, 1, 0.9), 1, "--shape must be two integers"),
    (("10,x", 1, 1, 0.9), 1, "--shape must be two integers"),
    (("10,20,30", 1, 1, 0.9), 1, "--shape must be two integers"),
    (("10,20", 0, 1, 0.9), 1, "--steps must be >= 1, got 0"),
    (("10,20", 5, -1, 0.9), 1, "--every must be >= 0"),
    (("10,20", 5, 1, 0.0), 1, "--kappa must satisfy 0 < F <= 1"),
    (("10,20", 5, 1, 1.5), 1, "--kappa must satisfy 0 < F <= 1"),
    (("10,20", 5, 1, float("nan")), 1, "--kappa must satisfy 0 < F <= 1"),
    (("3,4", 5, 1, 0.9), 5, "--shape 3,4 cannot be split over 5 ranks"),
])
def test_option_checks_name_the_problem(options, nranks, needle):
    from clusterkit.jobs.diffusion import check_options
    with pytest.raises(ValueError) as info:
        check_options(*options, nranks)
    assert needle in str(info.value)


@pytest.mark.mpi
def test_metric_matches_the_twin_and_the_kernel_limit():
    from clusterkit.jobs.diffusion import initial_field, latitudes, longitudes, metric
    from clusterkit.kernels import diffusion_kappa_dt_limit
    lat, lon, dphi, dlam, c, cb, ca = twin_grid(721, 1440)
    np.testing.assert_allclose(latitudes(721), lat, rtol=0, atol=1e-12)
    np.testing.assert_allclose(longitudes(1440), lon, rtol=0, atol=1e-12)
    got = metric(721, 1440)
    assert got[0] == pytest.approx(dphi, rel=1e-15) and got[1] == pytest.approx(dlam, rel=1e-15)
    for g, w in zip(got[2:], (c, cb, ca)):
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-15)
    assert got[3][0] == 0.0 and got[4][-1] == 0.0  # no flux through the poles
    np.testing.assert_allclose(np.sum(got[2]) * dphi, 2.0, rtol=1e-12)  # sphere area / 2 pi
    np.testing.assert_allclose(initial_field(lat, lon), twin_initial(lat, lon), rtol=1e-14)
    # the pole rows are single points: the initial field is constant along them
    u0 = initial_field(lat[[0, -1]], lon)
    assert np.ptp(u0, axis=1).max() < 1e-9
    assert diffusion_kappa_dt_limit(*got) > 0


def test_output_file_holds_the_final_field_with_coordinates(tmp_path):
    import xarray as xr
    out, npy = tmp_path / "u.nc", tmp_path / "u.npy"
    res = run_mpi(3, "clusterkit.jobs.diffusion", ["--shape", "19,24", "--steps", "7",
                                                   "--output", str(out), "--dump-npy",
                                                   str(npy)], timeout=60)
    assert res.returncode == 0, res.stderr
    ds = xr.open_dataset(out, engine="h5netcdf")
    np.testing.assert_array_equal(ds["u"].values, np.load(npy))
    assert ds["lat"].attrs["units"] == "degrees_north" and ds["lat"].values[0] == -90.0
    assert ds["lon"].size == 24
    again = run_mpi(2, "clusterkit.jobs.diffusion", ["--shape", "19,24", "--steps", "1",
                                                     "--output", str(out)], timeout=60)
    assert again.returncode == 2 and "exists; pass --overwrite" in again.stderr
