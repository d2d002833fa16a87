"""Serial tests of Slurm script rendering: golden files, validation, hostile strings run inert."""

import dataclasses
import json
import os
import pathlib
import re
import stat
import subprocess
import sys
import zipfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clusterkit.slurm.render import fill, render, sbatch_lines, template_for
from clusterkit.slurm.sites import Site, data_dir, known_sites, load_site, site_from_dict
from clusterkit.slurm.spec import JobSpec
from clusterkit.slurm.values import (check_array, check_dependency, check_memory,
                                     check_sbatch_option, parse_time)

REPO = pathlib.Path(__file__).resolve().parent.parent
GOLDEN = REPO / "tests" / "golden" / "slurm"
PY = "/opt/venv/bin/python"          # fixed, so golden files do not depend on this machine
SITE_SRUN = Site(name="test-srun", launcher="srun", mpi="pmix", modules=("openmpi/4.1.5",),
                 module_purge=True, env={"HDF5_USE_FILE_LOCKING": "FALSE"},
                 defaults={"partition": "batch", "account": "proj1", "time": "01:00:00"},
                 sbatch=("--hint=nomultithread",))
SITE_MPIRUN = Site(name="test-mpirun", launcher="mpirun",
                   launcher_args=("--map-by", "slot:PE={cpus_per_task}", "--bind-to", "core"))


# --------------------------------------------------------------------------- sbatch's parser
def sbatch_argument(line):
    """Port of Slurm 22.05's get_argument() (src/sbatch/opt.c): one word of an #SBATCH line.

    Returns (word or None, characters consumed).
    """
    i, n = 0, len(line)
    while i < n and line[i].isspace():
        i += 1
    if i == n:
        return None, i
    if line[i] == ":":
        raise ValueError("Unexpected ':'")
    word, quoted, q_char, escape = [], False, "", False
    while i < n and (quoted or not line[i].isspace()) and line[i] != "\n":
        c = line[i]
        if escape:
            escape = False
        elif c == "\\":
            escape = True
            i += 1
            continue
        elif quoted:
            if c == q_char:
                quoted = False
                i += 1
                continue
        elif c in "\"'":
            quoted, q_char = True, c
            i += 1
            continue
        elif c == "#":
            break
        word.append(c)
        i += 1
    if quoted:
        raise ValueError(f"Unmatched {q_char}")
    return ("".join(word) if word else None), i


def sbatch_options(script):
    """The option words sbatch reads from a script's #SBATCH lines (stops at the first command)."""
    words = []
    for line in script.split("\n")[1:]:
        if line.startswith("#SBATCH"):
            rest = line[len("#SBATCH"):]
            while True:
                word, used = sbatch_argument(rest)
                if word is None:
                    break
                words.append(word)
                rest = rest[used:]
        elif line.strip() and not line.lstrip().startswith("#"):
            break
    return words


def test_parser_port_matches_documented_behaviour():
    assert sbatch_options('#!/bin/bash\n#SBATCH -J "a b" --x=1 # note\necho\n#SBATCH --no\n') == \
        ["-J", "a b", "--x=1"]
    assert sbatch_options("#!/bin/sh\n#SBATCH --job-name=\"q\\\"\\\\\"\n") == ['--job-name=q"\\']


# --------------------------------------------------------------------------- golden files
def _golden_cases():
    demo = "clusterkit.jobs.demo"
    return {
        "mpi-job": (JobSpec(demo, args=("--shape", "24,181,360"), python=PY, job_name="demo run",
                        nodes=2, ntasks_per_node=4, cpus_per_task=2, time="2:30:00", qos="debug",
                        mem="8G", constraint="skylake", exclusive=True, mail_type="END,FAIL",
                        mail_user="me@example.org", dependency="afterok:100:101",
                        output_dir="/scratch/me/run 1", env=(("CASE", "ctl"),),
                        sbatch_extra=("--gres=gpu:1",)), SITE_SRUN),
        "array": (JobSpec("/home/me/member.py", module=False, python=PY,
                          args=("--member={array_index}", "--out", "m{array_index}.nc"),
                          array="0-9%2", cpus_per_task=4, mem_per_cpu="2000M",
                          output_dir="/scratch/me/ens"), SITE_MPIRUN),
        "requeue": (JobSpec("clusterkit.jobs.diffusion", python=PY, time="1-00:00:00",
                            signal_requeue=300, ntasks_per_node=2, output_dir="/scratch/me/long",
                            args=("--steps", "90000", "--checkpoint-dir", "/scratch/me/long/ck")),
                    SITE_SRUN),
        "local": (JobSpec(demo, python=PY, ntasks_per_node=2, output_dir="/tmp/ck"),
                  load_site("local")),
        "generic-cluster": (JobSpec(demo, python=PY, nodes=4, ntasks_per_node=32,
                                    output_dir="/scratch/me/demo"), load_site("generic-cluster")),
        "runs": (JobSpec(demo, python=PY, ntasks_per_node=4, runs=3,
                         args=("--out", "r{run_index}.nc"),
                         env=(("CLUSTERKIT_PROFILE_JSON", "/scratch/me/p-{run_index}.json"),),
                         output_dir="/scratch/me/sweep"), SITE_SRUN),
    }


