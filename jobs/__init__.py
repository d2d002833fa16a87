"""SPMD jobs launched with ``clusterkit run`` or ``python -m clusterkit.jobs.<name>``."""

__all__ = ["JOBS", "job_module"]

#: job name (as typed after ``clusterkit run``) -> importable module
JOBS = {
    "demo": "clusterkit.jobs.demo",
    "climate-stats": "clusterkit.jobs.climate_stats",
    "diffusion": "clusterkit.jobs.diffusion",
    "stencil": "clusterkit.jobs.stencil",
}


def job_module(name):
    """Return the module path of job ``name``.

    Raises
    ------
    ValueError
        If ``name`` is not a known job; the message lists the valid ones.
    """
    try:
        return JOBS[name]
    except KeyError:
        raise ValueError(
            f"unknown job {name!r}; valid jobs: {', '.join(sorted(JOBS))}") from None
