"""Serial tests of what a sweep records and draws: quartiles, busy points, plot labels and
legends (synthetic results, except one tiny real sweep with an injected load average)."""

import os

import numpy as np
import pytest

from clusterkit.bench.describe import summary
from clusterkit.bench.plot import scaling_curve, scaling_figures
from clusterkit.bench.sweep import JobFailed, run_sweep


@pytest.mark.parametrize("samples", [[1.0, 2.0], [2.0, 1.0], [1.0, 2.0, 10.0],
                                     [0.3, 0.1, 0.2]])
def test_quartiles_lie_between_the_samples(samples):
    """Two or three samples: the quartiles interpolate between them (numpy's default
    percentile), never beyond min or max as the exclusive method does (q1 = 0.75 for
    samples 1 and 2)."""
    s = summary(samples)
    assert s["min"] <= s["q1"] <= s["median"] <= s["q3"] <= s["max"]
    assert [s["q1"], s["q3"]] == pytest.approx(np.percentile(samples, [25, 75]))


def test_a_busy_machine_warns_and_marks_the_point(tmp_path):
    """The load average is read before each rank count: above the machine's cores, the
    point is marked busy and a warning names the load and the rank count."""
    cores = os.cpu_count()
    loads = iter([(0.0, 0.1, 0.2), (cores + 1.5, cores + 0.5, 1.0)])
    lines, warnings = [], []
    res = run_sweep("strong", "demo", "clusterkit.jobs.demo", True, [1, 2], repeat=1,
                    job_args=["--shape", "2,3,4"], workdir=str(tmp_path), timeout=120,
                    log=lines.append, warn=warnings.append, load_average=lambda: next(loads))
    quiet, busy = res["points"]
    assert quiet["busy"] is False and quiet["load_average"] == [0.0, 0.1, 0.2]
    assert busy["busy"] is True and busy["load_average"] == [cores + 1.5, cores + 0.5, 1.0]
    assert len(warnings) == 1, warnings
    assert warnings[0].startswith(f"warning: load average {cores + 1.5:.2f} on this "
                                  f"machine's {cores} cores before the 2-rank runs")
    assert not [line for line in lines if "warning" in line]


def test_a_failing_run_on_a_busy_machine_ends_with_its_error_only(tmp_path):
    """Bad job arguments stay one error line: the busy warning comes after a point's runs."""
    warnings = []
    busy = (os.cpu_count() + 1.0,) * 3
    with pytest.raises(JobFailed, match="--shape must be"):
        run_sweep("strong", "demo", "clusterkit.jobs.demo", True, [1], repeat=1,
                  job_args=["--shape", "4,x,16"], workdir=str(tmp_path), timeout=120,
                  log=lambda line: None, warn=warnings.append, load_average=lambda: busy)
    assert warnings == []


def _results(times, mode="strong", cores=2, busy=(), ranks=(1, 2, 4)):
    points = [{"ranks": r, "job_s": {"median": t, "min": t * 0.95, "max": t * 1.05},
               "oversubscribed": r > cores, "busy": r in busy,
               "breakdown_s": {"compute": t * 0.8, "halo": t * 0.1, "io": 0.0,
                               "other": t * 0.1}}
              for r, t in zip(ranks, times)]
    return {"mode": mode, "cores": cores, "job": "diffusion", "points": points,
            "machine": {"hostname": "h"}}


def _figures(*results):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    figs = dict(scaling_figures([(r, f"sweep {i}") for i, r in enumerate(results)]))
    for fig in figs.values():
        FigureCanvasAgg(fig).draw()
    return figs


def test_the_speedup_axis_says_which_speedup():
    strong, weak = _results([1.5, 0.8, 0.5]), _results([1.0, 1.1, 1.3], mode="weak")
    label = lambda *runs: _figures(*runs)["speedup.png"].axes[0].get_ylabel()  # noqa: E731
    assert label(strong).startswith("speedup ")
    assert label(weak).startswith("scaled speedup ")
    assert label(strong, weak) == "speedup (strong), scaled speedup (weak)"
    assert "weak" not in label(strong) and "strong" not in label(weak)


def _drawn_points(ax):
    """Display coordinates along every line (straight between vertices, as drawn), every
    error bar and every bar of ``ax``."""
    chunks = []
    for line in ax.lines:
        xy = line.get_transform().transform(line.get_path().vertices)
        xy = xy[np.isfinite(xy).all(axis=1)]
        for a, b in zip(xy[:-1], xy[1:]):
            chunks.append(a + np.linspace(0, 1, 200)[:, None] * (b - a))
        chunks.append(xy)
    for coll in ax.collections:
        for seg in coll.get_segments():
            chunks.append(coll.get_transform().transform(seg))
    for patch in ax.patches:
        box = patch.get_window_extent()
        chunks.append(np.array([[box.x0, box.y0], [box.x1, box.y1], [box.x0, box.y1],
                                [box.x1, box.y0]]))
    return np.concatenate(chunks)


@pytest.mark.parametrize("times", [
    [1.564, 0.670, 0.953],            # superlinear, then oversubscribed (docs/profiling.md)
    [1.0, 0.51, 0.27],                # near ideal: efficiency hugs the ideal line
    [1.0, 0.7, 0.6],
], ids=["superlinear", "near-ideal", "poor"])
def test_no_legend_covers_data(times):
    for name, fig in _figures(_results(times, busy=(2,))).items():
        legends = list(fig.legends) + [ax.get_legend() for ax in fig.axes if ax.get_legend()]
        assert legends, name
        for legend in legends:
            box = legend.get_window_extent()
            for ax in fig.axes:
                xy = _drawn_points(ax)
                inside = ((xy[:, 0] > box.x0) & (xy[:, 0] < box.x1) & (xy[:, 1] > box.y0)
                          & (xy[:, 1] < box.y1))
                assert not inside.any(), (name, ax.get_ylabel(), xy[inside][:3])


def test_busy_points_are_marked_on_every_plot():
    res = _results([1.0, 0.6, 0.5], busy=(2,))
    assert scaling_curve(res)["busy"] == [False, True, False]
    figs = _figures(res)
    for name in ("time.png", "speedup.png"):
        for ax in figs[name].axes:
            crosses = [line for line in ax.lines if line.get_marker() == "x"
                       and list(line.get_xdata()) == [2]]
            assert len(crosses) == 1, (name, ax.get_ylabel())
        labels = [t.get_text() for t in figs[name].legends[0].get_texts()]
        assert "busy: load average > cores" in labels
    ticks = [t.get_text() for t in figs["breakdown.png"].axes[0].get_xticklabels()]
    assert ticks == ["1", "2!", "4*"]
    quiet = _figures(_results([1.0, 0.6, 0.5]))
    assert not [line for ax in quiet["speedup.png"].axes for line in ax.lines
                if line.get_marker() == "x"]
