"""Cell areas of spherical polygons from their corners (a curvilinear grid's vertex
bounds, great-circle edges): the kernel against CDO's ``gridarea`` (regular, rotated-pole
and tripolar-style grids), against the exact latitude-longitude cells (O(spacing²)
apart), the whole sphere, the dateline, triangles given as four corners, small cells; the
I/O layer's ``vertex_cell_areas``/``cell_area_weights(vertices=...)`` and its refusals
(the same InputError on every rank)."""

import shutil
import subprocess

import numpy as np
import pytest

import clusterkit as ck
from clusterkit.comm import MPI
from clusterkit.errors import InputError
from clusterkit.io.cellmeasures import cell_area_weights, vertex_cell_areas
from clusterkit.kernels.cellarea import (EARTH_RADIUS, bounds_from_centres,
                                         lat_lon_cell_areas, polygon_cell_areas)
from clusterkit.testing import assert_allclose_all
from clusterkit.testing import assert_input_error_everywhere as refused
from ncfiles import (curvilinear_corners, curvilinear_grid, write_curvilinear,
                     write_curvilinear_vertices, write_grid_file)

needs_cdo = pytest.mark.skipif(not shutil.which("cdo"), reason="CDO not installed "
                               "(bash benchmarks/setup-baselines.sh installs it)")
SPHERE = 4 * np.pi * EARTH_RADIUS ** 2
NAMES = ("vertices_latitude", "vertices_longitude")


def corners(lat_b, lon_b):
    """(ny, nx, 4) corners of the cells between the (ny, 2) and (nx, 2) bounds,
    counter-clockwise from the lower left."""
    la0, lo0 = np.meshgrid(lat_b[:, 0], lon_b[:, 0], indexing="ij")
    la1, lo1 = np.meshgrid(lat_b[:, 1], lon_b[:, 1], indexing="ij")
    return np.stack([la0, la0, la1, la1], -1), np.stack([lo0, lo1, lo1, lo0], -1)


def cdo_gridarea(tmp_path, src):
    """``cdo gridarea`` of ``src`` (metres²)."""
    xr = pytest.importorskip("xarray")
    dst = str(tmp_path / "gridarea.nc")
    subprocess.run(["cdo", "-s", "-O", "gridarea", src, dst], check=True, timeout=60)
    with xr.open_dataset(dst, engine="h5netcdf") as d:
        return d["cell_area"].values.astype(np.float64)


@needs_cdo
@pytest.mark.parametrize("lon0", [0.0, -180.0])
def test_regular_cells_as_polygons_are_cdo_gridarea(tmp_path, lon0):
    """A prime, irregular latitude-longitude grid with bounds (both longitude
    conventions): CDO takes its cells as great-circle quadrilaterals, as we do."""
    lat = np.array([-85.0, -61, -30, -2, 17, 44, 70, 89])
    lon = lon0 + np.cumsum(np.linspace(10, 40, 13)) * 360 / np.sum(np.linspace(10, 40, 13))
    lat_b, lon_b = bounds_from_centres(lat, 90.0), bounds_from_centres(lon)
    src = str(tmp_path / "in.nc")
    write_grid_file(src, lat, lon, nt=1, lat_bounds=lat_b, lon_bounds=lon_b)
    got = polygon_cell_areas(*corners(lat_b, lon_b))
    np.testing.assert_allclose(got, cdo_gridarea(tmp_path, src), rtol=1e-12)


@needs_cdo
@pytest.mark.parametrize("kind", ["rotated", "tripolar", "nemo"])
def test_curvilinear_cells_are_cdo_gridarea(tmp_path, kind):
    """A rotated pole's cells (rlat/rlon corners rotated to the globe) and a warped
    ocean grid's (longitudes 0..360 wrapping within rows), from CMIP-style vertex bounds:
    CDO's gridarea to 1e-12."""
    src = write_curvilinear_vertices(str(tmp_path / "in.nc"), kind, nt=1)
    got = polygon_cell_areas(*curvilinear_corners(kind, 13, 17))
    np.testing.assert_allclose(got, cdo_gridarea(tmp_path, src), rtol=1e-12)


