"""The bad-input table: climate-stats, make-dataset, run, demo, diffusion and stencil.

Each :class:`Case` is one command that must end with exit status 2 and one line on
stderr containing ``fragment``. Placeholders in ``argv``: ``{in}`` the directory of
input files (:mod:`.cases_inputs`, built once per module), ``{out}`` the case's own
empty output directory (also the working directory), ``{ck}`` a directory holding two
diffusion checkpoints, ``{ckbad}`` the same checkpoints truncated.
"""

from dataclasses import dataclass

__all__ = ["Case", "CASES"]


@dataclass(frozen=True)
class Case:
    """One bad-input command.

    ``kind``: ``"run"`` (``clusterkit run -n N ...``; ``n`` None: ``argv`` has its own
    ``-n``), ``"make-dataset"`` (one process) or ``"make-dataset-mpi"`` (``make-dataset``
    under ``mpirun -n N``).
    ``fragment``: text (or tuple of texts) the stderr line must contain. ``pre``: files
    created in ``{out}`` beforehand (they must be left unchanged). ``xfail``: what still
    makes the case fail and where it is to be fixed (strict: an unexpected pass fails, so
    the mark is removed with the fix).
    """

    id: str
    argv: tuple
    fragment: object
    n: int = 1
    kind: str = "run"
    pre: tuple = ()
    xfail: str = None


def _cs(id_, args, fragment, n=1, **kw):
    return Case(id_, ("climate-stats",) + tuple(args), fragment, n=n, **kw)


def _md(id_, args, fragment, n=1, **kw):
    kind = "make-dataset-mpi" if n > 1 else "make-dataset"
    return Case(id_, ("make-dataset",) + tuple(args), fragment, n=n, kind=kind, **kw)


def _job(id_, job, args, fragment, n=1, **kw):
    return Case(id_, (job,) + tuple(args), fragment, n=n, **kw)


GOOD = "{in}/good.nc"
OUT = "{out}/o.nc"
MD = ("{out}/d.nc", "--shape", "12,9,16")

