"""What this node is: host name, platform, CPU count and model (no MPI, no state).

Recorded with profiles and benchmark results, so a result says which machine
produced it: under a batch system that is the compute node the ranks ran on,
not the host that submitted the job.
"""

import os
import platform

__all__ = ["describe_node"]


def describe_node():
    """Host name, platform, CPU count and CPU model (``None`` if unknown) of this node."""
    info = {"hostname": platform.node(), "platform": platform.platform(),
            "cpu_count": os.cpu_count(), "cpu_model": None}
    try:
        with open("/proc/cpuinfo") as f:
            info["cpu_model"] = next((line.split(":", 1)[1].strip() for line in f
                                      if line.startswith("model name")), None)
    except OSError:
        pass
    return info
