"""``clusterkit bench strong|weak|collect|plot``: scaling sweeps, JSON results, PNG plots.

    clusterkit bench strong JOB --ranks 1,2,4 [--repeat R] [--out DIR] [-- job args]
    clusterkit bench weak   JOB --ranks 1,2,4 [--scale ARG=GROWTH] [--repeat R] [--out DIR]
                            [-- job args]
    clusterkit bench strong JOB --ranks 1,2,4 --slurm [--no-wait] [site options] [-- …]
    clusterkit bench collect DIR [--wait]
    clusterkit bench plot RESULTS.json... [--out DIR] [--labels A,B]

The job's own arguments come after ``--``; a weak sweep grows them by the job's rule
(:func:`clusterkit.jobs.weak_rule`: ``--scale``, a built-in job's, or the job file's
``WEAK_SCALING``). Results go to ``DIR/results.json``
and ``DIR/{time,speedup,breakdown}.png`` (default DIR: ``bench-results/JOB-MODE``);
nothing is left in DIR when a run fails. Locally the sweep runs with mpirun
(:mod:`clusterkit.bench.sweep`); with ``--slurm`` it is one Slurm job per rank count
(:mod:`clusterkit.cli.bench_slurm`), collected when they finish or later by ``collect``.
"""

import argparse
import os
import shutil
import sys
import tempfile

from .run import positive_int, resolve_job
from ..options import integer_at_least, positive_number
from ..errors import InputError

__all__ = ["add_parser", "handle"]


class _BenchParser(argparse.ArgumentParser):
    """One-line errors (exit 2); everything after the first ``--`` is the job's arguments."""

    def error(self, message):
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise SystemExit(2)

    def parse_known_args(self, args=None, namespace=None):
        args = list(sys.argv[1:] if args is None else args)
        job_args = []
        if "--" in args:
            i = args.index("--")
            args, job_args = args[:i], args[i + 1:]
        ns, extras = super().parse_known_args(args, namespace)
        if hasattr(ns, "job_args"):
            ns.job_args = job_args
        return ns, extras


#: the longest --timeout: a child process's wait is limited to INT_MAX milliseconds
_MAX_SECONDS = 1_000_000
_seconds = positive_number("seconds", maximum=_MAX_SECONDS)


