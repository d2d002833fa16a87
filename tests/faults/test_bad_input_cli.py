"""Bad input to ``clusterkit submit``, ``bench`` and ``status``/``logs``/``cancel``.

Each case runs the real command in a fresh directory (its current directory, holding the
case's input files; site profiles in ``sites/``, which ``CLUSTERKIT_SITE_PATH`` names)
with no Slurm command on ``PATH``, and asserts: exit status 2, nothing on stdout, exactly
one line on stderr holding the case's fragment and no traceback, and the directory
unchanged — no file, script or directory created (not even for a moment: directory
mtimes are compared too), every input file's bytes and mtime as they were, and the
temporary directory empty. ``submit`` runs with ``--dry-run`` unless the case is about
checks done before sbatch is looked for.
"""

import os
import sys

import pytest

from .helpers import run_cli, snapshot

TIMEOUT = 60                 # seconds; bad input is refused long before this
_OLD = 1_000_000_000         # input files' mtime (2001), so any write shows
_PWN = "p\ntouch pwned\n#"

# A results file and a sweep manifest that are readable JSON but not what they claim.
_NOT_RESULTS = '{"format": "something-else", "version": 1}\n'
_NO_POINTS = '{"format": "clusterkit-bench", "version": 1}\n'
_NOT_MANIFEST = '{"format": "clusterkit-bench-batch", "version": 1, "points": []}\n'


def case(name, argv, fragment, files=None, env=None):
    """One row: the command's arguments, the fragment its one error line must hold, the
    input files (relative path -> text or bytes) and extra environment variables."""
    return pytest.param(list(argv), fragment, files or {}, env or {}, id=name)


def site(name, toml, fragment, *, argv=("--dry-run",), env=None):
    """A ``submit`` case with a bad site profile ``sites/bad.toml`` chosen by ``--site``."""
    site_argv = () if env else ("--site", "bad")
    return case(name, ("submit", "demo", *site_argv, *argv), fragment,
                {"sites/bad.toml": toml}, env)


SUBMIT = [
    case("submit-time-zero", ["submit", "demo", "--time", "0", "--dry-run"],
         "--time must be positive, got '0'"),
    case("submit-time-word", ["submit", "demo", "-t", "soon", "--dry-run"],
         "--time must be one of MM, MM:SS"),
    case("submit-nodes-zero", ["submit", "demo", "-N", "0", "--dry-run"],
         "--nodes must be a positive integer, got 0"),
    case("submit-cpus-word", ["submit", "demo", "-c", "two", "--dry-run"],
         "--cpus-per-task must be a positive integer, got 'two'"),
    case("submit-array-reversed", ["submit", "demo", "--array", "9-0", "--dry-run"],
         "range '9-0' ends before it starts"),
    case("submit-dependency-not-an-id", ["submit", "demo", "-d", "afterok:abc", "--dry-run"],
         "'abc' in 'afterok:abc' is not a job ID"),
    case("submit-mem-word", ["submit", "demo", "--mem", "lots", "--dry-run"],
         "--mem must be a positive size"),
    case("submit-partition-newline", ["submit", "demo", "-p", _PWN, "--dry-run"],
         "--partition must not contain control characters"),
    case("submit-account-shell", ["submit", "demo", "-A", "$(id)", "--dry-run"],
         "--account must be a Slurm name"),
    case("submit-job-name-newline", ["submit", "demo", "-J", "a\nb", "--dry-run"],
         "--job-name must not contain control characters"),
    case("submit-env-without-equals", ["submit", "demo", "--env", "NOVALUE", "--dry-run"],
         "--env must be NAME=VALUE, got 'NOVALUE'"),
    case("submit-env-bad-name", ["submit", "demo", "--env", "1X=v", "--dry-run"],
         "--env: environment variable name must be letters, digits and _"),
    case("submit-sbatch-managed", ["submit", "demo", "--sbatch=--output=/x", "--dry-run"],
         "sbatch option --output is set by clusterkit; use clusterkit submit --output-dir"),
    case("submit-sbatch-newline", ["submit", "demo", "--sbatch=--comment=a\nb", "--dry-run"],
         "--sbatch must not contain control characters"),
    case("submit-output-dir-percent", ["submit", "demo", "--output-dir", "out%j"],
         "--output-dir must not contain '%'"),
    case("submit-signal-requeue-too-long",
         ["submit", "demo", "--signal-requeue", "70000", "--dry-run"],
         "--signal-requeue must be at most 65535 seconds"),
    case("submit-array-index-without-array",
         ["submit", "demo", "--dry-run", "--", "{array_index}"],
         "uses {array_index} but no --array is given"),
    case("submit-stray-argument", ["submit", "demo", "stray", "--dry-run"],
         "unexpected argument 'stray' after demo"),
    case("submit-unknown-job", ["submit", "no-such-job", "--dry-run"],
         "unknown job 'no-such-job'; valid jobs:"),
    case("submit-missing-script", ["submit", "missing.py", "--dry-run"],
         "job script 'missing.py' not found"),
    case("submit-trace-dir-missing", ["submit", "demo", "--trace", "no/t.json", "--dry-run"],
         "--trace: directory"),
    case("submit-unknown-site", ["submit", "demo", "--site", "atlantis", "--dry-run"],
         "unknown site 'atlantis'; known sites:"),
    case("submit-site-file-missing", ["submit", "demo", "--site", "nowhere.toml", "--dry-run"],
         "site file 'nowhere.toml' not found"),
]