CLIMATE_STATS = [
    _cs("cs-missing-input", ["{in}/missing.nc", OUT], "does not exist"),
    _cs("cs-input-is-directory", ["{in}", OUT], "is a directory"),
    _cs("cs-text-file", ["{in}/text.nc", OUT], "is not a NetCDF file"),
    _cs("cs-empty-file", ["{in}/empty.nc", OUT], "is not a NetCDF file"),
    _cs("cs-netcdf3-file", ["{in}/netcdf3.nc", OUT], "has a NetCDF-3 signature but does not open"),
    _cs("cs-truncated", ["{in}/truncated.nc", OUT],
        ("truncated.nc' is truncated or not a NetCDF-4/HDF5 file", "truncated file")),
    _cs("cs-truncated-n2", ["{in}/truncated.nc", OUT],
        "truncated.nc' is truncated or not a NetCDF-4/HDF5 file", n=2),
    _cs("cs-projected-axes", ["{in}/projected.nc", OUT],
        ("dimension 'y' (standard_name 'projection_y_coordinate', axis 'Y', units 'm') is "
         "not latitude in degrees", "latitude needs units degrees_north")),
    _cs("cs-projected-axes-var-n2", ["{in}/projected.nc", OUT, "--var", "tas"],
        ("variable 'tas'", "dimension 'x'", "is not longitude in degrees"), n=2),
    _cs("cs-index-axes", ["{in}/index.nc", OUT],
        ("dimension 'j' (axis 'Y') is not latitude in degrees",
         "dimension 'i' (axis 'X') is not longitude")),
    _cs("cs-lat-axis-only-no-units", ["{in}/axisonly.nc", OUT],
        "dimension 'lat' (axis 'Y') is not latitude in degrees"),
    _cs("cs-lat-in-radians", ["{in}/radians.nc", OUT],
        "(standard_name 'latitude', units 'radians') is not latitude in degrees"),
    _cs("cs-nan-latitude", ["{in}/nanlat.nc", OUT],
        "latitude 'lat' has 1 value(s) that are NaN or outside [-90, 90] degrees (first: nan"),
    _cs("cs-latitude-95-n2", ["{in}/lat95.nc", OUT], "(first: 95.0 at index 8)", n=2),
    _cs("cs-nan-longitude", ["{in}/nanlon.nc", OUT],
        "longitude 'lon' has 1 non-finite value(s) (first: nan at index 5)"),
    _cs("cs-inf-longitude", ["{in}/inflon.nc", OUT], "(first: -inf at index 0)"),
    _cs("cs-nan-time", ["{in}/nantime.nc", OUT],
        "time coordinate 'time' has 1 non-finite value(s) (first: nan at index 4)"),
    _cs("cs-nan-time-n2", ["{in}/nantime.nc", OUT], "non-finite value(s)", n=2),
    _cs("cs-time-1e300", ["{in}/time1e300.nc", OUT],
        ("1e+300", "out of the range of dates the 'standard' calendar can represent")),
    _cs("cs-empty-time-axis", ["{in}/emptytime.nc", OUT],
        "the time axis 'time' of variable 'tas' is empty"),
    _cs("cs-empty-latitude", ["{in}/emptylat.nc", OUT],
        "dimension 'lat' of variable 'tas' is empty"),
    _cs("cs-time-without-units", ["{in}/timenounits.nc", OUT], "time units '' are not"),
    _cs("cs-time-bad-epoch", ["{in}/timebadepoch.nc", OUT],
        "cannot decode time units 'days since the big bang'"),
    _cs("cs-unsupported-calendar", ["{in}/martian.nc", OUT], "unsupported calendar 'martian'"),
    _cs("cs-only-1d-variable", ["{in}/onedim.nc", OUT], "no variable in"),
    _cs("cs-1d-variable-chosen", ["{in}/onedim.nc", OUT, "--var", "tas"],
        "has no identifiable lat/lon dimension"),
    _cs("cs-two-candidates", ["{in}/twovars.nc", OUT], "choose one with --var"),
    _cs("cs-two-latitudes", ["{in}/twolats.nc", OUT],
        "2 latitude dimensions ('lat', 'lat2'); expected exactly one time"),
    _cs("cs-huge-shape", ["{in}/huge.nc", OUT],
        ("tas(100000, 1000000, 100000) on 1 rank needs about", "of memory per rank, but",
         "is available per rank")),
    _cs("cs-huge-shape-n4", ["{in}/huge.nc", OUT],
        ("on 4 ranks needs about", "/ 4 ranks there"), n=4),
    _cs("cs-var-misspelled", [GOOD, OUT, "--var", "tsa"],
        "variable 'tsa' not found in"),
    _cs("cs-var-is-coordinate", [GOOD, OUT, "--var", "lat"],
        "variable 'lat' has no identifiable"),
    _cs("cs-chunk-mb-inf", [GOOD, OUT, "--chunk-mb", "inf"],
        "argument --chunk-mb: must be a positive, finite number of MiB, got 'inf'"),
    _cs("cs-chunk-mb-nan", [GOOD, OUT, "--chunk-mb", "nan"], "argument --chunk-mb"),
    _cs("cs-chunk-mb-zero", [GOOD, OUT, "--chunk-mb", "0"], "argument --chunk-mb"),
    _cs("cs-chunk-mb-negative", [GOOD, OUT, "--chunk-mb=-1"], "argument --chunk-mb"),
    _cs("cs-chunk-mb-word", [GOOD, OUT, "--chunk-mb", "lots"], "argument --chunk-mb"),
    _cs("cs-percentiles-empty", [GOOD, OUT, "--percentiles", ""],
        "argument --percentiles: must be comma-separated numbers in [0, 100], got ''"),
    _cs("cs-percentiles-word", [GOOD, OUT, "--percentiles", "5,abc"],
        "comma-separated numbers in [0, 100], got '5,abc'"),
    _cs("cs-percentiles-101", [GOOD, OUT, "--percentiles", "101"], "got '101'"),
    _cs("cs-percentiles-nan", [GOOD, OUT, "--percentiles", "nan"], "got 'nan'"),
    _cs("cs-output-dir-missing", [GOOD, "{out}/missing/o.nc"], "does not exist"),
    _cs("cs-output-is-directory", [GOOD, "{out}"], "is a directory"),
    _cs("cs-output-exists", [GOOD, "{out}/exists.nc"], "exists; pass --overwrite",
        pre=("exists.nc",)),
    _cs("cs-anomalies-dir-missing", [GOOD, OUT, "--anomalies", "{out}/missing/a.nc"],
        "does not exist"),
    _cs("cs-missing-output-argument", [GOOD], "the following arguments are required: OUTPUT"),
    _cs("cs-unknown-option", [GOOD, OUT, "--frobnicate"], "unrecognized arguments"),
]

