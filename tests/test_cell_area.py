"""climate-stats --weights area: the global mean weighted by cell area, from a cell-measure
variable (in the input or an --area file), coordinate bounds, or cell centres; against
CDO's fldmean and an xarray weighted reference at 1, 2 and 4 ranks; bad input."""

import os
import shutil
import subprocess

import numpy as np
import pytest

from clusterkit.kernels.cellarea import (EARTH_RADIUS, bounds_from_centres,
                                         lat_lon_cell_areas)
from clusterkit.testing import run_mpi
from ncfiles import write_area_file, write_grid_file, write_ocean_levels

xr = pytest.importorskip("xarray")
needs_cdo = pytest.mark.skipif(not shutil.which("cdo"), reason="CDO not installed "
                               "(bash benchmarks/setup-baselines.sh installs it)")


def gaussian_latitudes(n):
    """Gauss-Legendre latitudes (descending, irregular) and their bounds: the bounds'
    sines are the cumulated quadrature weights, as for a Gaussian grid."""
    nodes, weights = np.polynomial.legendre.leggauss(n)
    edges = np.clip(np.concatenate([[-1.0], -1.0 + np.cumsum(weights)]), -1, 1)
    lat = np.rad2deg(np.arcsin(nodes))[::-1]
    b = np.rad2deg(np.arcsin(edges))[::-1]
    return lat, np.stack([b[:-1], b[1:]], axis=1)


def with_bounds(lat, lon):
    """The coordinates' bounds as keyword arguments of write_grid_file."""
    return {"lat_bounds": bounds_from_centres(lat, clip=90.0),
            "lon_bounds": bounds_from_centres(lon)}


# files with bounds, awkward for the decomposition and the geometry (prime sizes,
# descending and irregular latitudes, both longitude conventions, missing values); fine
# enough (~0.5°) that CDO's great-circle cell edges change the mean by < 2e-7
def _case_prime_0_360(path):
    lat = np.linspace(-90, 90, 359)           # rows centred on the poles: half cells
    lon = (np.arange(719) + 0.5) * 360 / 719
    write_grid_file(path, lat, lon, **with_bounds(lat, lon), nan_fraction=0.2)


def _case_gaussian_desc_180(path):
    lat, lat_b = gaussian_latitudes(317)
    lon = np.arange(641) * 360 / 641 - 180
    write_grid_file(path, lat, lon, lat_bounds=lat_b, lon_bounds=bounds_from_centres(lon),
                    nan_fraction=0.05, levels=2, seed=1)


BOUNDED = {"prime-0-360-nan": _case_prime_0_360, "gaussian-desc-180-levels":
           _case_gaussian_desc_180}


def _case_centres(path):
    lat = np.linspace(90, -90, 347)
    lon = np.arange(701) * 360 / 701 - 180
    write_grid_file(path, lat, lon, nan_fraction=0.1, seed=2)


def _case_measure_coarse(path):
    """A coarse prime grid with an area variable in the file: CDO uses it too, so the
    agreement holds at any resolution."""
    lat, lon = np.linspace(80, -80, 7), np.arange(11) * 360 / 11
    area = np.random.default_rng(5).uniform(1e10, 5e10, (7, 11))
    write_grid_file(path, lat, lon, area=area, nan_fraction=0.2, seed=3)


def stats(tmp_path, src, nranks, extra=(), name="out.nc"):
    out = str(tmp_path / name)
    res = run_mpi(nranks, "clusterkit.jobs.climate_stats",
                  [src, out, "--weights", "area", "--chunk-mb", "0.5", *extra], timeout=180)
    assert res.returncode == 0, res.stderr
    return out, res.stdout


def global_mean(path):
    with xr.open_dataset(path, engine="h5netcdf") as ds:
        return ds["global_mean"].load()


