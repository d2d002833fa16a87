"""Numba kernels on plain local ndarrays (no MPI, no I/O); see DESIGN.md."""

from .advection import upwind_step, upwind_step_parallel, upwind_step_serial
from .climate import TimeStats, accumulate_time_stats, climate_anomalies
from .diffusion import (
    diffusion_kappa_dt_limit,
    diffusion_step,
    diffusion_step_parallel,
    diffusion_step_serial,
)
from .exactsum import EXACT_ACC_LEN, exact_sum_normalize, exact_sum_value, local_sum_exact
from .percentiles import nan_percentiles
from .reductions import (
    chan_combine,
    local_minmax,
    local_moments,
    local_sum,
    local_sum_kahan,
    nan_count,
    neumaier_combine,
)
from .stencil import (
    box_stencil,
    box_stencil_parallel,
    box_stencil_serial,
    star_stencil,
    star_stencil_parallel,
    star_stencil_serial,
    stencil_weights,
)
from .stream import stream_triad, stream_triad_parallel, stream_triad_serial

__all__ = [
    "TimeStats",
    "accumulate_time_stats",
    "EXACT_ACC_LEN",
    "box_stencil",
    "box_stencil_parallel",
    "box_stencil_serial",
    "chan_combine",
    "climate_anomalies",
    "diffusion_kappa_dt_limit",
    "diffusion_step",
    "diffusion_step_parallel",
    "diffusion_step_serial",
    "exact_sum_normalize",
    "exact_sum_value",
    "local_minmax",
    "local_moments",
    "local_sum",
    "local_sum_exact",
    "local_sum_kahan",
    "nan_count",
    "nan_percentiles",
    "neumaier_combine",
    "star_stencil",
    "star_stencil_parallel",
    "star_stencil_serial",
    "stencil_weights",
    "stream_triad",
    "stream_triad_parallel",
    "stream_triad_serial",
    "upwind_step",
    "upwind_step_parallel",
    "upwind_step_serial",
]