SITES = [
    site("site-partition-breaks-out", '[defaults]\npartition = "p\\ntouch pwned\\n#"\n',
         "bad.toml': defaults.partition must not contain control characters"),
    site("site-partition-breaks-out-no-dry-run",
         '[defaults]\npartition = "p\\ntouch pwned\\n#"\n',
         "bad.toml': defaults.partition must not contain control characters", argv=()),
    site("site-partition-from-environment", '[defaults]\npartition = "p\\ntouch pwned\\n#"\n',
         "bad.toml': defaults.partition must not contain control characters",
         env={"CLUSTERKIT_SITE": "bad"}),
    site("site-account-shell", '[defaults]\naccount = "$(id)"\n',
         "bad.toml': defaults.account must be a Slurm name"),
    site("site-qos-newline", '[defaults]\nqos = "q\\n#"\n',
         "bad.toml': defaults.qos must not contain control characters"),
    site("site-time-word", '[defaults]\ntime = "forever"\n',
         "bad.toml': defaults.time must be one of MM, MM:SS"),
    site("site-time-number", '[defaults]\ntime = 30\n',
         "bad.toml': defaults.time must be text"),
    site("site-unknown-default", '[defaults]\nnodes = 2\n',
         "bad.toml': unknown defaults ['nodes']"),
    site("site-unknown-key", 'modlues = ["x"]\n', "bad.toml': unknown keys ['modlues']"),
    site("site-launcher-unknown", '[launcher]\ncommand = "aprun"\n',
         "bad.toml': launcher.command must be one of srun, mpirun"),
    site("site-launcher-not-a-table", 'launcher = "srun"\n',
         "bad.toml': [launcher] must be a table"),
    site("site-mpi-number", '[launcher]\nmpi = 3\n',
         "bad.toml': launcher.mpi must be a plugin name like pmix"),
    site("site-launcher-arg-newline", '[launcher]\nargs = ["x\\ntouch pwned"]\n',
         "bad.toml': launcher.args entry must not contain control characters"),
    site("site-modules-string", 'modules = "openmpi"\n',
         "bad.toml': modules must be a list of strings"),
    site("site-module-newline", 'modules = ["m\\ntouch pwned"]\n',
         "bad.toml': modules entry must not contain control characters"),
    site("site-module-purge-text", 'module_purge = "yes"\n',
         "bad.toml': module_purge must be true or false"),
    site("site-sbatch-managed", 'sbatch = ["--job-name=x"]\n',
         "bad.toml': sbatch entry: sbatch option --job-name is set by clusterkit"),
    site("site-sbatch-newline", 'sbatch = ["--comment=x\\ntouch pwned"]\n',
         "bad.toml': sbatch entry must not contain control characters"),
    site("site-env-bad-name", '[env]\n"A-B" = "x"\n',
         "bad.toml': env: environment variable name must be letters, digits and _"),
    site("site-env-nul", '[env]\nX = "a\\u0000b"\n',
         "bad.toml': env: the value of X must be text without NUL bytes"),
    site("site-env-not-a-table", 'env = [1, 2]\n', "bad.toml': env must be a table of NAME"),
    site("site-defaults-not-a-table", 'defaults = 5\n',
         "bad.toml': defaults must be a table with keys partition, account, qos, time"),
    site("site-shell-relative", 'shell = "bash"\n',
         "bad.toml': shell must start with an absolute path"),
    site("site-shell-unbalanced-quote", 'shell = "/bin/bash \'-l"\n',
         "bad.toml': shell \"/bin/bash '-l\" cannot be split into words"),
    site("site-malformed-toml", 'description = [\n', "bad.toml': Invalid value"),
    site("site-not-utf8", b'description = "\xff"\n', "bad.toml': 'utf-8' codec can't decode"),
    case("site-file-name-not-a-name", ["submit", "demo", "--site", "my site.toml", "--dry-run"],
         "site file 'my site.toml': site name must be letters, digits, _ . -",
         {"my site.toml": 'description = "x"\n'}),
]

