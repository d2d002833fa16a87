"""Output paths refused before any work: empty, a directory, under a file, not a regular
file, or the same file as an input (through ``./``, ``..``, a symlink or a hard link).

At the library level (:func:`clusterkit.io.output_path.check_output_path`) and end to end
for ``clusterkit make-dataset``: one error line, exit status 2, no temporary anywhere,
every existing file's bytes and mtime unchanged.
"""

import os

import pytest

from clusterkit.errors import (InputError, InputFileNotFoundError, InputIsADirectoryError,
                               InputNotADirectoryError)
from clusterkit.io.output_path import check_output_path

from .helpers import run_cli, snapshot

TIMEOUT = 120


@pytest.fixture
def tree(tmp_path):
    """``work/`` (the working directory of the run) holding ``in.nc``, a hard link
    ``hard.nc`` and a symlink ``link.nc`` to it, a file ``plain.txt``, a directory
    ``sub/`` and a FIFO ``pipe``."""
    work = tmp_path / "work"
    (work / "sub").mkdir(parents=True)
    (work / "in.nc").write_bytes(b"\x89HDF input bytes")
    os.link(work / "in.nc", work / "hard.nc")
    os.symlink("in.nc", work / "link.nc")
    (work / "plain.txt").write_text("not a directory")
    os.mkfifo(work / "pipe")
    return work


SAME_FILE = {
    "identical": "in.nc",
    "dot-slash": "./in.nc",
    "dot-dot": "sub/../in.nc",
    "absolute": None,                  # filled in by the test: the absolute path
    "symlink": "link.nc",
    "hard-link": "hard.nc",
}


@pytest.mark.parametrize("alias", list(SAME_FILE))
def test_output_naming_an_input_is_refused(tree, alias, monkeypatch):
    monkeypatch.chdir(tree)
    out = SAME_FILE[alias] or str(tree / "in.nc")
    before = snapshot(str(tree))
    with pytest.raises(InputError) as info:
        check_output_path(out, overwrite=True, distinct_from=["in.nc"])
    message = str(info.value)
    assert repr(out) in message and "'in.nc'" in message and "same file" in message
    assert snapshot(str(tree)) == before


def test_output_naming_another_output_is_refused_before_it_exists(tree, monkeypatch):
    monkeypatch.chdir(tree)
    with pytest.raises(InputError, match="'sub/../anom.nc' is the same file as 'anom.nc'"):
        check_output_path("sub/../anom.nc", distinct_from=[None, "anom.nc"])
    check_output_path("other.nc", distinct_from=["in.nc", "anom.nc"])   # distinct: fine


@pytest.mark.parametrize("path, error, needle", [
    ("", InputFileNotFoundError, "output path is empty"),
    ("newdir/", InputIsADirectoryError, "'newdir/' names a directory, not a file"),
    ("plain.txt/out.nc", InputNotADirectoryError, "'plain.txt' is not a directory"),
    ("pipe", InputError, "is not a regular file"),
], ids=["empty", "trailing-slash", "under-a-file", "fifo"])
def test_unusable_output_path(tree, path, error, needle, monkeypatch):
    monkeypatch.chdir(tree)
    before = snapshot(str(tree))
    with pytest.raises(error, match=needle):
        check_output_path(path, overwrite=True)
    assert snapshot(str(tree)) == before


@pytest.mark.parametrize("path, needle", [
    ("", "output path is empty"),
    ("newdir/", "names a directory, not a file"),
    ("plain.txt/out.nc", "'plain.txt' is not a directory"),
    ("pipe", "is not a regular file"),
], ids=["empty", "trailing-slash", "under-a-file", "fifo"])
def test_make_dataset_refuses_before_writing(tree, path, needle):
    """Run in ``work/``; nothing may appear or change there or in its parent."""
    before, parent = snapshot(str(tree)), snapshot(str(tree.parent))
    res = run_cli(["make-dataset", path, "--shape", "4,3,5", "--overwrite"], timeout=TIMEOUT,
                  cwd=str(tree))
    status, err = res.returncode, res.stderr
    assert status == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("clusterkit make-dataset: error:"), err
    assert needle in lines[0], lines[0]
    assert snapshot(str(tree)) == before
    assert snapshot(str(tree.parent)) == parent      # no temporary beside the directory
