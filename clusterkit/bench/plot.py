"""PNG plots of scaling results: time, speedup and efficiency against ideal, time breakdown.

matplotlib is imported here only, when a plot is drawn, and used through its
object API with the Agg canvas (no pyplot, no global backend switch).

Plots (``prefix`` is empty for one sweep, ``compare-`` for an overlay):

``time.png``
    job time (median, bars from the fastest to the slowest repeat) against
    ranks, log-log, with the ideal curve (strong: ``t_b r_b / r``; weak:
    ``t_b``), ``b`` being the smallest rank count of the sweep;
``speedup.png``
    speedup ``S = r_b t_b / t`` (strong) or scaled speedup ``S = r t_b / t``
    (weak; the y-axis says which), ideal ``S = r``, and parallel efficiency
    ``E = S / r``, ideal 1;
``breakdown.png``
    per rank count, the mean rank's time stacked as compute / JIT (Numba
    compiling or loading kernels) / halo / I/O / other (collectives, gathers),
    from the tracer's outermost library regions (results without a ``jit``
    entry, from before it was measured, count it as 0).

Oversubscribed points (more ranks than cores) are drawn hollow (hatched bars);
a dotted line marks the core count. Busy points (the machine's load average exceeded
its cores when the point started: other processes competed for them) get a red cross
(``!`` after the rank count on the breakdown). Legends go below the axes, where they
cover no data.
"""

import os

__all__ = ["scaling_curve", "scaling_figures", "plot_results", "speedup_label", "PLOTS",
           "CATEGORIES"]

#: file names of the plots
PLOTS = ("time.png", "speedup.png", "breakdown.png")
#: breakdown categories (key in the results, label)
CATEGORIES = (("compute", "compute"), ("jit", "JIT (compile, cache load)"),
              ("halo", "halo exchange"), ("io", "I/O"), ("other", "other (collectives, gathers)"))


def scaling_curve(results):
    """Return the arrays of one sweep: ranks, median/min/max time, ideal, speedup, efficiency.

    Returns
    -------
    dict
        ``ranks``, ``time``, ``tmin``, ``tmax``, ``ideal_time``, ``speedup``,
        ``efficiency``, ``oversubscribed``, ``busy`` (lists, one entry per rank count).
    """
    pts = sorted(results["points"], key=lambda p: p["ranks"])
    r = [p["ranks"] for p in pts]
    t = [p["job_s"]["median"] for p in pts]
    rb, tb = r[0], t[0]
    if results["mode"] == "strong":
        ideal = [tb * rb / n for n in r]
        speedup = [rb * tb / x for x in t]
    else:
        ideal = [tb for _ in r]
        speedup = [n * tb / x for n, x in zip(r, t)]
    return {"ranks": r, "time": t, "tmin": [p["job_s"]["min"] for p in pts],
            "tmax": [p["job_s"]["max"] for p in pts], "ideal_time": ideal,
            "speedup": speedup, "efficiency": [s / n for s, n in zip(speedup, r)],
            "oversubscribed": [bool(p.get("oversubscribed")) for p in pts],
            "busy": [bool(p.get("busy")) for p in pts]}


def speedup_label(modes):
    """The speedup axis label for sweeps of the given modes (``"strong"``/``"weak"``)."""
    kinds = {"strong": r"speedup  $S = r_b\,t_b\,/\,t$",
             "weak": r"scaled speedup  $S = r\,t_b\,/\,t$"}
    modes = sorted(set(modes))
    if len(modes) == 1:
        return kinds[modes[0]]
    return "speedup (strong), scaled speedup (weak)"


def _label(results, path=None):
    m = results.get("machine", {})
    where = m.get("hostname", "?")
    return f"{results['job']} {results['mode']} ({where}" + \
        (f", {os.path.basename(os.path.dirname(os.path.abspath(path)))})" if path else ")")


_BUSY_STYLE = {"marker": "x", "ls": "none", "color": "red", "ms": 10, "mew": 1.5, "zorder": 5}


def _markers(ax, x, y, over, busy, color, label, yerr=None):
    solid = [i for i, o in enumerate(over) if not o]
    hollow = [i for i, o in enumerate(over) if o]
    ax.plot(x, y, "-", color=color, label=label)
    if yerr is not None:
        ax.errorbar(x, y, yerr=yerr, fmt="none", ecolor=color, capsize=3)
    ax.plot([x[i] for i in solid], [y[i] for i in solid], "o", color=color)
    if hollow:
        ax.plot([x[i] for i in hollow], [y[i] for i in hollow], "o", mfc="white", color=color)
    marked = [i for i, b in enumerate(busy) if b]
    if marked:
        ax.plot([x[i] for i in marked], [y[i] for i in marked], **_BUSY_STYLE)


def _legend_below(fig, axes, busy_any):
    """One legend for ``axes`` under them (outside every axes: it covers no data)."""
    handles, labels = [], []
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    if busy_any:
        from matplotlib.lines import Line2D
        handles.append(Line2D([], [], **_BUSY_STYLE))
        labels.append("busy: load average > cores")
    fig.legend(handles, labels, loc="outside lower center", fontsize=8,
               ncol=min(3, len(labels)))


def _decorate(ax, cores, ranks, over_any):
    ax.set_xscale("log", base=2)
    ax.set_xticks(ranks, [str(r) for r in ranks])
    ax.set_xlabel("ranks")
    ax.grid(True, which="both", alpha=0.3)
    if cores and cores < max(ranks):
        ax.axvline(cores, color="grey", ls=":", lw=1,
                   label=f"{cores} cores (hollow: oversubscribed)" if over_any else None)