def add_parser(sub):
    """Register the ``bench`` subcommand and its ``strong``/``weak``/``plot`` modes."""
    p = sub.add_parser("bench", help="strong/weak scaling sweeps and their plots",
                       description="Run a job at several rank counts with mpirun, collect "
                       "its time and the tracer's per-region times, and plot scaling curves.")
    modes = p.add_subparsers(dest="bench_mode", metavar="MODE", parser_class=_BenchParser)
    modes.required = True
    for mode, what in (("strong", "fixed problem, more ranks"),
                       ("weak", "problem grown with the ranks by the job's weak-scaling "
                        "rule")):
        m = modes.add_parser(mode, help=f"{mode} scaling: {what}",
                             description=f"{mode.capitalize()} scaling sweep ({what}). The "
                             "job's own arguments follow '--'.",
                             usage=f"clusterkit bench {mode} JOB --ranks 1,2,4 [--repeat R] "
                             + ("[--scale ARG=GROWTH] " if mode == "weak" else "")
                             + "[--out DIR] [--slurm [--no-wait] [Slurm options]] "
                             "[-- job args]")
        m.add_argument("job", metavar="JOB", help="job name, module path or script.py")
        m.add_argument("--ranks", required=True, metavar="LIST",
                       help="comma-separated rank counts, e.g. 1,2,4")
        m.add_argument("--repeat", type=positive_int, default=3, metavar="R",
                       help="timed runs per rank count (default 3; the median is plotted)")
        m.add_argument("--warmup", type=integer_at_least(0), default=None, metavar="W",
                       help="untimed runs per rank count before the timed ones (default 0; "
                       "1 with --slurm, where every job compiles the kernels afresh)")
        m.add_argument("--out", metavar="DIR",
                       help="directory for results.json and the plots "
                       "(default bench-results/JOB-MODE)")
        m.add_argument("--timeout", type=_seconds, default=None, metavar="S",
                       help="seconds before one run is killed (default 600); with --slurm, "
                       "seconds to wait for the jobs (default 3600; they keep running "
                       "after it)")
        m.add_argument("--no-plots", action="store_true", help="write results.json only")
        if mode == "weak":
            m.add_argument("--scale", action="append", metavar="ARG=GROWTH",
                           help="how the job's argument ARG grows with the ranks r "
                           "(repeatable; replaces the job's own rule): ARG an option name "
                           "(shape for --shape) or a positional argument's number, GROWTH "
                           "one factor per comma-separated value of it: 1, ranks, sqrt "
                           "(x sqrt(r)) or cbrt; e.g. shape=1,ranks,1 or 2=sqrt. Without "
                           "it: the rule of a built-in job, or the job file's "
                           "WEAK_SCALING = {...} (docs/profiling.md)")
        _slurm_options(m)
        m.set_defaults(handler=handle, job_args=[], scale=None)
    co = modes.add_parser("collect", help="assemble the results of a --slurm sweep",
                          description="Assemble results.json and the plots of a sweep "
                          "submitted with --slurm (--no-wait) once its jobs have finished. "
                          "Exit status 3 while jobs are still queued or running.")
    co.add_argument("out", metavar="DIR", help="the --out directory of the sweep")
    co.add_argument("--wait", action="store_true",
                    help="wait for jobs still queued or running")
    co.add_argument("--timeout", type=_seconds, default=3600.0, metavar="S",
                    help="with --wait: seconds to wait (default 3600)")
    co.add_argument("--no-plots", action="store_true", help="write results.json only")
    co.set_defaults(handler=handle)
    pl = modes.add_parser("plot", help="redraw and overlay results files",
                          description="Redraw the plots of one results.json, or overlay "
                          "several (files compare-*.png).")
    pl.add_argument("results", nargs="+", metavar="RESULTS.json")
    pl.add_argument("--out", metavar="DIR",
                    help="directory for the PNGs (default: that of the first results file)")
    pl.add_argument("--labels", metavar="A,B,...", help="legend labels, one per file")
    pl.set_defaults(handler=handle)


#: options that only make sense with --slurm (dest, option)
_SLURM_ONLY = (("no_wait", "--no-wait"), ("site", "--site"), ("partition", "--partition"),
               ("time", "--time"), ("account", "--account"), ("qos", "--qos"),
               ("ntasks_per_node", "--ntasks-per-node"), ("cpus_per_task", "--cpus-per-task"),
               ("sbatch", "--sbatch"))


def _slurm_options(m):
    g = m.add_argument_group("Slurm", "with --slurm, one job per rank count, each running "
                             "the warm-up and timed runs in a row; the results are collected "
                             "when the jobs end (see also 'bench collect')")
    add = g.add_argument
    add("--slurm", action="store_true", help="submit the sweep as Slurm jobs")
    add("--no-wait", action="store_true", help="submit, print the job IDs and return; "
        "collect later with: clusterkit bench collect DIR")
    add("--site", help="site profile name or .toml path (default: $CLUSTERKIT_SITE or local)")
    add("-p", "--partition", help="partition (default: the site's)")
    add("-t", "--time", help="time limit of each job (default: the site's)")
    add("-A", "--account", help="account to charge (default: the site's)")
    add("-q", "--qos", help="quality of service (default: the site's)")
    add("--ntasks-per-node", type=positive_int, metavar="N",
        help="ranks per node: r ranks take ceil(r/N) nodes (default: all on one node)")
    add("-c", "--cpus-per-task", type=positive_int, metavar="N",
        help="cores per rank; NUMBA_NUM_THREADS follows it (default 1)")
    add("--sbatch", action="append", default=[], metavar="--OPTION[=VALUE]",
        help="any other sbatch option (repeatable)")


def _first_missing_dir(path):
    """Return the outermost directory on the way to ``path`` that does not exist yet.

    ``None`` if ``path`` exists; :func:`_remove_made_dirs` removes what a failed run made.
    """
    path, missing = os.path.abspath(path), None
    while not os.path.lexists(path) and os.path.dirname(path) != path:
        path, missing = os.path.dirname(path), path
    return missing


def _remove_made_dirs(path, top):
    """Remove ``path`` and its parents up to ``top`` while they are empty directories."""
    if top is None:
        return
    path = os.path.abspath(path)
    while path.startswith(top):
        try:
            os.rmdir(path)
        except OSError:
            return
        path = os.path.dirname(path)


