"""clusterkit.io.region against xarray: the cells of ``--region LAT0,LAT1,LON0,LON1`` on
both longitude conventions (also starting anywhere), ascending and descending latitudes,
across the 0 meridian and the dateline; the runs read; every refusal."""

import numpy as np
import pytest

from clusterkit.errors import InputError
from clusterkit.io.region import parse_region, select_region

xr = pytest.importorskip("xarray")


def _grid(lon, descending=False, dtype=np.float64):
    lat = np.arange(-89.0, 90.0, 2.0)
    if descending:
        lat = lat[::-1]
    lon = np.asarray(lon, dtype=dtype)
    data = np.random.default_rng(0).standard_normal((3, lat.size, lon.size))
    return xr.DataArray(data, dims=("time", "lat", "lon"),
                        coords={"lat": lat.astype(dtype), "lon": lon})


LON_360 = np.arange(0.0, 360.0, 2.5)                  # 0 .. 357.5
LON_180 = np.arange(-180.0, 180.0, 2.5) + 1.25        # -178.75 .. 178.75
LON_ROLLED = np.roll(np.arange(0.5, 360.0, 3.0), 37)  # 0..360, starting at 249.5


def xarray_region(x, lat0, lat1, lon0, lon1):
    """The region with xarray's own tools: sel of a latitude slice, longitudes sorted,
    then one slice, two slices joined across the seam, or a roll for the whole circle."""
    ascending = bool(x.lat[0] < x.lat[-1])
    x = x.sel(lat=slice(lat0, lat1) if ascending else slice(lat1, lat0)).sortby("lon")
    base = 0.0 if float(x.lon.min()) >= 0 else -180.0
    a, b = (lon0 - base) % 360 + base, (lon1 - base) % 360 + base
    if lon1 != lon0 and (lon1 - lon0) % 360 == 0:
        return x.roll(lon=-int(np.searchsorted(x.lon.values, a)), roll_coords=True)
    if a <= b:
        return x.sel(lon=slice(a, b))
    return xr.concat([x.sel(lon=slice(a, None)), x.sel(lon=slice(None, b))], dim="lon")


CASES = [
    # (longitudes, region, runs)
    (LON_360, "30,60,350,10", 2), (LON_360, "30,60,-10,10", 2), (LON_360, "-20,20,10,40", 1),
    (LON_360, "-5,5,170,-170", 1), (LON_360, "-90,90,0,360", 1), (LON_360, "0,10,-180,180", 2),
    (LON_360, "41,41.5,357.5,0", 2), (LON_360, "-90,-60,350,360", 2),
    (LON_180, "30,60,170,-170", 2), (LON_180, "30,60,-10,10", 1), (LON_180, "0,30,350,10", 1),
    (LON_180, "-60,-30,190,200", 1), (LON_180, "-90,90,-180,180", 1),
    (LON_180, "10,20,100,-100", 2),
    (LON_ROLLED, "30,60,350,10", 1), (LON_ROLLED, "0,5,200,300", 2),
    (LON_ROLLED, "0,5,-100,100", 1), (LON_ROLLED, "0,5,80,300", 2),
]


@pytest.mark.parametrize("descending", [False, True])
@pytest.mark.parametrize("lon,text,runs", CASES)
def test_region_is_xarrays(lon, text, runs, descending):
    x = _grid(lon, descending)
    r = select_region(text, x.lat.values, x.lon.values)
    want = xarray_region(x, *parse_region(text))
    np.testing.assert_array_equal(r.lat_values, want.lat.values)
    np.testing.assert_array_equal(r.lon_values, want.lon.values)
    assert len(r.lon_runs) == runs and all(s.step is None and s.stop > s.start
                                           for s in r.lon_runs)
    read = np.concatenate([x.values[:, r.lat, s] for s in r.lon_runs], axis=2)
    np.testing.assert_array_equal(read, want.values)
    assert r.cells == want.lat.size * want.lon.size
    assert r.total_cells == x.lat.size * x.lon.size
    assert r.read_bytes(x.nbytes) == want.nbytes


def test_increasing_across_the_seam_in_the_files_convention():
    r = select_region("0,10,355,5", np.array([1.0, 3.0]), LON_360)
    np.testing.assert_array_equal(r.lon_values, [355.0, 357.5, 0.0, 2.5, 5.0])
    assert r.lon_runs == (slice(142, 144), slice(0, 3))
    r = select_region("0,10,175,-175", np.array([1.0]), np.arange(-180.0, 180.0, 5.0))
    np.testing.assert_array_equal(r.lon_values, [175.0, -180.0, -175.0])
    assert r.lon_runs == (slice(71, 72), slice(0, 2))


def test_coordinates_keep_the_files_dtype():
    x = _grid(LON_360, dtype=np.float32)
    r = select_region("10,20,350,10", x.lat.values, x.lon.values)
    assert r.lat_values.dtype == np.float32 and r.lon_values.dtype == np.float32


def test_a_tenth_of_the_globe_reads_a_tenth():
    lat, lon = np.arange(-89.75, 90, 0.5), np.arange(0, 360, 0.5)
    r = select_region("-45,45,340,52", lat, lon)
    assert r.cells == 180 * 145
    assert 0.09 < r.read_bytes(4 * 360 * 720) / (4 * 360 * 720) < 0.11


@pytest.mark.parametrize("text,why", [
    ("1,2,3", "expected LAT0,LAT1,LON0,LON1"),
    ("1,2,3,4,5", "expected LAT0,LAT1,LON0,LON1"),
    ("a,b,c,d", "expected LAT0,LAT1,LON0,LON1"),
    ("", "expected LAT0,LAT1,LON0,LON1"),
    ("10,20,nan,30", "expected LAT0,LAT1,LON0,LON1"),
    ("-91,0,0,10", "latitude -91 is outside [-90, 90]"),
    ("0,95,0,10", "latitude 95 is outside [-90, 90]"),
    ("20,10,0,10", "LAT0 20 is north of LAT1 10"),
    ("0,10,-400,10", "longitude -400 is outside [-360, 360]"),
    ("0,10,0,361", "longitude 361 is outside [-360, 360]"),
])
def test_malformed_regions_are_one_line(text, why):
    with pytest.raises(InputError) as err:
        select_region(text, np.arange(-89.0, 90.0, 2.0), LON_360)
    msg = str(err.value)
    assert msg.startswith(f"--region {text!r}: ") and why in msg and "\n" not in msg


@pytest.mark.parametrize("text", ["0.1,0.9,0,10", "0,10,1,2", "0,10,358,359", "89.5,90,0,10",
                                  "0,10,10.5,10.5"])
def test_a_region_without_cell_centres_is_refused(text):
    lat = np.arange(-89.0, 90.0, 2.0)
    with pytest.raises(InputError) as err:
        select_region(text, lat, LON_360)
    msg = str(err.value)
    assert "contains no cell centre" in msg and "latitudes -89 to 89" in msg
    assert "longitudes 0 to 357.5" in msg and "\n" not in msg


def test_non_monotonic_latitudes_are_refused():
    with pytest.raises(InputError, match="latitudes are not monotonic"):
        select_region("0,30,0,10", np.array([0.0, 40.0, 20.0, 10.0]), LON_360)
    assert select_region("0,30,0,10", np.array([0.0, 40.0, 20.0, 10.0])[::-1][:2],
                         LON_360).lat == slice(0, 2)
