"""A sweep run as batch jobs: its manifest, per-run profile files, and collecting the results.

A batch sweep (``clusterkit bench … --slurm``) submits one job per rank count; each job
starts the program ``warmup + repeat`` times in a row and every run leaves the tracer's
profile summary at :func:`profile_path` in the sweep's staging directory
(``OUT/slurm``, on the shared file system). The manifest ``OUT/slurm/sweep.json``
records what was submitted, so the results can be assembled later, by another process
(``clusterkit bench collect OUT``), into the same ``results.json`` a local sweep writes.

Nothing here knows about the batch system itself: job IDs, log files and states are
data handed in by the caller.
"""

import datetime
import json
import os
import platform
import re

from ..trace_report import write_json_atomic
from .sweep import point_record, results_record
from ..errors import InputError

__all__ = ["MANIFEST_FORMAT", "STAGING", "MANIFEST", "PointMissing", "staging_dir",
           "profile_path", "write_manifest", "read_manifest", "run_log", "collect_results"]

#: value of the ``format`` key of a manifest
MANIFEST_FORMAT = "clusterkit-bench-batch"
#: the staging directory's name inside the sweep's output directory
STAGING = "slurm"
#: the manifest's file name inside the staging directory
MANIFEST = "sweep.json"

_RUN_LINE = re.compile(r"^clusterkit: run (\d+) (started|ended) (\d+(?:\.\d+)?)"
                       r"(?: in job (\S+) on (\S+))?\s*$", re.M)


class PointMissing(RuntimeError):
    """A job finished but left no (valid) profile for one of its runs."""


def staging_dir(out):
    """Return the staging directory of the sweep whose results go to ``out``."""
    return os.path.join(os.path.abspath(out), STAGING)


def profile_path(staging, ranks, run):
    """Return where run ``run`` (0 is the first, warm-up runs included) at ``ranks`` leaves
    its profile summary; ``run`` may be a placeholder string for the batch system."""
    return os.path.join(staging, "profiles", f"r{ranks}-run{run}.json")


def write_manifest(staging, manifest):
    """Write ``manifest`` (a dict; format keys are added) atomically into ``staging``."""
    record = {"format": MANIFEST_FORMAT, "version": 1,
              "created": datetime.datetime.now(datetime.timezone.utc)
              .isoformat(timespec="seconds"), "host": platform.node(), **manifest}
    write_json_atomic(os.path.join(staging, MANIFEST), record, indent=1)
    return record


def read_manifest(path):
    """Read the manifest of the sweep in ``path`` (its output directory or staging directory).

    Raises
    ------
    ValueError
        If there is no manifest there, or it is not one.
    """
    path = os.path.abspath(path)
    candidates = [os.path.join(path, STAGING, MANIFEST), os.path.join(path, MANIFEST)]
    found = next((c for c in candidates if os.path.isfile(c)), None)
    if found is None:
        raise InputError(f"{path!r} holds no batch sweep (no {STAGING}/{MANIFEST}); give the "
                         "--out directory of a `clusterkit bench … --slurm` run")
    try:
        with open(found) as f:
            data = json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"cannot read the sweep manifest {found!r}: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != MANIFEST_FORMAT or \
            data.get("version") != 1 or not data.get("points"):
        raise InputError(f"{found!r} is not a clusterkit batch-sweep manifest")
    data["staging"] = os.path.dirname(found)
    data["out"] = os.path.dirname(data["staging"])
    return data


def run_log(log_text):
    """Return what a job's log says about its runs, from its ``clusterkit: run …`` lines.

    Returns
    -------
    dict
        ``{run: {"job_id": …, "node": …, "launch_s": seconds or None}}``, one entry per
        run that started (``launch_s`` is ``None`` for a run that did not end).
    """
    runs, started = {}, {}
    for m in _RUN_LINE.finditer(log_text):
        k, t = int(m.group(1)), float(m.group(3))
        if m.group(2) == "started":
            started[k] = t
            runs[k] = {"job_id": m.group(4), "node": m.group(5), "launch_s": None}
        elif k in started:
            runs[k]["launch_s"] = t - started[k]
    return runs