@pytest.mark.parametrize("name", sorted(_golden_cases()))
def test_render_matches_golden_file(name):
    spec, site = _golden_cases()[name]
    text = render(spec, site)
    path = GOLDEN / f"{name}.sh"
    if os.environ.get("CLUSTERKIT_UPDATE_GOLDEN"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.is_file(), f"{path} missing: run with CLUSTERKIT_UPDATE_GOLDEN=1 to write it"
    assert text == path.read_text(encoding="utf-8"), (
        f"render differs from {path}; if intended, rerun with CLUSTERKIT_UPDATE_GOLDEN=1 "
        "and review the diff")


@pytest.mark.parametrize("name", sorted(_golden_cases()))
def test_golden_scripts_are_valid_bash_and_sbatch_reads_the_options(name):
    spec, site = _golden_cases()[name]
    text = render(spec, site)
    subprocess.run(["bash", "-n"], input=text, encoding="utf-8", check=True, timeout=30)
    words = sbatch_options(text)
    expected = [line[len("#SBATCH "):] for line in sbatch_lines(spec, site)]
    assert len(words) == len(expected)
    assert f"--job-name={spec.job_name}" in words
    assert f"--output={spec.output_dir}/" + ("slurm-%A_%a.out" if spec.array else
                                              "slurm-%j.out") in words


def test_golden_details():
    cases = _golden_cases()
    mpi = render(*cases["mpi-job"])
    assert '#SBATCH --job-name="demo run"' in mpi
    assert '#SBATCH --output="/scratch/me/run 1/slurm-%j.out"' in mpi
    assert "#SBATCH --partition=batch" in mpi and "#SBATCH --account=proj1" in mpi
    assert "#SBATCH --time=2:30:00" in mpi            # the spec's time beats the site's
    assert "#SBATCH --exclusive" in mpi and "#SBATCH --dependency=afterok:100:101" in mpi
    assert "module purge\nmodule load openmpi/4.1.5" in mpi
    assert "srun --mpi=pmix /opt/venv/bin/python -m clusterkit.jobs.demo --shape " \
           "24,181,360" in mpi
    assert mpi.index("export HDF5_USE_FILE_LOCKING") < mpi.index("NUMBA_NUM_THREADS=") \
        < mpi.index("export CASE=ctl")
    array = render(*cases["array"])
    assert "#SBATCH --array=0-9%2" in array and "slurm-%A_%a.err" in array
    assert "mpirun --map-by slot:PE=4 --bind-to core /opt/venv/bin/python " \
           "/home/me/member.py" in array
    assert '--member="${SLURM_ARRAY_TASK_ID}"' in array
    requeue = render(*cases["requeue"])
    for line in ("#SBATCH --signal=B:USR1@300", "#SBATCH --requeue", "#SBATCH --open-mode=append",
                 "trap requeue_on_usr1 USR1", 'scontrol requeue "$SLURM_JOB_ID"'):
        assert line in requeue
    assert re.search(r"^srun .* --checkpoint-dir /scratch/me/long/ck &$",
                     requeue.replace(" \\\n    ", " "), re.M)
    assert template_for(cases["requeue"][0]) == "requeue.sh.tmpl"


def test_templates_hold_no_site_details():
    for path in (data_dir() / "templates").glob("*.tmpl"):
        text = path.read_text()
        for detail in ("--mpi=", "module load", "--partition", "--account", "/usr/"):
            assert detail not in text, f"{path.name} contains site detail {detail!r}"


def test_fill_is_strict():
    assert fill("a {{x}}\n{{y}}\nb\n", {"x": 1, "y": ""}) == "a 1\nb\n"
    with pytest.raises(KeyError, match="without values"):
        fill("{{x}} {{z}}", {"x": 1})
    with pytest.raises(KeyError, match="values without placeholders"):
        fill("{{x}}", {"x": 1, "w": 2})


# --------------------------------------------------------------------------- validation
@pytest.mark.parametrize("text, seconds", [
    ("90", 5400), ("5:30", 330), ("1:02:03", 3723), ("100:00:00", 360000), ("2-0", 172800),
    ("1-12", 129600), ("1-1:30", 91800), ("1-01:30:05", 91805), ("0:1", 1),
])
def test_time_formats_slurm_accepts(text, seconds):
    assert parse_time(text) == seconds


@pytest.mark.parametrize("text", ["UNLIMITED", "unlimited", "INFINITE"])
def test_unlimited_time(text):
    assert parse_time(text) is None


@pytest.mark.parametrize("text", ["", "0", "00:00", "abc", "1h", "-5", "1:60", "1:2:60",
                                  "1:60:00", "1-24", "1-5:60", "1:2:3:4", "1--2", "1-", " 5",
                                  "5 ", "1-2-3", "99999999:00:00"])
def test_invalid_times_are_rejected(text):
    with pytest.raises(ValueError, match="--time"):
        parse_time(text)


@pytest.mark.parametrize("text", ["0", "0-9", "0-9%2", "1,3,5", "0-15:4", "0-15:4%3",
                                  "1,3-5,7-15:2%4", "4000000"])
def test_valid_arrays(text):
    assert check_array(text) == text


@pytest.mark.parametrize("text", ["", "-1", "1-", "5-1", "0-9%0", "0-9%", "0-9%x", "0-15:0",
                                  "1,,3", "a-b", "0-9%2%3", "1 ,2", "4000001", "0-9:"])
def test_invalid_arrays_are_rejected(text):
    with pytest.raises(ValueError, match="--array"):
        check_array(text)


@pytest.mark.parametrize("text", ["afterok:12", "afterok:12:13", "afterany:5,afterok:6",
                                  "afterok:5?afternotok:6", "singleton", "after:7+10",
                                  "afterok:12_3", "aftercorr:9"])
def test_valid_dependencies(text):
    assert check_dependency(text) == text


@pytest.mark.parametrize("text", ["", "afterok", "afterok:", "afterok:x", "afterok:0",
                                  "afterok:1,afterok:2?afterok:3", "whenever:1",
                                  "afterok:1+5", "singleton:1", "afterok:1;rm", "afterok:1 2"])
def test_invalid_dependencies_are_rejected(text):
    with pytest.raises(ValueError, match="--dependency"):
        check_dependency(text)


def test_memory_sizes():
    assert check_memory("--mem", "4G") == "4G"
    assert check_memory("--mem", "0", allow_zero=True) == "0"
    for bad in ("0", "4X", "-1G", "1.5G", "G", ""):
        with pytest.raises(ValueError, match="--mem"):
            check_memory("--mem", bad)


@pytest.mark.parametrize("kwargs, needle", [
    ({"nodes": 0}, "--nodes must be a positive integer, got 0"),
    ({"ntasks_per_node": -2}, "--ntasks-per-node must be a positive integer, got -2"),
    ({"cpus_per_task": "x"}, "--cpus-per-task must be a positive integer, got 'x'"),
    ({"nodes": True}, "--nodes must be a positive integer"),
    ({"time": "1:99"}, "--time"),
    ({"array": "1-"}, "--array"),
    ({"dependency": "afterok"}, "--dependency"),
    ({"job_name": "two\nlines"}, "--job-name must not contain control characters"),
    ({"job_name": ""}, "--job-name must be non-empty"),
    ({"job_name": "x" * 1025}, "--job-name is longer than 1024 bytes"),
    ({"partition": "a b"}, "--partition must not contain whitespace"),
    ({"account": "a;b"}, "--account must be a Slurm name"),
    ({"mem": "4G", "mem_per_cpu": "1G"}, "not both"),
    ({"mail_type": "END,SOMETIMES"}, "--mail-type"),
    ({"output_dir": "relative/dir"}, "--output-dir must be an absolute path"),
    ({"output_dir": "/tmp/100%"}, "must not contain '%'"),
    ({"signal_requeue": 0}, "--signal-requeue must be a positive integer"),
    ({"signal_requeue": 70000}, "at most 65535"),
    ({"signal_requeue": 60}, "--signal-requeue needs a job that checkpoints: give it "
     "--checkpoint-dir DIR after --"),
    ({"signal_requeue": 60, "args": ("--checkpoint", "/ck")}, "needs a job that checkpoints"),
    ({"signal_requeue": 600, "time": "10", "args": ("--checkpoint-dir", "/ck")},
     "--signal-requeue 600 must be shorter than the time limit (--time 10 = 600 s)"),
    ({"signal_requeue": 60, "time": "UNLIMITED", "args": ("--checkpoint-dir=/ck",)},
     "--signal-requeue 60 needs a time limit, but --time is UNLIMITED"),
    ({"args": ("--m={array_index}",)}, "no --array is given"),
    ({"args": "--oops"}, "args must be a sequence"),
    ({"args": ("a\0b",)}, "NUL"),
    ({"env": (("1X", "v"),)}, "environment variable name"),
    ({"env": (("X", "a\0"),)}, "NUL"),
    ({"sbatch_extra": ("--output=/x",)}, "use clusterkit submit --output-dir"),
    ({"sbatch_extra": ("-G 1",)}, "--option or --option=value"),
])
def test_spec_validation(kwargs, needle):
    with pytest.raises(ValueError) as info:
        JobSpec("clusterkit.jobs.demo", **{"output_dir": "/tmp/ck", **kwargs})
    assert needle in str(info.value)
    assert "\n" not in str(info.value).replace("two\nlines", "")


def test_signal_requeue_within_the_limits_is_accepted():
    for args in (("--checkpoint-dir", "/ck"), ("--steps", "9", "--checkpoint-dir=/ck")):
        spec = JobSpec("clusterkit.jobs.diffusion", args=args, signal_requeue=599, time="10",
                       output_dir="/tmp/ck")
        assert spec.signal_requeue == 599


def test_signal_requeue_against_the_sites_default_time():
    """Without --time the site's default limit is the one the offset must fit in."""
    site = Site(name="short", defaults={"time": "00:05:00"})
    ok = JobSpec("clusterkit.jobs.diffusion", args=("--checkpoint-dir", "/ck"),
                 signal_requeue=240, output_dir="/tmp/ck")
    assert "#SBATCH --signal=B:USR1@240" in render(ok, site)
    late = JobSpec("clusterkit.jobs.diffusion", args=("--checkpoint-dir", "/ck"),
                   signal_requeue=300, output_dir="/tmp/ck")
    with pytest.raises(ValueError, match="--signal-requeue 300 must be shorter than the time "
                       r"limit \(site short's default time 00:05:00 = 300 s\)"):
        render(late, site)
    assert "#SBATCH --time=10" in render(dataclasses.replace(late, time="10"), site)


def test_spec_defaults():
    spec = JobSpec("clusterkit.jobs.demo", nodes="2", ntasks_per_node=3)
    assert spec.job_name == "demo" and spec.nodes == 2 and spec.ntasks == 6
    assert spec.python == sys.executable and os.path.isabs(spec.output_dir)
    assert JobSpec("/x/my_job.py", module=False).job_name == "my_job"
    assert check_sbatch_option("--gres=gpu:1") == "--gres=gpu:1"


# --------------------------------------------------------------------------- sites
def test_shipped_sites_load():
    assert {"local", "generic-cluster"} <= set(known_sites())
    local = load_site("local")
    assert local.launch_prefix() == ["srun", "--mpi=pmix"]
    assert local.defaults["partition"] == "local"
    generic = load_site("generic-cluster")
    assert generic.modules and generic.module_purge and generic.shell == "/bin/bash -l"


def test_site_selection(tmp_path, monkeypatch):
    (tmp_path / "mysite.toml").write_text('[launcher]\ncommand = "mpirun"\n')
    env = {"CLUSTERKIT_SITE_PATH": str(tmp_path), "CLUSTERKIT_SITE": "mysite"}
    assert load_site(env=env).launcher == "mpirun"
    assert load_site("local", env=env).name == "local"
    assert "mysite" in known_sites(env)
    assert load_site(str(tmp_path / "mysite.toml"), env={}).name == "mysite"
    assert load_site(env={}).name == "local"
    with pytest.raises(ValueError, match=r"unknown site 'nope'; known sites: .*local"):
        load_site("nope", env={})
    with pytest.raises(ValueError, match="unknown site"):
        load_site("../etc/passwd", env={})


@pytest.mark.parametrize("toml, needle", [
    ('launcher = "srun"', "[launcher] must be a table"),
    ('[launcher]\ncommand = "aprun"', "launcher.command must be one of srun, mpirun"),
    ('[launcher]\ncommand = "mpirun"\nmpi = "pmix"', "needs launcher.command = \"srun\""),
    ('[launcher]\nmpi = 3', "launcher.mpi must be a plugin name like pmix"),
    ('[launcher]\nplugin = "pmix"', "unknown keys ['launcher.plugin']"),
    ('modlues = ["x"]', "unknown keys ['modlues']"),
    ('modules = "openmpi"', "modules must be a list of strings"),
    ('modules = ["a; rm -rf ~"]', "must not contain whitespace"),
    ('[defaults]\ntime = "forever"', "defaults.time must be one of MM, MM:SS"),
    ('[defaults]\ntime = 30', "defaults.time must be text"),
    ('[defaults]\npartition = "a b"', "defaults.partition must not contain whitespace"),
    ('[defaults]\naccount = "$(id)"', "defaults.account must be a Slurm name"),
    ('[defaults]\nqos = ""', "defaults.qos must be non-empty text"),
    ('defaults = 5', "defaults must be a table"),
    ('[defaults]\nnodes = 2', "unknown defaults ['nodes']"),
    ('sbatch = ["--job-name=x"]', "use clusterkit submit --job-name"),
    ('sbatch = ["-G 1"]', "sbatch entry must look like --option or --option=value"),
    ('shell = "bash"', "shell must start with an absolute path"),
    ('shell = "/bin/bash \'-l"', "cannot be split into words: No closing quotation"),
    ('module_purge = "yes"', "module_purge must be true or false"),
    ('[env]\n"A-B" = "x"', "env: environment variable name must be letters, digits and _"),
    ('[env]\nX = "a\\u0000b"', "env: the value of X must be text without NUL bytes"),
    ('env = [1, 2]', "env must be a table of NAME"),
    ('description = [', "site file"),
])
def test_bad_site_profiles(tmp_path, toml, needle):
    path = tmp_path / "bad.toml"
    path.write_text(toml + "\n")
    with pytest.raises(ValueError) as info:
        load_site(str(path), env={})
    assert needle in str(info.value)
    assert str(info.value).startswith(f"site file {str(path)!r}: ")
    assert "\n" not in str(info.value)


def test_site_from_dict_rejects_bad_types():
    with pytest.raises(ValueError, match="<dict>"):
        site_from_dict("x", {"module_purge": True, "launcher": {"args": "--oops"}})


# --------------------------------------------------------------------------- hostile strings
_FRAGMENTS = ["'", '"', "$(touch CANARY)", "`touch CANARY`", "; touch CANARY;", "\n", "\\",
              "$HOME", "${PATH}", "*", "?", "~", "&", "|", ">CANARY", "<", "#", " ", "%j", "!",
              "{{launch}}", "-", "--", "$", "\t", "é", "\\'", "'\"'\"'", "$'\\n'", "&&",
              "\\\n", "{array_index}"]
_hostile = st.lists(st.sampled_from(_FRAGMENTS) | st.text(max_size=4).filter(
    lambda s: "\0" not in s), max_size=8).map("".join)
_no_control = _hostile.map(lambda s: re.sub(r"[\x00-\x1f\x7f-\x9f]", "", s)).filter(bool)

_STUB = """#!{python}
import json, os, sys
with open(os.environ["STUB_LOG"], "a") as f:
    json.dump({{"argv": sys.argv[1:], "env": {{k: os.environ.get(k) for k in
              os.environ["STUB_VARS"].split(",")}}}}, f)
    f.write("\\n")
"""


def _stub_dir(tmp):
    bindir = tmp / "bin"
    bindir.mkdir(exist_ok=True)
    for name in ("srun", "mpirun", "scontrol"):
        stub = bindir / name
        stub.write_text(_STUB.format(python=sys.executable))
        stub.chmod(stub.stat().st_mode | stat.S_IEXEC)
    return bindir


def _run_script(tmp, text, extra_env=(), env_names=()):
    """Run a rendered script with stub launchers; return what the launcher received."""
    script = tmp / "job.sh"
    script.write_text(text, encoding="utf-8")
    log = tmp / "launcher.jsonl"
    if log.exists():
        log.unlink()
    env = {"PATH": f"{_stub_dir(tmp)}:/usr/bin:/bin", "STUB_LOG": str(log),
           "STUB_VARS": ",".join(["NUMBA_NUM_THREADS", "NUMBA_CACHE_DIR", *env_names]),
           "SLURM_CPUS_PER_TASK": "3", "SLURM_JOB_ID": "4242", "SLURM_NTASKS": "2",
           "TMPDIR": str(tmp), "HOME": str(tmp), **dict(extra_env)}
    proc = subprocess.run(["bash", str(script)], cwd=tmp, env=env, capture_output=True,
                          encoding="utf-8", errors="replace", timeout=60)
    assert proc.returncode == 0, proc.stderr
    calls = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    assert len(calls) == 1, calls
    return calls[0], proc


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=_no_control, args=st.lists(_hostile, max_size=4), value=_hostile,
       array=st.booleans(), requeue=st.booleans(), mpirun=st.booleans())