@needs_cdo
@pytest.mark.parametrize("case", list(BOUNDED) + ["centres", "cell-measure-coarse"])
@pytest.mark.parametrize("nranks", [1, 2, 4])
def test_agrees_with_cdo_fldmean(tmp_path, case, nranks):
    """CDO's fldmean weights by cell area (great-circle cell edges between the bounds'
    corners, or the area variable of cell_measures): 1e-6 relative, the issue's goal."""
    make = {**BOUNDED, "centres": _case_centres, "cell-measure-coarse": _case_measure_coarse}
    src = str(tmp_path / f"{case}.nc")
    make[case](src)
    out, stdout = stats(tmp_path, src, nranks)
    dst = str(tmp_path / "fldmean.nc")
    subprocess.run(["cdo", "-s", "-O", "fldmean", src, dst], check=True, timeout=120)
    with xr.open_dataset(dst, engine="h5netcdf") as d:
        want = np.squeeze(d["tas"].values).astype(np.float64)
    got = np.squeeze(global_mean(out).values)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=0)
    with xr.open_dataset(src, engine="h5netcdf") as d:   # cos(lat) weights are further off
        x = d["tas"].astype(np.float64)
        coslat = np.squeeze(x.weighted(np.cos(np.deg2rad(d["lat"]))).mean(("lat", "lon")))
    assert np.abs(got / want - 1).max() < 0.5 * np.abs(coslat.values / want - 1).max()
    source = {"centres": "bounds derived from the cell centres",
              "cell-measure-coarse": "areacella"}.get(case, "lat_bnds and lon_bnds")
    assert f"weights: cell area from {source})" in stdout


def exact_areas(lat_b, lon_b):
    """R²·|Δ sin φ|·|Δλ|, written out here independently of clusterkit."""
    rows = np.abs(np.diff(np.sin(np.deg2rad(lat_b)), axis=1))[:, 0]
    cols = np.deg2rad(np.abs(np.diff(lon_b, axis=1)))[:, 0]
    return np.outer(rows, cols)


def weighted_reference(src, area):
    """``x.weighted(area).mean(("lat", "lon"))`` with xarray."""
    with xr.open_dataset(src, engine="h5netcdf") as ds:
        x = ds["tas"].astype(np.float64).load()
    w = xr.DataArray(area, dims=("lat", "lon"))
    return x.weighted(w).mean(("lat", "lon")).values


@pytest.mark.parametrize("source", ["area-file-transposed", "area-in-file", "bounds",
                                    "centres"])
@pytest.mark.parametrize("nranks", [1, 2, 4])
def test_matches_xarray_weighted_mean(tmp_path, source, nranks):
    """Every source against xarray's weighted mean, to float64 rounding, on a small
    prime grid with descending latitudes, −180..180 longitudes and missing values."""
    lat, lon = np.linspace(84, -84, 13), np.arange(17) * 360 / 17 - 180
    lat_b, lon_b = bounds_from_centres(lat, 90.0), bounds_from_centres(lon)
    area = np.random.default_rng(9).uniform(1, 3, (13, 17))
    src, extra = str(tmp_path / "in.nc"), []
    if source == "area-file-transposed":      # CMIP's separate file, stored (lon, lat)
        write_grid_file(src, lat, lon, cell_measures="area: areacella", nan_fraction=0.3,
                        levels=2)
        extra = ["--area", str(tmp_path / "areacella.nc")]
        write_area_file(extra[1], lat, lon, area.T, dims=("lon", "lat"))
        want = area
    elif source == "area-in-file":
        write_grid_file(src, lat, lon, area=area, nan_fraction=0.3, levels=2)
        want = area
    elif source == "bounds":                  # uneven bounds, not the centres' midpoints
        lat_b = lat_b + np.linspace(-1, 1, 13)[:, None] * [[0, 1]] * (np.abs(lat_b) < 90)
        write_grid_file(src, lat, lon, lat_bounds=lat_b, lon_bounds=lon_b,
                        nan_fraction=0.3, levels=2)
        want = exact_areas(lat_b, lon_b)
    else:
        write_grid_file(src, lat, lon, nan_fraction=0.3, levels=2)
        want = exact_areas(lat_b, lon_b)
    out, _ = stats(tmp_path, src, nranks, extra)
    got = global_mean(out)
    np.testing.assert_allclose(got.values, weighted_reference(src, want), rtol=1e-12)
    label = {"area-file-transposed": f"areacella in {extra[1] if extra else ''}",
             "area-in-file": "areacella", "bounds": "lat_bnds and lon_bnds",
             "centres": "bounds derived from the cell centres"}[source]
    assert got.attrs["cell_methods"] == f"area: mean (weights: cell area from {label})"
    assert got.attrs["weights"] == f"cell area from {label}"


