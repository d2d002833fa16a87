"""Slurm support: job specs, batch-script templates, site profiles, partition limits,
sbatch/squeue/scontrol/scancel.

Nothing here imports mpi4py; scripts are rendered by a pure function
(:func:`clusterkit.slurm.render.render`) and submitted by running ``sbatch`` with an
argument list, never through a shell.
"""

from .render import render
from .sites import Site, load_site
from .spec import JobSpec

__all__ = ["JobSpec", "Site", "load_site", "render"]