def test_hostile_strings_arrive_verbatim_and_run_nothing(tmp_path, name, args, value, array,
                                                         requeue, mpirun):
    if not array:
        args = [a.replace("{array_index}", "{ array_index}") for a in args]
    site = SITE_MPIRUN if mpirun else Site(name="stub", launcher="srun", mpi="pmix",
                                           env={"SITE_VALUE": value})
    if requeue:
        args = args + ["--checkpoint-dir", "/tmp/ck/ck"]
    spec = JobSpec("clusterkit.jobs.demo", args=args, python=PY, job_name=name,
                   array="0-3" if array else None, output_dir="/tmp/ck",
                   env=(("USER_VALUE", value),), signal_requeue=30 if requeue else None)
    text = render(spec, site)
    subprocess.run(["bash", "-n"], input=text, encoding="utf-8", check=True, timeout=30)
    assert f"--job-name={name}" in sbatch_options(text)       # sbatch reads the name back
    call, _ = _run_script(tmp_path, text, extra_env={"SLURM_ARRAY_TASK_ID": "7"},
                          env_names=("USER_VALUE", "SITE_VALUE", "CLUSTERKIT_NUMBA_CACHE"))
    expected = [a.replace("{array_index}", "7") if array else a for a in args]
    prefix = ["--map-by", "slot:PE=1", "--bind-to", "core"] if mpirun else ["--mpi=pmix"]
    assert call["argv"] == prefix + [PY, "-m", "clusterkit.jobs.demo", *expected]
    assert call["env"]["USER_VALUE"] == value
    if not mpirun:
        assert call["env"]["SITE_VALUE"] == value
    assert call["env"]["NUMBA_NUM_THREADS"] == "3"
    assert call["env"]["NUMBA_CACHE_DIR"] is None
    assert call["env"]["CLUSTERKIT_NUMBA_CACHE"] == str(tmp_path / ".cache/clusterkit/numba")
    assert not list(tmp_path.glob("CANARY*")), "a hostile string was executed"


