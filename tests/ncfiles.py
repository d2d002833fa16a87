"""A small (time, lat, lon) NetCDF file for the tests of the reading, writing and xarray
APIs: prime sizes, a 5-step time axis, descending latitude, a noleap calendar, a float32
variable with a fill region, an int16 packed one with _FillValue, a uint8 one."""

import numpy as np

NT, NY, NX = 5, 7, 11  # primes; the time axis is shorter than 4 ranks' blocks would like


def write_small_climate(path, seed=0):
    """A (time, lat, lon) file: ``tas`` float32 with a NaN _FillValue region, ``pr``
    int16 packed (scale/offset float32, _FillValue -32767), ``flag`` uint8 without
    attributes, latitude descending, a noleap calendar."""
    import netCDF4
    rng = np.random.default_rng(seed)
    with netCDF4.Dataset(path, "w") as f:
        for name, n in (("time", NT), ("lat", NY), ("lon", NX)):
            f.createDimension(name, n)
        t = f.createVariable("time", "f8", ("time",))
        t.units, t.calendar = "days since 2001-01-01", "noleap"
        t[:] = np.arange(NT) * 30.0 + 0.5
        lat = f.createVariable("lat", "f8", ("lat",))
        lat.units, lat[:] = "degrees_north", np.linspace(90, -90, NY)
        lon = f.createVariable("lon", "f8", ("lon",))
        lon.units, lon[:] = "degrees_east", np.arange(NX) * 360.0 / NX
        tas = f.createVariable("tas", "f4", ("time", "lat", "lon"), fill_value=np.float32(1e20))
        data = rng.normal(280, 10, (NT, NY, NX)).astype("f4")
        data[:, 2:4, 3:6] = np.float32(1e20)  # land: stored fill
        f.set_auto_maskandscale(False)
        tas[:] = data
        pr = f.createVariable("pr", "i2", ("time", "lat", "lon"), fill_value=np.int16(-32767))
        pr.scale_factor, pr.add_offset = np.float32(0.01), np.float32(5.0)
        raw = rng.integers(-30000, 30000, (NT, NY, NX)).astype("i2")
        raw[1, :, 0] = -32767
        pr[:] = raw
        flag = f.createVariable("flag", "u1", ("time", "lat", "lon"))
        flag[:] = rng.integers(0, 255, (NT, NY, NX)).astype("u1")
