"""MPI tests of CF time variants and groups at the library level: on a NEMO-style file (one
file or a series) ``time_counter`` is a time dimension and ``time_coordinate`` gives
``time_centered``'s values and attributes; ``ck.open_dataset(p)["/group/name"]`` reads the
blocks of the same variable at the root, its dimensions resolved by netCDF's scoping;
the refusals are the same InputError on every rank."""

import os

import pytest

import clusterkit as ck
from clusterkit.io import cf
from clusterkit.testing import assert_all, assert_equal_all
from clusterkit.testing import assert_input_error_everywhere as refused

from ncfiles import NT, NX, NY, in_group, nemo_style, write_small_climate

pytestmark = pytest.mark.mpi


@pytest.fixture
def files(comm, shared_dir):
    """``{name: path}``: the small climate file, NEMO-style copies (with and without a
    ``time_counter`` variable, with two differing auxiliary times, split in three
    files with their own units) and copies with ``tas`` in a group."""
    paths = {k: os.path.join(shared_dir, f"{k}.nc") for k in
             ("src", "nemo", "bare", "two", "g", "ab")}
    parts = [os.path.join(shared_dir, f"part{i}.nc") for i in range(3)]
    if comm.Get_rank() == 0:
        write_small_climate(paths["src"])
        nemo_style(paths["src"], paths["nemo"])
        nemo_style(paths["src"], paths["bare"], counter="none")
        nemo_style(paths["src"], paths["two"], counter="none", instant=1.0, coordinates=None)
        in_group(paths["src"], paths["g"], "/g")
        in_group(paths["src"], paths["ab"], "/a/b")
        for i, (s, u) in enumerate([(slice(3, 5), "hours since 2001-01-01"),
                                    (slice(0, 1), None), (slice(1, 3), "days since 2000-01-01")]):
            nemo_style(paths["src"], parts[i], steps=s, units=u)
    comm.Barrier()
    return paths, parts


def _reads(ds, name, comm):
    grid = ck.Grid((NT, NY, NX), comm=comm)
    return ds[name].read(grid).interior


def test_nemo_time_counter_is_time_with_time_centereds_values(comm, files):
    paths, parts = files
    with ck.open_dataset(paths["src"], comm=comm) as src:
        want = src.coordinate("time")
        want_dates = list(src["tas"].coords["time"])
        block = _reads(src, "tas", comm)
        for given in (paths["nemo"], paths["bare"], parts):
            with ck.open_dataset(given, comm=comm) as ds:
                assert_all(ds.find_variable() == "tas", "found", comm)
                kinds = ds.axis_kinds("tas")
                assert_all(kinds == {"time_counter": "time", "lat": "lat", "lon": "lon"},
                           f"{kinds}", comm)
                values, attrs, name = ds.time_coordinate("time_counter", "tas")
                assert_all(name == "time_centered", name, comm)
                assert_all((cf.attr_str(attrs, "calendar"), cf.attr_str(attrs, "units")) ==
                           ("noleap", "days since 2001-01-01"), f"{attrs}", comm)
                assert_equal_all(values, want, comm)
                assert_all(list(cf.decode_time(values, attrs)) == want_dates,
                           "decoded", comm)
                assert_equal_all(_reads(ds, "tas", comm), block, comm)
                # the library's labels and a file written like it carry the same times
                dates = list(ds["tas"].coords["time_counter"])
                assert_all(dates == want_dates, f"coords: {dates[:2]}...", comm)


def test_written_like_a_nemo_file_the_times_keep_their_units(comm, files, shared_dir):
    paths, parts = files
    out = os.path.join(shared_dir, "like-nemo.nc")
    with ck.open_dataset(paths["src"], comm=comm) as src:
        want = list(src["tas"].coords["time"])
    with ck.open_dataset(paths["bare"], comm=comm) as ds:
        x = ds["tas"].read(ck.Grid((NT, NY, NX), comm=comm))
        ck.write_netcdf(out, {"tas": x}, like=ds, overwrite=True)
    with ck.open_dataset(out, comm=comm) as written:
        values, attrs, _ = written.time_coordinate("time_counter")
        assert_all(list(cf.decode_time(values, attrs)) == want, f"{attrs}", comm)


def test_two_differing_auxiliary_times_need_the_coordinates_attribute(comm, files):
    paths, _ = files
    with ck.open_dataset(paths["two"], comm=comm) as ds:
        refused(comm, lambda: ds.time_coordinate("time_counter", "tas"),
                "several auxiliary time variables with different values (time_centered, "
                "time_instant)")
        _, _, name = ds.time_coordinate("time_counter", strict=False)
        assert_all(name == "time_centered", name, comm)


@pytest.mark.parametrize("group", ["g", "ab"])
def test_a_variable_in_a_group_reads_the_roots_blocks(comm, files, group):
    paths, _ = files
    name = {"g": "/g/tas", "ab": "/a/b/tas"}[group]
    with ck.open_dataset(paths["src"], comm=comm) as src, \
            ck.open_dataset(paths[group], comm=comm) as ds:
        assert_all(ds.find_variable(name) == name, "found", comm)
        var = ds[name]
        assert_all(var.dims == ("time", "lat", "lon"), f"{var.dims}", comm)
        for d in var.dims:
            assert_equal_all(ds.coordinate(d), src.coordinate(str(d)), comm, err_msg=d)
        assert_all(list(var.coords["time"]) == list(src["tas"].coords["time"]), "time",
                   comm)
        assert_equal_all(_reads(ds, name, comm), _reads(src, "tas", comm), comm)
        refused(comm, lambda: ds["tas"], f"use its path, '{name}'")
        refused(comm, lambda: ds.find_variable("tas"), f"use its path, '{name}'")