_PWN = "touch pwned"


@pytest.mark.parametrize("toml, refused_key", [
    (f'[defaults]\npartition = "p\\n{_PWN}\\n#"', "defaults.partition"),
    (f'[defaults]\naccount = "a\\n{_PWN}\\n#"', "defaults.account"),
    (f'[defaults]\nqos = "q\\n{_PWN}\\n#"', "defaults.qos"),
    (f'[defaults]\ntime = "10\\n{_PWN}\\n#"', "defaults.time"),
    (f'sbatch = ["--comment=x\\n{_PWN}\\n#"]', "sbatch entry"),
    (f'modules = ["m\\n{_PWN}"]', "modules entry"),
    (f'shell = "/bin/bash\\n{_PWN}"', "shell"),
    (f'[launcher]\nargs = ["x\\n{_PWN}"]', "launcher.args entry"),
    ('sbatch = ["--comment=$(touch pwned) `touch pwned`"]', None),
    ('modules = ["$(touch${IFS}pwned)"]', None),
    ('[launcher]\ncommand = "mpirun"\nargs = ["$(touch pwned)", "; touch pwned"]', None),
    (f'[env]\nX = "a\\n{_PWN}\\n$({_PWN})`{_PWN}`"', None),
    (f'numba_cache = "/c/$({_PWN})"', "numba_cache"),
    (f'numba_cache = "/c/`{_PWN}`"', "numba_cache"),
    (f'numba_cache = "/c/\\"; {_PWN}; \\""', "numba_cache"),
    (f'numba_cache = "/c/\\n{_PWN}"', "numba_cache"),
    (f'numba_cache = "$HOME/a b;{_PWN};#"', None),
])
def test_site_profile_values_cannot_add_script_lines(tmp_path, toml, refused_key):
    """A profile value reaching an #SBATCH line or the script body is refused if it could
    break out of its line (naming the key), else runs inert: the whole rendered script,
    run by bash with stub launchers and ``module``, creates no file ``pwned``."""
    path = tmp_path / "evil.toml"
    path.write_text(toml + "\n")
    try:
        site = load_site(str(path), env={})
    except ValueError as exc:
        assert refused_key is not None, f"a harmless profile was refused: {exc}"
        assert str(exc).startswith(f"site file {str(path)!r}: {refused_key} must ")
        assert "\n" not in str(exc)
        return
    spec = JobSpec("clusterkit.jobs.demo", python=PY, output_dir="/tmp/ck")
    text = render(spec, site)
    sandbox = tmp_path / "sandbox"
    sandbox.mkdir()
    bindir = _stub_dir(sandbox)
    (bindir / "module").symlink_to(bindir / "srun")
    script = sandbox / "job.sh"
    script.write_text(text, encoding="utf-8")
    subprocess.run(["bash", str(script)], cwd=sandbox, capture_output=True, timeout=60,
                   env={"PATH": f"{bindir}:/usr/bin:/bin", "STUB_LOG": str(sandbox / "log"),
                        "STUB_VARS": "X", "TMPDIR": str(sandbox), "HOME": str(sandbox)})
    assert not list(sandbox.rglob("pwned")), f"a profile value ran as a command:\n{text}"
    assert refused_key is None, f"{refused_key} was accepted and rendered inert"