def _save(fig, path):
    tmp = f"{path}.tmp{os.getpid()}.png"
    fig.savefig(tmp, dpi=110)
    os.replace(tmp, path)
    return path


def scaling_figures(runs):
    """Draw the plots of one or several sweeps (overlaid), without saving them.

    Parameters
    ----------
    runs : list of (dict, str)
        ``(results, label)`` pairs; ``label`` names the sweep in the legends.

    Returns
    -------
    list of (str, matplotlib.figure.Figure)
        One ``(file name, figure)`` per plot, in the order of :data:`PLOTS`.
    """
    from matplotlib.figure import Figure
    colors = ["C0", "C1", "C2", "C3", "C4", "C5", "C6", "C7"]
    curves = [(scaling_curve(res), res, label) for res, label in runs]
    all_ranks = sorted({r for c, _, _ in curves for r in c["ranks"]})
    cores = min(res.get("cores") or 0 for _, res, _ in curves) or None
    over_any = any(any(c["oversubscribed"]) for c, _, _ in curves)
    busy_any = any(any(c["busy"]) for c, _, _ in curves)
    title = (curves[0][2] if len(curves) == 1 else "scaling comparison")
    figures = []

    fig = Figure(figsize=(6.4, 5.2), layout="constrained")
    ax = fig.add_subplot()
    for i, (c, res, label) in enumerate(curves):
        col = colors[i % len(colors)]
        err = [[m - lo for m, lo in zip(c["time"], c["tmin"])],
               [hi - m for m, hi in zip(c["time"], c["tmax"])]]
        _markers(ax, c["ranks"], c["time"], c["oversubscribed"], c["busy"], col, label,
                 yerr=err)
        ax.plot(c["ranks"], c["ideal_time"], "--", color=col, alpha=0.6, lw=1,
                label=f"ideal ({res['mode']})")
    ax.set_yscale("log")
    ax.set_ylabel("job time [s] (median of repeats, slowest rank)")
    _decorate(ax, cores, all_ranks, over_any)
    ax.set_title(f"time vs ranks: {title}", fontsize=10)
    _legend_below(fig, [ax], busy_any)
    figures.append((PLOTS[0], fig))

    fig = Figure(figsize=(10, 4.8), layout="constrained")
    ax_s, ax_e = fig.subplots(1, 2)
    for i, (c, res, label) in enumerate(curves):
        col = colors[i % len(colors)]
        _markers(ax_s, c["ranks"], c["speedup"], c["oversubscribed"], c["busy"], col, label)
        _markers(ax_e, c["ranks"], c["efficiency"], c["oversubscribed"], c["busy"], col,
                 label)
    ax_s.plot(all_ranks, all_ranks, "k--", lw=1, label="ideal")
    ax_s.set_yscale("log", base=2)
    ax_s.set_ylabel(speedup_label(res["mode"] for _, res, _ in curves))
    ax_e.axhline(1.0, color="k", ls="--", lw=1, label="ideal")
    ax_e.set_ylim(0, max(1.1, max(max(c["efficiency"]) for c, _, _ in curves) * 1.05))
    ax_e.set_ylabel(r"parallel efficiency  $E = S\,/\,r$")
    for ax in (ax_s, ax_e):
        _decorate(ax, cores, all_ranks, over_any)
    _legend_below(fig, [ax_s, ax_e], busy_any)
    fig.suptitle(f"speedup and efficiency: {title}", fontsize=10)
    figures.append((PLOTS[1], fig))

    fig = Figure(figsize=(max(5.0, 3.6 * len(curves)), 5.0), layout="constrained")
    axes = fig.subplots(1, len(curves), sharey=True, squeeze=False)[0]
    for ax, (c, res, label) in zip(axes, curves):
        pts = sorted(res["points"], key=lambda p: p["ranks"])
        x = list(range(len(pts)))
        bottom = [0.0] * len(pts)
        for j, (key, name) in enumerate(CATEGORIES):
            h = [p["breakdown_s"].get(key, 0.0) for p in pts]
            bars = ax.bar(x, h, bottom=bottom, color=f"C{j}", label=name, width=0.7)
            for bar, p in zip(bars, pts):
                if p.get("oversubscribed"):
                    bar.set_hatch("//")
            bottom = [b + v for b, v in zip(bottom, h)]
        ax.set_xticks(x, [str(p["ranks"]) + ("*" if p.get("oversubscribed") else "")
                          + ("!" if p.get("busy") else "") for p in pts])
        ax.set_xlabel("ranks (* oversubscribed" + (", ! busy" if busy_any else "") + ")")
        ax.set_title(label, fontsize=9)
        ax.grid(True, axis="y", alpha=0.3)
    axes[0].set_ylabel("time per rank [s] (mean over ranks)")
    _legend_below(fig, axes[:1], False)
    fig.suptitle("where the time goes", fontsize=10)
    figures.append((PLOTS[2], fig))
    return figures


def plot_results(runs, out_dir, prefix=""):
    """Draw the plots of one or several sweeps (overlaid) into ``out_dir``.

    Parameters
    ----------
    runs : list of (dict, str)
        ``(results, label)`` pairs; ``label`` names the sweep in the legends.
    out_dir : str
        Existing directory; files are written under a temporary name, then renamed.
    prefix : str
        Prepended to the file names (:data:`PLOTS`).

    Returns
    -------
    list of str
        Paths of the PNG files written.
    """
    return [_save(fig, os.path.join(out_dir, prefix + name))
            for name, fig in scaling_figures(runs)]
