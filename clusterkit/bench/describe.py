"""Pure descriptions for benchmark result files: the host, and timing-sample statistics (no MPI)."""

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
    """Median, min, max and interquartile range of timing samples (seconds)."""
    q = statistics.quantiles(samples, n=4) if len(samples) > 1 else [samples[0]] * 3
    return {"median": statistics.median(samples), "min": min(samples), "max": max(samples),
            "q1": q[0], "q3": q[2], "n": len(samples)}