def test_a_submitting_mpi_runtime_does_not_leak_into_the_job(tmp_path):
    spec = JobSpec("clusterkit.jobs.demo", python=PY, output_dir="/tmp/ck")
    leftovers = {"PMIX_RANK": "0", "PMIX_SERVER_URI4": "pmix-server.1;tcp4://127.0.0.1:1",
                 "OMPI_MCA_ess": "singleton", "OMPI_MCA_orte_launch": "1",
                 "OMPI_APP_CTX_NUM_PROCS": "1", "ORTE_SCHIZO_DETECTION": "ORTE",
                 "OMPI_MCA_pmix": "^s1,s2,cray,isolated"}
    kept = {"OMPI_MCA_btl": "self,vader", "SLURM_JOB_ID": "4242"}
    call, _ = _run_script(tmp_path, render(spec, SITE_MPIRUN), {**leftovers, **kept},
                          env_names=(*leftovers, *kept))
    assert {k: call["env"][k] for k in leftovers} == dict.fromkeys(leftovers)
    assert {k: call["env"][k] for k in kept} == kept


@pytest.mark.parametrize("job_status", [99, 3])
def test_requeue_trap_forwards_usr1_and_requeues(tmp_path, job_status):
    """The requeue template's trap, run by bash with a stub job: USR1 -> job stops ->
    requeue if it checkpointed (status 99), else end with the job's status."""
    job = tmp_path / "job.py"
    job.write_text("import signal, sys, time\n"
                   f"signal.signal(signal.SIGUSR1, lambda *a: sys.exit({job_status}))\n"
                   "open(sys.argv[1], 'w').close()\n"
                   "time.sleep(60)\nsys.exit(3)\n")
    ready = tmp_path / "ready"
    site = Site(name="direct", launcher="srun")
    spec = JobSpec(str(job), module=False, python=sys.executable, signal_requeue=60,
                   args=(str(ready), "--checkpoint-dir", str(tmp_path / "ck")),
                   output_dir="/tmp/ck")
    script = tmp_path / "job.sh"
    # The "launcher" here starts the job directly, so the signal reaches Python itself.
    script.write_text(render(spec, site).replace("\nsrun ", "\nenv "))
    bindir = _stub_dir(tmp_path)
    log = tmp_path / "launcher.jsonl"
    env = {"PATH": f"{bindir}:/usr/bin:/bin", "STUB_LOG": str(log), "STUB_VARS": "SLURM_JOB_ID",
           "SLURM_JOB_ID": "77", "TMPDIR": str(tmp_path)}
    proc = subprocess.Popen(["bash", str(script)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(300):
            if ready.exists():
                break
            assert proc.poll() is None, proc.communicate()
            subprocess.run(["sleep", "0.05"])
        proc.send_signal(10)  # SIGUSR1, as Slurm's --signal=B:USR1 sends it to the batch shell
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    if job_status != 99:
        assert proc.returncode == job_status, err
        assert "ended with status 3; not requeued" in err
        assert not log.exists() or log.read_text() == ""
        return
    assert proc.returncode == 0, err
    assert re.search(r"^clusterkit: run 1 checkpointed and stopped after \d+ s; requeueing "
                     r"job 77 \(expected: the launcher's exit code 99 above and Slurm's "
                     r"CANCELLED \.\.\. DUE TO JOB REQUEUE below say the same\)$", err, re.M), err
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    assert calls == [{"argv": ["requeue", "77"], "env": {"SLURM_JOB_ID": "77"}}]


# --------------------------------------------------------------------------- packaging
def test_regular_install_ships_templates_and_sites(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(tmp_path), str(REPO)], check=True, capture_output=True,
                   timeout=300)
    (wheel,) = tmp_path.glob("clusterkit-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for tmpl in (REPO / "slurm" / "templates").glob("*.tmpl"):
        assert f"clusterkit/slurm/data/templates/{tmpl.name}" in names
    for site in (REPO / "slurm" / "sites").glob("*.toml"):
        assert f"clusterkit/slurm/data/sites/{site.name}" in names
    assert not any(n.startswith("slurm/") for n in names)
    target = tmp_path / "site-packages"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target",
                    str(target), str(wheel)], check=True, capture_output=True, timeout=300)
    code = ("import clusterkit.slurm as s, clusterkit.slurm.sites as t; "
            "print(t.data_dir()); print(s.render(s.JobSpec('m', output_dir='/x'), "
            "s.load_site('generic-cluster')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd="/", env={**os.environ, "PYTHONPATH": str(target)},
                         check=True, timeout=120).stdout
    assert out.splitlines()[0] == str(target / "clusterkit" / "slurm" / "data")
    assert "module load openmpi/4.1.5" in out


