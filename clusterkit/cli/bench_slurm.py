"""``clusterkit bench … --slurm`` and ``bench collect``: a scaling sweep as Slurm jobs.

The glue between :mod:`clusterkit.bench` (sweep records, plots, the batch-sweep
manifest) and :mod:`clusterkit.slurm` (job specs, sbatch, scontrol). It lives in the
cli layer because bench and slurm are siblings that do not import each other.

One job per rank count (``ntasks`` = r, on one node or ``ceil(r / --ntasks-per-node)``
nodes) runs the job ``warmup + repeat`` times in a row in its allocation
(:data:`JobSpec.runs`), each run writing the tracer's profile summary into
``OUT/slurm/profiles/`` on the shared file system. The command then polls
``scontrol`` until every job has ended and writes ``OUT/results.json`` and the plots,
the same files a local sweep writes; ``--no-wait`` returns after submitting and
``clusterkit bench collect OUT`` assembles them later.

Exit status: 0 done; 1 a job failed, was cancelled, or left no results (one line naming
the rank count and the job's log file); 2 bad input or sbatch refused a job (nothing
stays submitted); 3 jobs still queued or running when the wait ended (they keep going).
"""

import os
import shlex
import shutil
import subprocess
import sys
import time

from ..bench.batch import (PointMissing, collect_results, profile_path, read_manifest,
                           staging_dir, write_manifest)
from ..bench.sweep import JobFailed, prepare_output, publish
from ..jobs import weak_rule
from ..launch import job_environment
from ..slurm.commands import find_command, run_slurm
from ..slurm.query import FINISHED_STATES, NEVER_STARTS, job_records
from ..slurm.render import launch_command
from ..slurm.sites import load_site
from ..slurm.spec import RUN_INDEX, JobSpec
from ..slurm.submit import submit
from ..errors import InputError

__all__ = ["submit_sweep", "collect", "node_layout", "wait_for_jobs", "failure_line",
           "SweepFailed", "NotFinished", "EXIT_NOT_FINISHED"]

#: exit status while jobs are still queued or running
EXIT_NOT_FINISHED = 3
_POLL_FIRST, _POLL_MAX = 0.5, 30.0       # seconds between scontrol polls, growing by 1.5x


class SweepFailed(RuntimeError):
    """A job of the sweep failed, was cancelled, or left no results (exit status 1)."""


class NotFinished(RuntimeError):
    """Jobs of the sweep are still queued or running (exit status 3)."""


def _ranks(r):
    return f"{r} rank{'s' if r > 1 else ''}"


def node_layout(ranks, per_node=None):
    """Return ``(nodes, ntasks_per_node)`` for ``ranks`` ranks, at most ``per_node`` a node.

    Without ``per_node`` every rank count is one node. Raises ValueError if ``ranks``
    exceeds ``per_node`` and is not a multiple of it.
    """
    if per_node is None or ranks <= per_node:
        return 1, ranks
    if ranks % per_node:
        raise InputError(f"--ranks entry {ranks} is not a multiple of --ntasks-per-node "
                         f"{per_node}: give rank counts that fill whole nodes")
    return ranks // per_node, per_node


def _last_error(path):
    """The last line of a job's error log that is not Slurm's or the template's chatter."""
    try:
        with open(path, errors="replace") as f:
            lines = [line.strip() for line in f if line.strip()]
    except OSError:
        return None
    noise = ("srun: ", "slurmstepd: ", "clusterkit: ", "----", "prterun ", "mpirun ")
    useful = [line for line in lines if not line.startswith(noise)]
    return (useful or lines or [None])[-1]


def _fails(record):
    """Whether a job record says the job failed or can never start."""
    state = record.get("JobState") if record else None
    return state in FINISHED_STATES - {"COMPLETED"} or \
        (state == "PENDING" and record.get("Reason") in NEVER_STARTS)


def failure_line(point, record):
    """One line saying which rank count's job ended badly, how, and where its log is."""
    record = record or {}
    state, reason = record.get("JobState"), record.get("Reason", "None")
    if state is None:
        how = "forgotten by Slurm"
    elif state == "PENDING":
        how = f"cannot start: pending with reason {reason} (Slurm accepted a request the " \
              "partition cannot meet)"
    else:
        details = [f"exit code {record['ExitCode']}"] if record.get("ExitCode") else []
        if reason not in ("None", "NonZeroExitCode", ""):
            details.append(f"reason {reason}")
        how = state + (f" ({', '.join(details)})" if details else "")
    why = _last_error(point["stderr"]) if os.path.exists(point["stderr"]) else None
    return (f"{_ranks(point['ranks'])}: Slurm job {point['job_id']} {how}; log "
            f"{point['stderr']}" + (f": {why}" if why else ""))


def _job_info(record):
    keys = (("state", "JobState"), ("exit_code", "ExitCode"), ("node_list", "NodeList"),
            ("partition", "Partition"), ("elapsed", "RunTime"), ("start", "StartTime"),
            ("end", "EndTime"))
    return {k: record.get(key) for k, key in keys} if record else {"state": None}