@pytest.mark.parametrize("step", [2.0, 0.25])
def test_regular_cells_differ_from_exact_cells_by_spacing_squared(step):
    """A great-circle edge between two corners on a parallel bulges poleward: the
    polygons differ from the exact cells R²·Δsinφ·Δλ by at most Δλ²/6 (the polar cells)
    and do differ; both tile the sphere exactly."""
    lat_b = np.stack([np.arange(-90, 90, step), np.arange(-90, 90, step) + step], 1)
    lon_b = np.stack([np.arange(0, 360, step), np.arange(0, 360, step) + step], 1)
    got = polygon_cell_areas(*corners(lat_b, lon_b))
    exact = lat_lon_cell_areas(lat_b, lon_b)
    rel = np.abs(got / exact - 1)
    dlon = np.deg2rad(step)
    assert dlon ** 2 / 8 < rel.max() <= dlon ** 2 / 6 * (1 + 1e-3)
    np.testing.assert_allclose(got.sum(), SPHERE, rtol=1e-13)


def _rotate(lat, lon, pole_lat, pole_lon):
    """Geographic latitude/longitude of points given in a frame whose north pole is at
    (pole_lat, pole_lon): a rotation of 3-D unit vectors, written here independently."""
    la, lo = np.deg2rad(lat), np.deg2rad(lon)
    p = np.stack([np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)], -1)
    t, f = np.deg2rad(90.0 - pole_lat), np.deg2rad(pole_lon)
    ry = np.array([[np.cos(t), 0, np.sin(t)], [0, 1, 0], [-np.sin(t), 0, np.cos(t)]])
    rz = np.array([[np.cos(f), -np.sin(f), 0], [np.sin(f), np.cos(f), 0], [0, 0, 1]])
    q = p @ (rz @ ry).T
    return np.rad2deg(np.arcsin(np.clip(q[..., 2], -1, 1))), \
        np.rad2deg(np.arctan2(q[..., 1], q[..., 0]))


def test_a_rotated_global_grid_covers_the_sphere():
    """Cells of a global grid about a tilted pole (longitudes ±180, cells across the
    dateline and around the geographic poles) sum to 4πR²; each cell's area is the
    unrotated cell's (the area does not depend on where the cell is)."""
    lat_b = bounds_from_centres(np.linspace(-89, 89, 60), 90.0)
    lon_b = bounds_from_centres(np.arange(0, 360, 4.5) + 2.25)
    la, lo = corners(lat_b, lon_b)
    rotated = polygon_cell_areas(*_rotate(la, lo, 39.25, -162.0))
    np.testing.assert_allclose(rotated.sum(), SPHERE, rtol=1e-13)
    np.testing.assert_allclose(rotated, polygon_cell_areas(la, lo), rtol=1e-9)


def test_a_cell_across_the_dateline_in_any_convention():
    """The same 20°×10° cell written 170..190, 170..−170, −190..−170 and shifted to
    −10..10: one area, the short way round (not 340° wide)."""
    lat = [[40.0, 40, 50, 50]]
    want = polygon_cell_areas(lat, [[-10.0, 10, 10, -10]])
    for lon in ([170.0, 190, 190, 170], [170.0, -170, -170, 170], [-190.0, -170, -170, -190],
                [170.0, 190 - 360, 190, 170 - 360]):
        np.testing.assert_allclose(polygon_cell_areas(lat, [lon]), want, rtol=1e-12)
    assert want[0] < 0.01 * SPHERE


def test_triangles_with_a_repeated_corner_and_either_orientation():
    """The octant (0°N 0°E, 0°N 90°E, the pole) is an eighth of the sphere, given as 3
    corners, as 4 with any corner repeated (a tripolar fold's cell), and clockwise; a
    cell whose corners all coincide has area 0."""
    tri = np.array([[0.0, 0.0, 90.0], [0.0, 90.0, 0.0]])
    cases = [tri] + [np.insert(tri, k, tri[:, k], axis=1) for k in range(3)]
    cases += [c[:, ::-1] for c in cases]
    for c in cases:
        np.testing.assert_allclose(polygon_cell_areas(c[0], c[1]), SPHERE / 8, rtol=1e-14)
    assert polygon_cell_areas([[10.0] * 4], [[20.0] * 4])[0] == 0.0


@pytest.mark.parametrize("size", [1e-3, 1e-5])
def test_small_cells_keep_their_digits(size):
    """A cell of 1e-3° and 1e-5° (0.1 km, 1 m): the exact lat-lon cell to 1e-9 (their
    geometric difference is ~size², far below; a formula crossing nearly parallel
    vectors would lose ~1/size of the digits)."""
    lat_b = np.array([[30.0, 30.0 + size]])
    lon_b = np.array([[100.0, 100.0 + size]])
    got = polygon_cell_areas(*corners(lat_b, lon_b))
    np.testing.assert_allclose(got, lat_lon_cell_areas(lat_b, lon_b), rtol=1e-9)