# --------------------------------------------------------------------------- Numba cache
_CACHE_VARS = ("CLUSTERKIT_NUMBA_CACHE",)
_PLAIN = Site(name="plain", launcher="srun", mpi="pmix")


def _cache_env(tmp_path, site, spec_env=(), **extra):
    """What the launcher received from a rendered script: (NUMBA_CACHE_DIR,
    CLUSTERKIT_NUMBA_CACHE), and the script's stderr."""
    spec = JobSpec("clusterkit.jobs.demo", python=PY, output_dir="/tmp/ck", env=spec_env)
    call, proc = _run_script(tmp_path, render(spec, site), extra, env_names=_CACHE_VARS)
    return (call["env"]["NUMBA_CACHE_DIR"], call["env"]["CLUSTERKIT_NUMBA_CACHE"]), proc.stderr


def test_jobs_share_a_numba_cache_under_the_users_home_by_default(tmp_path):
    """No fresh per-job cache any more: every job of the user points its ranks at one
    root in $HOME (shared by the nodes), below which each rank takes its node's key."""
    got, err = _cache_env(tmp_path, _PLAIN)
    assert got == (None, str(tmp_path / ".cache/clusterkit/numba"))
    assert (tmp_path / ".cache/clusterkit/numba").is_dir() and err.count("\n") == 1
    xdg = tmp_path / "xdg"
    assert _cache_env(tmp_path, _PLAIN, XDG_CACHE_HOME=str(xdg))[0] == \
        (None, str(xdg / "clusterkit/numba"))