def _load_profile(path, ranks, where):
    try:
        with open(path) as f:
            data = json.load(f)
    except FileNotFoundError:
        raise PointMissing(f"{where} left no profile {path}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PointMissing(f"{where}: unreadable profile {path}: {exc}") from None
    if not isinstance(data, dict) or "wall_s" not in data or "regions" not in data:
        raise PointMissing(f"{where}: {path} is not a clusterkit profile summary")
    if data.get("ranks") != ranks:
        raise PointMissing(f"{where}: the run had {data.get('ranks')} ranks in one world, "
                           f"expected {ranks} (is the site's launcher set up for this MPI?)")
    return data


def collect_results(manifest, jobs=None):
    """Assemble the results record of a finished batch sweep from its profile files.

    Parameters
    ----------
    manifest : dict
        As returned by :func:`read_manifest`.
    jobs : dict, optional
        Per rank count, what the batch system says about its job (state, nodes, …);
        stored in each point's ``slurm`` entry.

    Returns
    -------
    dict
        The same record a local sweep writes (:func:`clusterkit.bench.sweep.run_sweep`),
        with ``launcher`` ``"slurm"`` and, per point, the job's ID and log files.

    Raises
    ------
    PointMissing
        Naming the rank count and the job's log file, if a run left no valid profile.
    """
    warmup, repeat = manifest["warmup"], manifest["repeat"]
    points, commands, node = [], [], None
    for p in manifest["points"]:
        r = p["ranks"]
        where = (f"{r} rank{'s' if r > 1 else ''}: Slurm job {p['job_id']} (log "
                 f"{p['stderr']})")
        try:
            with open(p["stderr"], errors="replace") as f:
                log = run_log(f.read())
        except OSError:
            log = {}
        profiles, launch_s, point_cmds, runs = [], [], [], []
        for k in range(warmup, warmup + repeat):
            path = profile_path(manifest["staging"], r, k)
            profiles.append(_load_profile(path, r, where))
            seen = log.get(k, {"job_id": None, "node": None, "launch_s": None})
            launch_s.append(seen["launch_s"])
            runs.append({"run": k, **seen})
            point_cmds.append(f"CLUSTERKIT_PROFILE=1 CLUSTERKIT_PROFILE_JSON={path} "
                              f"{p['launch']}  # run {k} of Slurm job {p['job_id']}, "
                              f"script {p['script']}")
        commands += point_cmds
        node = node or next((q["node"] for q in profiles if q.get("node")), None)
        slurm = {"job_id": p["job_id"], "script": p["script"], "stdout": p["stdout"],
                 "stderr": p["stderr"], "nodes": p["nodes"],
                 "ntasks_per_node": p["ntasks_per_node"], "runs": runs,
                 "hosts": sorted({h for q in profiles for h in q.get("hosts", []) if h}),
                 **(jobs or {}).get(r, {})}
        launch_s = None if None in launch_s else launch_s
        points.append(point_record(r, p["args"], profiles, launch_s, point_cmds,
                                   oversubscribed=False,
                                   numba_threads=manifest["cpus_per_task"], slurm=slurm))
    record = results_record(
        manifest["mode"], manifest["job"], manifest["target"], manifest["job_args"],
        manifest["ranks"], repeat, warmup, None, points, commands,
        weak_rule=manifest.get("weak_rule"), launcher="slurm",
        slurm={"site": manifest["site"], "submitted": manifest["created"],
               "submit_host": manifest["host"],
               "job_ids": [p["job_id"] for p in manifest["points"]]})
    if node:  # describe the compute node the ranks ran on, not this (submit) host
        here = record["machine"]
        record["slurm"]["submit_host_machine"] = {k: here.get(k) for k in node}
        record["machine"] = {**here, **node, "described_on": "compute node (rank 0 of "
                             "the first timed run)", "cores_available": None}
    return record