def _sweep(args):
    from clusterkit.bench.sweep import parse_ranks
    from clusterkit.jobs import weak_rule
    if not args.slurm:
        given = [opt for dest, opt in _SLURM_ONLY if getattr(args, dest) not in (None, False, [])]
        if given:
            raise InputError(f"{', '.join(given)} only make{'s' if len(given) == 1 else ''} "
                             "sense with --slurm")
    ranks = parse_ranks(args.ranks)
    target, is_module = resolve_job(args.job)
    rule = (weak_rule(args.job, target, is_module, args.scale)
            if args.bench_mode == "weak" else None)
    name = os.path.basename(args.job.rstrip("/")) or "job"
    out = args.out or os.path.join("bench-results", f"{name}-{args.bench_mode}")
    top = _first_missing_dir(out)
    try:
        if args.slurm:
            from .bench_slurm import submit_sweep
            return submit_sweep(args, ranks, target, is_module, name, out, rule=rule)
        if rule is not None:            # bad arguments fail here, before anything is made
            for r in ranks:
                rule(args.job_args, r, os.path.abspath(out))
        return _local_sweep(args, ranks, target, is_module, out, rule)
    finally:
        _remove_made_dirs(out, top)      # a failed sweep leaves no trace of itself


def _weak(args, rule, workdir):
    """``run_sweep``'s weak-scaling keywords for the job's ``rule`` (none for strong)."""
    if rule is None:
        return {}
    return {"scale": lambda r: rule(args.job_args, r, workdir), "weak_rule": rule.text}


def _local_sweep(args, ranks, target, is_module, out, rule):
    from clusterkit.bench.sweep import JobFailed, prepare_output, publish, run_sweep
    timeout = 600.0 if args.timeout is None else args.timeout
    out = prepare_output(out)
    work = tempfile.mkdtemp(prefix=".bench-", dir=out)
    try:
        print(f"clusterkit bench {args.bench_mode} {args.job}: ranks {ranks}, "
              f"{args.repeat} run{'s' if args.repeat > 1 else ''} each -> {out}", flush=True)
        try:
            results = run_sweep(args.bench_mode, args.job, target, is_module, ranks,
                                args.repeat, job_args=args.job_args, workdir=work,
                                warmup=args.warmup or 0, timeout=timeout,
                                log=lambda line: print(line, flush=True),
                                warn=lambda line: print(f"clusterkit bench: {line}",
                                                        file=sys.stderr, flush=True),
                                **_weak(args, rule, work))
        except JobFailed as exc:
            sys.stderr.write(f"clusterkit bench: error: {exc}\n")
            return exc.status
        publish(results, out, plots=not args.no_plots)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"wrote {os.path.join(out, 'results.json')}"
          + "".join(f", {p}" for p in results["plots"]))
    return 0


def _plot(args):
    from clusterkit.bench.plot import plot_results
    from clusterkit.bench.results import load_results
    from clusterkit.bench.sweep import default_label, prepare_output
    runs = [load_results(p) for p in args.results]
    labels = args.labels.split(",") if args.labels else None
    if labels is not None and len(labels) != len(runs):
        raise InputError(f"--labels has {len(labels)} entries for {len(runs)} results files")
    if labels is None:
        folder = lambda p: os.path.basename(os.path.dirname(os.path.abspath(p)))  # noqa: E731
        labels = [default_label(r) if len(runs) == 1 else
                  f"{r['job']} {r['mode']} ({folder(p)})" for r, p in zip(runs, args.results)]
    out = args.out or os.path.dirname(os.path.abspath(args.results[0]))
    top = _first_missing_dir(out)
    try:
        paths = plot_results(list(zip(runs, labels)), prepare_output(out),
                             prefix="" if len(runs) == 1 else "compare-")
    finally:
        _remove_made_dirs(out, top)
    print("wrote " + ", ".join(paths))
    return 0


def handle(args):
    """Run the sweep, collect a Slurm sweep, or draw the plots; return the exit status."""
    if args.bench_mode == "collect":
        from .bench_slurm import collect
        return collect(args)
    return _plot(args) if args.bench_mode == "plot" else _sweep(args)