def test_numba_cache_dir_given_at_submit_time_is_used_as_it_is(tmp_path):
    mine = str(tmp_path / "mine")
    assert _cache_env(tmp_path, _PLAIN, NUMBA_CACHE_DIR=mine)[0] == (mine, None)
    assert _cache_env(tmp_path, _PLAIN, spec_env=(("NUMBA_CACHE_DIR", mine),))[0] == \
        (mine, None)                                   # clusterkit submit --env
    site = dataclasses.replace(_PLAIN, numba_cache="/scratch/shared")
    assert _cache_env(tmp_path, site, NUMBA_CACHE_DIR=mine)[0] == (mine, None)
    assert not (tmp_path / ".cache").exists()


def test_site_profile_numba_cache_root_with_variables(tmp_path):
    path = tmp_path / "site.toml"
    path.write_text('numba_cache = "$SCRATCH/ck cache/${LOGNAME}"\n')
    site = load_site(str(path), env={})
    assert site.numba_cache == "$SCRATCH/ck cache/${LOGNAME}"
    assert 'ck_numba_cache="$SCRATCH/ck cache/${LOGNAME}"' in render(
        JobSpec("clusterkit.jobs.demo", python=PY, output_dir="/tmp/ck"), site)
    got, _ = _cache_env(tmp_path, site, SCRATCH=str(tmp_path / "scr"), LOGNAME="me")
    assert got == (None, str(tmp_path / "scr" / "ck cache" / "me"))