def test_mismatched_corners_are_a_value_error():
    with pytest.raises(ValueError, match="nv >= 3"):
        polygon_cell_areas(np.zeros((2, 3, 4)), np.zeros((2, 3, 3)))
    with pytest.raises(ValueError, match="nv >= 3"):
        polygon_cell_areas(np.zeros((2, 2)), np.zeros((2, 2)))


def _vertices(kind="rotated", ny=13, nx=17):
    la, lo = curvilinear_corners(kind, ny, nx)
    return (NAMES[0], la), (NAMES[1], lo)


def test_cell_area_weights_from_vertices_without_an_area_variable(tmp_path):
    """A block of a curvilinear grid with vertices and no area variable: the polygons'
    areas and the vertex variables named as the source; without vertices, cos of the
    2-D latitude and no source; an area variable is still used first."""
    rows, cols = slice(3, 11), slice(5, 17)
    lat = curvilinear_grid("rotated", 13, 17)[0][rows, cols]
    (a, la), (b, lo) = _vertices()
    block = ((a, la[rows, cols]), (b, lo[rows, cols]))
    src = write_curvilinear_vertices(str(tmp_path / "v.nc"), "rotated", nt=1)
    with ck.open_dataset(src, comm=MPI.COMM_SELF) as ds:
        got, label = cell_area_weights(ds, "tos", "rlat", "rlon", rows, cols,
                                       curvilinear=lat, vertices=block)
        np.testing.assert_allclose(got, polygon_cell_areas(la, lo)[rows, cols], rtol=1e-15)
        assert label == "vertices_latitude and vertices_longitude"
        got, label = cell_area_weights(ds, "tos", "rlat", "rlon", rows, cols,
                                       curvilinear=lat)
        np.testing.assert_array_equal(got, np.cos(np.deg2rad(lat)))
        assert label is None
    src = write_curvilinear(str(tmp_path / "a.nc"), "rotated", nt=1)
    with ck.open_dataset(src, comm=MPI.COMM_SELF) as ds:
        _, label = cell_area_weights(ds, "tos", "rlat", "rlon", rows, cols,
                                     curvilinear=lat, vertices=block)
        assert label == "areacello"


BAD_VERTICES = {
    "nan-latitude": ("vertices_latitude' must hold finite latitudes within [-90, 90]; 1 "
                     "value(s) do not, first: nan at index (2, 3, 1)"),
    "latitude-95": "vertices_latitude' must hold finite latitudes within [-90, 90]",
    "infinite-longitude": "'vertices_longitude' must hold finite longitudes",
    "shapes": "have shapes (4, 5, 4) and (4, 5, 3); expected one shape",
    "degenerate": "give no cell an area",
}


@pytest.mark.parametrize("bad", sorted(BAD_VERTICES))
def test_malformed_vertices_are_input_errors_naming_the_variable(bad):
    (a, la), (b, lo) = _vertices(ny=4, nx=5)
    if bad == "nan-latitude":
        la[2, 3, 1] = np.nan
    elif bad == "latitude-95":
        la[1, 1, 2] = 95.0
    elif bad == "infinite-longitude":
        lo[0, 4, 0] = np.inf
    elif bad == "shapes":
        lo = lo[:, :, :3]
    else:
        la, lo = np.repeat(la[:, :, :1], 4, 2), np.repeat(lo[:, :, :1], 4, 2)
    with pytest.raises(InputError) as info:
        vertex_cell_areas(((a, la), (b, lo)), slice(0, 4), slice(0, 5), MPI.COMM_SELF)
    assert BAD_VERTICES[bad] in str(info.value)


@pytest.mark.mpi
def test_vertices_bad_on_one_rank_are_refused_on_every_rank(comm):
    """Rank 0's rows are fine, the last rank's block has a NaN corner: every rank raises
    the same InputError (no rank waits in a collective); good blocks give each rank
    its rows of the whole grid's areas."""
    rank, size = comm.Get_rank(), comm.Get_size()
    (a, la), (b, lo) = _vertices()
    bounds = np.linspace(0, 13, size + 1).astype(int)
    rows, cols = slice(bounds[rank], bounds[rank + 1]), slice(0, 17)
    got = vertex_cell_areas(((a, la[rows]), (b, lo[rows])), rows, cols, comm)
    assert_allclose_all(got, polygon_cell_areas(la, lo)[rows], rtol=1e-15, comm=comm)
    bad = la[rows].copy()
    if rank == size - 1:
        bad[-1, 2, 0] = np.nan
    refused(comm, lambda: vertex_cell_areas(((a, bad), (b, lo[rows])), rows, cols, comm),
            "'vertices_latitude' must hold finite latitudes within [-90, 90]; 1 value(s) "
            "do not, first: nan at index (12, 2, 0)")