def wait_for_jobs(manifest, timeout, *, log=None, cancel_on_failure=False):
    """Poll the sweep's jobs until all have ended; return ``{ranks: job info}``.

    A job Slurm no longer knows counts as ended (its profiles decide). ``timeout`` 0
    looks once.

    Raises
    ------
    SweepFailed
        As soon as one job ended in another state than COMPLETED, or is pending for a
        reason in :data:`NEVER_STARTS` (the others are cancelled first with
        ``cancel_on_failure``; the one that cannot start too).
    NotFinished
        If jobs are still queued or running after ``timeout`` seconds.
    """
    deadline, delay, seen = time.monotonic() + timeout, _POLL_FIRST, {}
    while True:
        records = {}
        for p in manifest["points"]:
            found = job_records(p["job_id"])
            records[p["ranks"]] = found[0] if found else None
        for p in manifest["points"]:
            rec = records[p["ranks"]]
            state = rec.get("JobState") if rec else None
            if log and state != seen.get(p["ranks"], "") and state is not None:
                where = f" on {rec['NodeList']}" if state == "RUNNING" and \
                    rec.get("NodeList") not in (None, "", "(null)") else ""
                reason = rec.get("Reason", "None")
                log(f"{_ranks(p['ranks'])}: job {p['job_id']} {state}{where}"
                    + (f" ({reason})" if state == "PENDING" and reason != "None" else ""))
            seen[p["ranks"]] = state
        bad = [p for p in manifest["points"] if _fails(records[p["ranks"]])]
        if bad:
            line = failure_line(bad[0], records[bad[0]["ranks"]])
            if cancel_on_failure:
                rest = [p["job_id"] for p in manifest["points"]
                        if records[p["ranks"]] is not None
                        and records[p["ranks"]].get("JobState") not in FINISHED_STATES]
                if rest:
                    run_slurm(["scancel", *rest], check=False)
                    line += f"; cancelled the sweep's unfinished " \
                            f"job{'s' if len(rest) > 1 else ''} {', '.join(rest)}"
            raise SweepFailed(line)
        waiting = [p for p in manifest["points"] if records[p["ranks"]] is not None
                   and records[p["ranks"]].get("JobState") not in FINISHED_STATES]
        if not waiting:
            return {r: _job_info(rec) for r, rec in records.items()}
        left = deadline - time.monotonic()
        if left <= 0:
            raise NotFinished(", ".join(
                f"{_ranks(p['ranks'])} job {p['job_id']} {records[p['ranks']]['JobState']}"
                + (f" ({records[p['ranks']].get('Reason')})"
                   if records[p['ranks']].get("Reason", "None") != "None" else "")
                for p in waiting))
        time.sleep(min(delay, left))
        delay = min(delay * 1.5, _POLL_MAX)


def _existing_sweep(staging):
    """Refuse to replace a sweep in ``staging`` whose jobs are still queued or running."""
    try:
        old = read_manifest(staging)
    except ValueError:
        return
    busy = [p["job_id"] for p in old["points"]
            if any(r.get("JobState") not in FINISHED_STATES for r in job_records(p["job_id"]))]
    if busy:
        raise InputError(f"{old['out']!r} already holds a Slurm sweep whose jobs "
                         f"{', '.join(busy)} are queued or running: collect it with "
                         f"`clusterkit bench collect {old['out']}`, cancel it, or give "
                         "another --out")


def _warmup(args):
    """Untimed runs per job: 1 by default, as each job compiles the kernels afresh."""
    return 1 if args.warmup is None else args.warmup


def _specs(args, ranks, target, is_module, name, staging, site, rule):
    """Validate everything and return ``[(ranks, spec, setup commands)]``; submit nothing."""
    runs = _warmup(args) + args.repeat
    specs = []
    for r in ranks:
        job_args, setup = (rule(args.job_args, r, staging) if rule is not None
                           else (list(args.job_args), []))
        nodes, per_node = node_layout(r, args.ntasks_per_node)
        env = (("CLUSTERKIT_PROFILE", "1"), ("CLUSTERKIT_TRACE", ""),
               ("CLUSTERKIT_PROFILE_JSON", profile_path(staging, r, RUN_INDEX)))
        spec = JobSpec(target=target, module=is_module, args=job_args, python=sys.executable,
                       job_name=f"bench-{name}-{args.bench_mode}-{r}", nodes=nodes,
                       ntasks_per_node=per_node, cpus_per_task=args.cpus_per_task or 1,
                       time=args.time, partition=args.partition, account=args.account,
                       qos=args.qos, output_dir=staging, env=env, sbatch_extra=args.sbatch,
                       runs=runs)
        launch_command(spec, site)
        specs.append((r, spec, setup))
    return specs


def _prepare(specs):
    """Run the weak-scaling set-up commands (e.g. make-dataset) here, before submitting."""
    for r, _, setup in specs:
        for cmd in setup:
            proc = subprocess.run(cmd, env=job_environment(1), capture_output=True, text=True,
                                  stdin=subprocess.DEVNULL)
            if proc.returncode:
                lines = proc.stderr.strip().splitlines() or ["no error output"]
                raise JobFailed(f"preparing {_ranks(r)} ({shlex.join(cmd)}) exited with status "
                                f"{proc.returncode}: {lines[-1]}", 1)