MAKE_DATASET = [
    _md("md-shape-zero", ["{out}/d.nc", "--shape", "0,9,16"],
        "must be three positive integers T,Y,X"),
    _md("md-shape-two-numbers", ["{out}/d.nc", "--shape", "12,9"], "got '12,9'"),
    _md("md-shape-words", ["{out}/d.nc", "--shape", "a,b,c"], "got 'a,b,c'"),
    _md("md-shape-huge", ["{out}/d.nc", "--shape", "100000,100000,100000"],
        ("make-dataset --shape 100000,100000,100000 on 1 rank needs about",
         "of memory per rank")),
    _md("md-levels-huge", MD + ("--levels", "100000000"), "--levels 100000000 on 1 rank"),
    _md("md-levels-negative", MD + ("--levels=-1",),
        ("--levels", "non-negative integer (0: no levels)")),
    _md("md-levels-word", MD + ("--levels", "x"), "argument --levels"),
    _md("md-step-days-zero", MD + ("--step-days", "0"),
        "argument --step-days: must be a positive, finite number of days, got '0'"),
    _md("md-step-days-negative", MD + ("--step-days=-1",), "argument --step-days"),
    _md("md-step-days-nan", MD + ("--step-days", "nan"), "argument --step-days"),
    _md("md-step-days-inf", MD + ("--step-days", "inf"), "argument --step-days"),
    _md("md-var-empty", MD + ("--var", ""), "argument --var: must be a letter followed by"),
    _md("md-var-with-slash", MD + ("--var", "a/b"), "got 'a/b'"),
    _md("md-var-is-coordinate", MD + ("--var", "time"),
        "--var 'time' is the name of a coordinate of the dataset"),
    _md("md-var-is-level-coordinate", MD + ("--levels", "2", "--var", "plev"),
        "(time, lat, lon, plev)"),
    _md("md-calendar-unknown", MD + ("--calendar", "martian"), "unsupported calendar 'martian'"),
    _md("md-output-dir-missing", ["{out}/missing/d.nc", "--shape", "12,9,16"], "does not exist"),
    _md("md-output-is-directory", ["{out}", "--shape", "12,9,16"], "is a directory"),
    _md("md-output-exists", ["{out}/exists.nc", "--shape", "12,9,16"],
        "exists; pass --overwrite", pre=("exists.nc",)),
    _md("md-shape-huge-n2", ["{out}/d.nc", "--shape", "100000,100000,100000"],
        "on 2 ranks needs about", n=2),
    _md("md-var-is-coordinate-n2", MD + ("--var", "lat"), "--var 'lat' is the name", n=2),
    _md("md-step-days-zero-n2", MD + ("--step-days", "0"), "argument --step-days", n=2),
]

RUN = [
    Case("run-ranks-zero", ("-n", "0", "demo"), "must be a positive integer", n=None),
    Case("run-ranks-word", ("-n", "abc", "demo"), "got 'abc'", n=None),
    Case("run-unknown-job", ("no-such-job",), "unknown job 'no-such-job'; valid jobs:"),
    Case("run-missing-script", ("{out}/missing.py",), "not found"),
    Case("run-no-job", (), "the following arguments are required: JOB"),
    Case("run-trace-dir-missing", ("--trace", "{out}/missing/t.json", "demo"),
         "does not exist or is not writable"),
    Case("run-trace-is-directory", ("--trace", "{out}", "demo"), "is a directory"),
]

DEMO = [
    _job("demo-shape-two-numbers", "demo", ["--shape", "1,2"],
         "--shape must be three positive integers"),
    _job("demo-shape-zero", "demo", ["--shape", "0,5,5"], "got '0,5,5'"),
    _job("demo-fewer-latitudes-than-ranks-n2", "demo", ["--shape", "4,1,8"],
         "fewer than the 2 ranks", n=2),
    _job("demo-unknown-option", "demo", ["--bogus"], "unrecognized arguments: --bogus"),
    _job("demo-shape-huge", "demo", ["--shape", "10,100000,100000"], "memory"),
]