BENCH = [
    case("bench-ranks-zero", ["bench", "strong", "demo", "--ranks", "0"],
         "--ranks must be at least 1"),
    case("bench-ranks-word", ["bench", "strong", "demo", "--ranks", "1,x"],
         "--ranks must be comma-separated positive integers"),
    case("bench-ranks-empty", ["bench", "weak", "demo", "--ranks", ","], "--ranks is empty"),
    case("bench-repeat-zero", ["bench", "strong", "demo", "--ranks", "1", "--repeat", "0"],
         "argument --repeat: must be a positive integer"),
    case("bench-warmup-negative", ["bench", "strong", "demo", "--ranks", "1", "--warmup", "-1"],
         "argument --warmup: must be a non-negative integer"),
    case("bench-timeout-infinite",
         ["bench", "strong", "demo", "--ranks", "1", "--timeout", "inf"],
         "argument --timeout: must be a positive, finite number"),
    case("bench-timeout-too-long",
         ["bench", "strong", "demo", "--ranks", "1", "--timeout", "1e300"],
         "argument --timeout: must be a positive, finite number"),
    case("bench-slurm-option-without-slurm", ["bench", "strong", "demo", "--ranks", "1", "-p",
                                              "x"], "--partition only makes sense with --slurm"),
    case("bench-unknown-job", ["bench", "strong", "nosuch", "--ranks", "1"],
         "unknown job 'nosuch'"),
    case("bench-weak-stencil-without-size", ["bench", "weak", "stencil", "--ranks", "1,2",
                                             "--", "10"],
         "weak scaling of stencil grows its positional argument 2 (sqrt): give its "
         "arguments ITERATIONS GRID_SIZE"),
    case("bench-weak-diffusion-bad-shape", ["bench", "weak", "diffusion", "--ranks", "1", "--",
                                            "--shape", "7"],
         "diffusion's --shape must be 2 positive integers, got '7'"),
    case("bench-out-is-a-file", ["bench", "strong", "demo", "--ranks", "1", "--out", "taken"],
         "is not writable", {"taken": "a file\n"}),
    case("bench-slurm-bad-time", ["bench", "strong", "demo", "--ranks", "1", "--slurm",
                                  "--time", "soon"], "--time must be one of MM, MM:SS"),
    case("bench-slurm-bad-partition", ["bench", "strong", "demo", "--ranks", "1", "--slurm",
                                       "-p", _PWN], "--partition must not contain control"),
    case("bench-slurm-bad-site-profile", ["bench", "strong", "demo", "--ranks", "1", "--slurm",
                                          "--site", "bad"],
         "bad.toml': defaults.partition must not contain control characters",
         {"sites/bad.toml": '[defaults]\npartition = "p\\ntouch pwned\\n#"\n'}),
    case("bench-slurm-managed-sbatch", ["bench", "strong", "demo", "--ranks", "1", "--slurm",
                                        "--sbatch=--ntasks=3"],
         "use clusterkit submit --nodes/--ntasks-per-node"),
    case("bench-slurm-ranks-not-whole-nodes", ["bench", "strong", "demo", "--ranks", "4,12",
                                               "--ntasks-per-node", "8", "--slurm"],
         "--ranks entry 12 is not a multiple of --ntasks-per-node 8"),
    case("bench-slurm-weak-bad-args", ["bench", "weak", "stencil", "--ranks", "1", "--slurm",
                                       "--", "10"],
         "weak scaling of stencil grows its positional argument 2"),
    case("bench-collect-no-sweep", ["bench", "collect", "nowhere"], "holds no batch sweep"),
    case("bench-collect-manifest-not-json", ["bench", "collect", "sweep"],
         "cannot read the sweep manifest", {"sweep/slurm/sweep.json": "{not json\n"}),
    case("bench-collect-manifest-without-points", ["bench", "collect", "sweep"],
         "is not a clusterkit batch-sweep manifest", {"sweep/slurm/sweep.json": _NOT_MANIFEST}),
    case("bench-collect-timeout-zero", ["bench", "collect", "sweep", "--wait", "--timeout", "0"],
         "argument --timeout: must be a positive, finite number"),
    case("bench-plot-missing", ["bench", "plot", "nowhere.json"],
         "results file 'nowhere.json' does not exist"),
    case("bench-plot-not-json", ["bench", "plot", "r.json"], "(not JSON:",
         {"r.json": "not json\n"}),
    case("bench-plot-wrong-format", ["bench", "plot", "r.json"],
         "format 'something-else', expected 'clusterkit-bench'", {"r.json": _NOT_RESULTS}),
    case("bench-plot-without-points", ["bench", "plot", "r.json", "--out", "plots"],
         "unsupported version or without points", {"r.json": _NO_POINTS}),
    case("bench-plot-directory", ["bench", "plot", "adir"], "cannot read results file 'adir'",
         {"adir/keep": "x\n"}),
    case("bench-plot-not-utf8", ["bench", "plot", "r.json"], "cannot read results file",
         {"r.json": b"\xff\xfe\n"}),
]