def submit_sweep(args, ranks, target, is_module, name, out, rule=None):
    """Submit the sweep of parsed ``bench strong|weak --slurm`` arguments; exit status.

    ``rule`` is the job's weak-scaling :class:`clusterkit.jobs.Rule` (default: found by
    :func:`clusterkit.jobs.weak_rule`). Every option, the site profile and the jobs' specs
    are checked before sbatch is looked for or anything is written. The caller removes
    ``out`` if it made it and it stays empty.
    """
    if args.bench_mode == "weak" and rule is None:
        rule = weak_rule(args.job, target, is_module, getattr(args, "scale", None))
    site = load_site(args.site)
    staging = staging_dir(out)
    specs = _specs(args, ranks, target, is_module, name, staging, site,
                   rule if args.bench_mode == "weak" else None)
    find_command("sbatch")
    out = prepare_output(out)
    submitted, created, done = [], False, False
    try:
        _existing_sweep(staging)
        shutil.rmtree(staging, ignore_errors=True)      # an ended sweep's leftovers
        created = True
        os.makedirs(os.path.dirname(profile_path(staging, 1, 0)))
        _prepare(specs)
        points = []
        for r, spec, _ in specs:
            sub = submit(spec, site)
            submitted.append(sub.job_id)
            points.append({"ranks": r, "job_id": sub.job_id, "args": list(spec.args),
                           "script": sub.script, "stdout": sub.stdout, "stderr": sub.stderr,
                           "launch": launch_command(spec, site).replace(" \\\n    ", " "),
                           "nodes": spec.nodes,
                           "ntasks_per_node": spec.ntasks_per_node})
        write_manifest(staging, {
            "mode": args.bench_mode, "job": args.job, "target": target, "module": is_module,
            "job_args": list(args.job_args), "ranks": list(ranks), "repeat": args.repeat,
            "warmup": _warmup(args), "cpus_per_task": args.cpus_per_task or 1,
            "site": site.name, "plots": not args.no_plots, "points": points,
            "weak_rule": rule.text if args.bench_mode == "weak" else None})
        done = True
    except JobFailed as exc:
        sys.stderr.write(f"clusterkit bench: error: {exc}\n")
        return exc.status
    finally:
        if not done:            # nothing stays submitted, nothing stays behind
            if submitted:
                run_slurm(["scancel", *submitted], check=False)
            if created:
                shutil.rmtree(staging, ignore_errors=True)
    ids = ", ".join(f"{_ranks(p['ranks'])}: job {p['job_id']}" for p in points)
    hint = f"clusterkit bench collect {shlex.quote(out)}"
    if args.no_wait:
        print("\n".join(p["job_id"] for p in points), flush=True)
        sys.stderr.write(f"clusterkit bench: submitted {len(points)} Slurm jobs (site "
                         f"{site.name}; {ids}); logs in {staging}; when they have ended, "
                         f"collect the results with: {hint}\n")
        return 0
    print(f"clusterkit bench {args.bench_mode} {args.job}: ranks {list(ranks)}, "
          f"{args.repeat} run{'s' if args.repeat > 1 else ''} each, as Slurm jobs (site "
          f"{site.name}; {ids}) -> {out}", flush=True)
    timeout = 3600.0 if args.timeout is None else args.timeout
    return _wait_and_publish(read_manifest(out), timeout, not args.no_plots,
                             cancel_on_failure=True, hint=hint)


def _wait_and_publish(manifest, timeout, plots, *, cancel_on_failure, hint, waited=True):
    try:
        jobs = wait_for_jobs(manifest, timeout, cancel_on_failure=cancel_on_failure,
                             log=(lambda line: print(line, flush=True)) if waited else None)
        results = collect_results(manifest, jobs)
    except (SweepFailed, PointMissing) as exc:
        sys.stderr.write(f"clusterkit bench: error: {exc}\n")
        return 1
    except NotFinished as exc:
        when = f"after waiting {timeout:g} s" if waited and timeout else "yet"
        sys.stderr.write(f"clusterkit bench: not finished {when}: {exc}; the jobs keep going: "
                         f"collect the results later with: {hint}"
                         + ("" if waited and timeout else " --wait") + "\n")
        return EXIT_NOT_FINISHED
    except KeyboardInterrupt:
        sys.stderr.write(f"\nclusterkit bench: interrupted; the jobs keep going: collect the "
                         f"results later with: {hint}\n")
        return 130
    names = publish(results, manifest["out"], plots=plots)
    print(f"wrote {os.path.join(manifest['out'], 'results.json')}"
          + "".join(f", {n}" for n in names[:-1]))
    return 0


def collect(args):
    """``clusterkit bench collect DIR``: assemble a ``--slurm`` sweep's results; exit status."""
    manifest = read_manifest(args.out)
    hint = f"clusterkit bench collect {shlex.quote(manifest['out'])}"
    return _wait_and_publish(manifest, args.timeout if args.wait else 0,
                             manifest.get("plots", True) and not args.no_plots,
                             cancel_on_failure=False, hint=hint, waited=args.wait)