_DIFF = ("--shape", "10,10", "--steps", "4")
DIFFUSION = [
    _job("diff-shape-too-small", "diffusion", ["--shape", "2,2"], "each >= 3, got '2,2'"),
    _job("diff-steps-zero", "diffusion", _DIFF[:2] + ("--steps", "0"), "--steps must be >= 1"),
    _job("diff-steps-word", "diffusion", ["--steps", "x"], "argument --steps"),
    _job("diff-every-negative", "diffusion", _DIFF + ("--every=-1",), "--every must be >= 0"),
    _job("diff-kappa-zero", "diffusion", _DIFF + ("--kappa", "0"), "--kappa must satisfy"),
    _job("diff-kappa-nan-n2", "diffusion", _DIFF + ("--kappa", "nan"), "got nan", n=2),
    _job("diff-kappa-above-one", "diffusion", _DIFF + ("--kappa", "1.5"), "got 1.5"),
    _job("diff-output-dir-missing", "diffusion", _DIFF + ("--output", "{out}/missing/u.nc"),
         "does not exist"),
    _job("diff-output-is-directory", "diffusion", _DIFF + ("--output", "{out}"),
         "is a directory"),
    _job("diff-dump-npy-dir-missing", "diffusion", _DIFF + ("--dump-npy", "{out}/missing/u.npy"),
         "--dump-npy: folder"),
    _job("diff-checkpoint-every-without-dir", "diffusion", _DIFF + ("--checkpoint-every", "2"),
         "--checkpoint-every needs --checkpoint-dir"),
    _job("diff-restart-without-dir", "diffusion", _DIFF + ("--restart",),
         "--restart needs --checkpoint-dir"),
    _job("diff-checkpoint-seconds-without-dir", "diffusion",
         _DIFF + ("--checkpoint-seconds", "5"), "--checkpoint-seconds needs --checkpoint-dir"),
    _job("diff-checkpoint-every-zero", "diffusion",
         _DIFF + ("--checkpoint-dir", "{out}/ck", "--checkpoint-every", "0"),
         "argument --checkpoint-every: must be a positive integer, got '0'"),
    _job("diff-checkpoint-seconds-negative", "diffusion",
         _DIFF + ("--checkpoint-dir", "{out}/ck", "--checkpoint-seconds=-1"),
         "argument --checkpoint-seconds: must be a positive, finite number of seconds, got '-1'"),
    _job("diff-checkpoint-keep-zero", "diffusion",
         _DIFF + ("--checkpoint-dir", "{out}/ck", "--checkpoint-keep", "0"),
         "argument --checkpoint-keep: must be a positive integer, got '0'"),
    _job("diff-restart-from-empty-dir", "diffusion",
         _DIFF + ("--checkpoint-dir", "{out}", "--restart"), "--restart: no checkpoint"),
    _job("diff-fresh-run-into-checkpoints", "diffusion", _DIFF + ("--checkpoint-dir", "{ck}"),
         "already holds checkpoints; pass --restart"),
    _job("diff-restart-other-shape-n2", "diffusion",
         ("--shape", "12,10", "--steps", "4", "--checkpoint-dir", "{ck}", "--restart"),
         "has shape=[10, 10] but this run has shape=[12, 10]", n=2),
    _job("diff-restart-beyond-steps", "diffusion",
         ("--shape", "10,10", "--steps", "1", "--checkpoint-dir", "{ck}", "--restart"),
         "beyond --steps 1"),
    _job("diff-restart-all-checkpoints-corrupt", "diffusion",
         _DIFF + ("--checkpoint-dir", "{ckbad}", "--restart"),
         "none of the 2 checkpoints"),
    _job("diff-checkpoint-dir-is-file", "diffusion", _DIFF + ("--checkpoint-dir", GOOD),
         "is a file, not a directory"),
    _job("diff-checkpoint-seconds-nan", "diffusion",
         _DIFF + ("--checkpoint-dir", "{out}/ck", "--checkpoint-seconds", "nan"),
         "argument --checkpoint-seconds: must be a positive, finite number"),
    _job("diff-shape-huge", "diffusion", ["--shape", "100000,100000"], "memory"),
]

_ST = ("5", "32")
STENCIL = [
    _job("st-missing-arguments", "stencil", [],
         "the following arguments are required: ITERATIONS, GRID_SIZE"),
    _job("st-iterations-zero", "stencil", ["0", "32"], "ITERATIONS must be >= 1, got 0"),
    _job("st-iterations-word", "stencil", ["x", "32"], "argument ITERATIONS"),
    _job("st-unknown-pattern", "stencil", _ST + ("hex",), "unknown stencil pattern 'hex'"),
    _job("st-radius-zero", "stencil", _ST + ("star", "0"), "RADIUS must be >= 1, got 0"),
    _job("st-grid-smaller-than-stencil-n2", "stencil", ["5", "32", "box", "20"],
         "grid size 32 is smaller than 2*RADIUS+1 = 41", n=2),
    _job("st-extra-argument", "stencil", _ST + ("star", "2", "extra"),
         "unrecognized arguments: extra"),
    _job("st-dump-npy-dir-missing", "stencil", _ST + ("--dump-npy", "{out}/missing/b.npy"),
         "--dump-npy: folder"),
    _job("st-restart-without-dir", "stencil", _ST + ("--restart",),
         "--restart needs --checkpoint-dir"),
    _job("st-restart-from-empty-dir", "stencil", _ST + ("--checkpoint-dir", "{out}",
                                                        "--restart"), "no checkpoint"),
    _job("st-checkpoint-every-zero", "stencil",
         _ST + ("--checkpoint-dir", "{out}/ck", "--checkpoint-every", "0"),
         "argument --checkpoint-every: must be a positive integer"),
    _job("st-restart-from-other-job-n4", "stencil",
         _ST + ("--checkpoint-dir", "{ck}", "--restart"),
         "was written by job 'diffusion', not 'stencil'", n=4),
    _job("st-grid-huge", "stencil", ["5", "100000000"], "memory"),
]

#: every case, in table order
CASES = CLIMATE_STATS + MAKE_DATASET + RUN + DEMO + DIFFUSION + STENCIL
