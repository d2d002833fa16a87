"""SPMD jobs launched with ``clusterkit run`` or ``python -m clusterkit.jobs.<name>``."""

__all__ = ["JOBS"]

#: job name (as typed after ``clusterkit run``) -> importable module
JOBS = {
    "demo": "clusterkit.jobs.demo",
    "climate-stats": "clusterkit.jobs.climate_stats",
    "diffusion": "clusterkit.jobs.diffusion",
    "stencil": "clusterkit.jobs.stencil",
}