def test_site_profile_numba_cache_false_keeps_a_cache_per_job(tmp_path):
    site = site_from_dict("per-job", {"numba_cache": False})
    got, err = _cache_env(tmp_path, site)
    assert got == (str(tmp_path / "clusterkit-numba-4242"), None)
    assert "cannot write" not in err and not (tmp_path / ".cache").exists()


def test_an_unwritable_numba_cache_root_falls_back_to_a_cache_per_job(tmp_path):
    """Root may write anywhere, so the root is made impossible: below a regular file."""
    (tmp_path / "notadir").write_text("")
    site = dataclasses.replace(_PLAIN, numba_cache=str(tmp_path / "notadir" / "numba"))
    got, err = _cache_env(tmp_path, site)
    assert got == (str(tmp_path / "clusterkit-numba-4242"), None)
    assert f"clusterkit: cannot write the Numba cache {tmp_path}/notadir/numba; this job " \
           "compiles its kernels into a cache of its own" in err


@pytest.mark.parametrize("value", ["relative/dir", "~/numba", "/a/$(id)", "/a/`id`", '/a/"b',
                                   "/a\\b", "/a\nb", "/a/$", "/a/${X:-y}", True, 3, ""])
def test_site_profile_numba_cache_refuses_what_is_not_a_plain_path(value):
    with pytest.raises(ValueError, match=r"^<dict>: numba_cache must be false or an "
                                         r"absolute path"):
        site_from_dict("x", {"numba_cache": value})


# --------------------------------------------------------------------------- MPI transport
_TRANSPORT = ("OMPI_MCA_pml", "OMPI_MCA_btl", "OMPI_MCA_mtl")


def _transport(tmp_path, site=_PLAIN, spec_env=(), **extra):
    """The Open MPI transport variables the launcher of a rendered script received."""
    spec = JobSpec("clusterkit.jobs.demo", python=PY, output_dir="/tmp/ck", env=spec_env)
    call, _ = _run_script(tmp_path, render(spec, site), extra, env_names=_TRANSPORT)
    return {k: v for k, v in call["env"].items() if k in _TRANSPORT and v is not None}


@pytest.mark.parametrize("launcher", ["srun", "mpirun"])
def test_a_one_node_job_names_the_shared_memory_transport_unless_one_was_chosen(tmp_path,
                                                                               launcher):
    """As clusterkit run does (launch.job_environment): under srun, Open MPI otherwise
    probes the network devices first, 0.16 s of each rank's MPI_Init on the local Slurm.
    A job across nodes, or a transport the site, the submitter or the job chose, is left
    alone."""
    site = Site(name="plain", launcher=launcher, mpi="pmix" if launcher == "srun" else None)
    shm = {"OMPI_MCA_pml": "ob1", "OMPI_MCA_btl": "self,vader"}
    assert _transport(tmp_path, site, SLURM_JOB_NUM_NODES="1") == shm
    assert _transport(tmp_path, site, SLURM_NNODES="1") == shm
    assert _transport(tmp_path, site) == shm
    for chosen in ({"SLURM_JOB_NUM_NODES": "2"}, {"SLURM_NNODES": "3"},
                   {"OMPI_MCA_pml": "ucx"}, {"OMPI_MCA_btl": "self,tcp"},
                   {"OMPI_MCA_mtl": "psm2"}):
        assert _transport(tmp_path, site, **chosen) == \
            {k: v for k, v in chosen.items() if k in _TRANSPORT}, chosen
    by_site = dataclasses.replace(site, env={"OMPI_MCA_btl": "self,tcp"})
    assert _transport(tmp_path, by_site) == {"OMPI_MCA_btl": "self,tcp"}
    assert _transport(tmp_path, site, spec_env=(("OMPI_MCA_pml", "cm"),)) == \
        {"OMPI_MCA_pml": "cm"}