@pytest.mark.parametrize("nranks", [2, 4])
def test_missing_areas_over_land_get_weight_0_with_one_warning(tmp_path, nranks):
    """areacello with _FillValue over land (as some CMIP ocean area files), its mask not
    quite the data's (some ocean cells without area), on (time, lev, j, i): a cell without
    an area contributes nothing, as xarray's ``x.weighted(area.fillna(0))``; one warning
    line on rank 0 counts them (once, though 4 ranks share blocks across levels)."""
    src = write_ocean_levels(str(tmp_path / "thetao.nc"), levels=2)
    out = str(tmp_path / "out.nc")
    res = run_mpi(nranks, "clusterkit.jobs.climate_stats",
                  [src, out, "--weights", "area", "--chunk-mb", "0.002"], timeout=180)
    assert res.returncode == 0, res.stderr
    with xr.open_dataset(src, engine="h5netcdf") as ds:
        x, area = ds["thetao"].astype(np.float64).load(), ds["areacello"].load()
    want = x.weighted(area.astype(np.float64).fillna(0)).mean(("j", "i"))
    np.testing.assert_allclose(global_mean(out).values, want.values, rtol=1e-12)
    missing = int(area.isnull().sum())
    warnings = [line for line in res.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 1, res.stderr
    assert f"no area for {missing} of {area.size} cells" in warnings[0], warnings[0]
    assert "weight 0" in warnings[0], warnings[0]


def test_default_is_cos_latitude_and_says_so(tmp_path):
    """Without --weights (or with coslat) the global mean stays cos(latitude) weighted,
    even when the file has an area variable and bounds."""
    lat, lon = np.linspace(80, -80, 9), np.arange(10) * 36.0
    src = str(tmp_path / "in.nc")
    write_grid_file(src, lat, lon, **with_bounds(lat, lon), area=np.ones((9, 10)))
    outs = []
    for extra in ([], ["--weights", "coslat"]):
        out = str(tmp_path / f"o{len(extra)}.nc")
        res = run_mpi(2, "clusterkit.jobs.climate_stats", [src, out, *extra], timeout=120)
        assert res.returncode == 0, res.stderr
        assert "weights:" not in res.stdout
        outs.append(global_mean(out))
    np.testing.assert_array_equal(outs[0].values, outs[1].values)
    assert outs[0].attrs["cell_methods"] == "area: mean (weights: cos(latitude))"
    assert "weights" not in outs[0].attrs
    np.testing.assert_allclose(outs[0].values, weighted_reference(
        src, np.broadcast_to(np.cos(np.deg2rad(lat))[:, None], (9, 10))), rtol=1e-12)


def test_lat_lon_cell_areas_are_exact():
    """A global grid covers the sphere; a cell across the seam is the short way round;
    bounds in either order; one cell spanning the circle."""
    lat_b, lon_b = bounds_from_centres(np.linspace(-89, 89, 90), 90.0), \
        bounds_from_centres(np.arange(0, 360, 2.5) + 1.25)
    a = lat_lon_cell_areas(lat_b, lon_b)
    assert a.shape == (90, 144)
    np.testing.assert_allclose(a.sum(), 4 * np.pi * EARTH_RADIUS ** 2, rtol=1e-13)
    seam = lat_lon_cell_areas([[0, 30]], [[350, 10], [10, 350], [-10, 10]], radius=1)
    np.testing.assert_allclose(seam, 0.5 * np.deg2rad(20), rtol=1e-14)
    whole = lat_lon_cell_areas([[90, -90]], [[0, 360]], radius=1)
    np.testing.assert_allclose(whole, 4 * np.pi, rtol=1e-14)


def test_bounds_from_centres_as_cdo():
    """Midpoints; outer bounds half a spacing out; latitudes clipped at ±90."""
    np.testing.assert_allclose(bounds_from_centres([80, 50, 20, 10], 90.0),
                               [[90, 65], [65, 35], [35, 15], [15, 5]])
    np.testing.assert_allclose(bounds_from_centres([0, 90, 200]),
                               [[-45, 45], [45, 145], [145, 255]])


def _great_circle_areas(lat_b, lon_b):
    """Areas of the spherical quadrilaterals with great-circle edges between the four
    corners of each cell (unit sphere): two triangles' solid angles."""
    la0, lo0 = np.meshgrid(np.deg2rad(lat_b[:, 0]), np.deg2rad(lon_b[:, 0]), indexing="ij")
    la1, lo1 = np.meshgrid(np.deg2rad(lat_b[:, 1]), np.deg2rad(lon_b[:, 1]), indexing="ij")

    def xyz(la, lo):
        return np.stack([np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)], -1)

    def solid(a, b, c):
        num = np.abs(np.einsum("...i,...i", a, np.cross(b, c)))
        den = 1 + (a * b).sum(-1) + (b * c).sum(-1) + (c * a).sum(-1)
        return 2 * np.arctan2(num, den)

    p = [xyz(la0, lo0), xyz(la0, lo1), xyz(la1, lo1), xyz(la1, lo0)]
    return solid(p[0], p[1], p[2]) + solid(p[0], p[2], p[3])


