"""Pure descriptions for benchmark result files: the host, timing-sample statistics (no MPI)."""

import datetime
import os
import statistics

from ..node import describe_node

__all__ = ["host_info", "summary"]


def host_info():
    """Hostname, platform, CPU count and model, load average and the UTC date."""
    return {**describe_node(), "load_average": os.getloadavg(),
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}


def summary(samples):
    """Median, min, max and quartiles of timing samples (seconds).

    The quartiles are interpolated between the samples themselves (``statistics``'
    inclusive method), so ``min <= q1 <= median <= q3 <= max`` holds for any number of
    samples; the default exclusive method extrapolates beyond the extremes for a few
    samples (two samples 1 and 2 would give q1 = 0.75).
    """
    q = (statistics.quantiles(samples, n=4, method="inclusive") if len(samples) > 1
         else [samples[0]] * 3)
    return {"median": statistics.median(samples), "min": min(samples), "max": max(samples),
            "q1": q[0], "q3": q[2], "n": len(samples)}