FOLLOW = [
    case("status-bad-id", ["status", "12x"], "job ID must be a job ID such as 123"),
    case("status-second-id-bad", ["status", "12", "x"], "got 'x'"),
    case("status-id-out-of-range", ["status", "99999999999"], "'99999999999' is out of range"),
    case("cancel-negative", ["cancel", "-5"], "got '-5'"),
    case("cancel-zero", ["cancel", "0"], "got '0'"),
    case("cancel-second-id-bad", ["cancel", "12", "abc"], "got 'abc'"),
    case("cancel-task-out-of-range", ["cancel", "12_99999999"], "'12_99999999' is out of range"),
    case("cancel-no-id", ["cancel"], "the following arguments are required: ID"),
    case("logs-bad-id", ["logs", "1_2_3"], "got '1_2_3'"),
    case("logs-id-out-of-range", ["logs", "4294967295"], "'4294967295' is out of range"),
    case("logs-no-id", ["logs", "--err"], "the following arguments are required: ID"),
]


@pytest.mark.parametrize("argv, fragment, files, extra_env", SUBMIT + SITES + BENCH + FOLLOW)
def test_bad_input_is_one_line_exit_2_and_changes_nothing(tmp_path, argv, fragment, files,
                                                          extra_env):
    work, tmp, nobin = tmp_path / "work", tmp_path / "tmp", tmp_path / "bin"
    for d in (work, tmp, nobin):
        d.mkdir()
    for rel, content in files.items():
        path = work / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        (path.write_bytes if isinstance(content, bytes) else path.write_text)(content)
    for path in [*sorted(work.rglob("*"), reverse=True), work]:    # files before their dirs
        os.utime(path, (_OLD, _OLD))
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLUSTERKIT_")}
    env.update(PATH=f"{os.path.dirname(sys.executable)}:{nobin}", TMPDIR=str(tmp),
               CLUSTERKIT_SITE_PATH=str(work / "sites"), **extra_env)
    before = snapshot(work)

    res = run_cli(argv, timeout=TIMEOUT, cwd=work, env=env)
    status, out, err = res.returncode, res.stdout, res.stderr

    assert "Traceback" not in err, err
    assert status == 2, (status, out, err)
    assert out == "", out
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("clusterkit") and "error:" in lines[0], lines[0]
    assert fragment in lines[0], lines[0]
    after = snapshot(work)
    assert sorted(set(after) - set(before)) == [], "created"
    assert sorted(set(before) - set(after)) == [], "removed"
    assert {p for p in before if before[p] != after[p]} == set(), "changed"
    assert list(tmp.iterdir()) == [], "left temporary files"
