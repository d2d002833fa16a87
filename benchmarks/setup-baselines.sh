#!/usr/bin/env bash
# Install the baselines of benchmarks/climate_stats.py: CDO (Debian) and dask (PyPI, into
# the clusterkit venv). Not part of the library's own set-up.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${CLUSTERKIT_VENV:-$ROOT/.venv}/bin/python"
if ! command -v cdo >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq cdo >/dev/null
fi
"$PY" -m pip install -q "dask[array]" xarray h5netcdf netCDF4