@needs_cdo
def test_cdo_areas_are_great_circle_cells_of_the_bounds_we_derive(tmp_path):
    """What CDO 2.1 does, pinned: ``cdo gridarea`` of a file without bounds is the
    great-circle quadrilateral of the bounds :func:`bounds_from_centres` derives (so our
    derivation is CDO's); with bounds, of those bounds. Its cells differ from the exact
    parallel/meridian cells by O(spacing²): 5% on a 7×11 grid, 5e-5 at 1°, which is why
    the fldmean agreement above is checked at ~0.5° (and exactly where the file has an
    area variable, which CDO uses)."""
    lat = np.array([-80, -50, -20, 5, 30, 55, 85.0])
    lon = np.array([3.0, 40, 70, 100, 170, 200, 260, 300, 330])
    for bounds in (False, True):
        src, dst = str(tmp_path / f"b{bounds}.nc"), str(tmp_path / f"a{bounds}.nc")
        lat_b = bounds_from_centres(lat, 90.0) + (3.0 * bounds) * (np.abs(
            bounds_from_centres(lat, 90.0)) < 90)
        lon_b = bounds_from_centres(lon)
        write_grid_file(src, lat, lon, nt=1, **({"lat_bounds": lat_b, "lon_bounds": lon_b}
                                                if bounds else {}))
        subprocess.run(["cdo", "-s", "-O", "gridarea", src, dst], check=True, timeout=60)
        with xr.open_dataset(dst, engine="h5netcdf") as d:
            cdo = d["cell_area"].values / EARTH_RADIUS ** 2
        np.testing.assert_allclose(cdo, _great_circle_areas(lat_b, lon_b), rtol=1e-12)
        exact = lat_lon_cell_areas(lat_b, lon_b, radius=1.0)
        assert np.abs(cdo / exact - 1).max() > 1e-2


BAD_CASES = [
    ("missing-area-file", "does not exist"),
    ("area-file-other-shape", "must be on the same grid"),
    ("area-file-other-coordinates", "coordinate 'lat' differs"),
    ("measure-in-neither-file", "give the file that does with --area FILE"),
    ("measure-not-in-area-file", "neither the input nor --area"),
    ("negative-area", "has negative or infinite cell areas"),
    ("all-missing-area", "has no cell area anywhere"),
    ("unknown-weights", "--weights: invalid choice: 'gaussian'"),
    ("area-without-weights-area", "add --weights area"),
]


@pytest.mark.parametrize("case, needle", BAD_CASES, ids=[c for c, _ in BAD_CASES])
def test_bad_input_is_one_line_exit_2_and_no_output(tmp_path, case, needle):
    lat, lon = np.linspace(80, -80, 5), np.arange(8) * 45.0
    src, area_file = str(tmp_path / "in.nc"), str(tmp_path / "areacella.nc")
    area = np.ones((5, 8))
    args = ["--weights", "area", "--area", area_file]
    if case in ("negative-area", "all-missing-area"):
        if case == "negative-area":
            area[3, 7] = -1.0
        else:
            area[...] = np.nan
        write_grid_file(src, lat, lon, area=area)
        args = ["--weights", "area"]
    elif case == "measure-in-neither-file":
        write_grid_file(src, lat, lon, cell_measures="area: areacella")
        args = ["--weights", "area"]
    else:
        write_grid_file(src, lat, lon, cell_measures="area: areacella")
        if case == "area-file-other-shape":
            write_area_file(area_file, lat[:4], lon, area[:4])
        elif case == "area-file-other-coordinates":
            write_area_file(area_file, lat[::-1], lon, area)
        elif case == "measure-not-in-area-file":
            write_area_file(area_file, lat, lon, area, name="areacello")
        elif case == "unknown-weights":
            args = ["--weights", "gaussian"]
        elif case == "area-without-weights-area":
            write_area_file(area_file, lat, lon, area)
            args = ["--area", area_file]
    before = sorted(os.listdir(tmp_path))
    out = tmp_path / "out.nc"
    res = run_mpi(2, "clusterkit.jobs.climate_stats", [src, str(out), *args], timeout=120)
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("climate-stats: error:"), res.stderr
    assert needle in lines[0], lines[0]
    assert not out.exists()
    assert sorted(os.listdir(tmp_path)) == before
