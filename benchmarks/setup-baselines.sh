#!/usr/bin/env bash
# Install the baselines of benchmarks/climate_stats.py: CDO (Debian) and dask (PyPI). Not
# part of the library's own set-up: dask goes into its own virtualenv (build/baselines, or
# $CLUSTERKIT_BASELINES), which sees clusterkit's venv (numpy, xarray, h5netcdf, netCDF4) through
# a .pth file, so installing it changes nothing the library or its tests import.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${CLUSTERKIT_VENV:-$ROOT/.venv}/bin/python"
BASE="${CLUSTERKIT_BASELINES:-$ROOT/build/baselines}"
if ! command -v cdo >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq cdo >/dev/null
fi
"$PY" -m pip install -q xarray h5netcdf netCDF4
if [ ! -x "$BASE/bin/python" ]; then
    "$PY" -m venv "$BASE"
fi
SITE="$("$PY" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')"
OWN="$("$BASE/bin/python" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')"
echo "$SITE" > "$OWN/clusterkit-venv.pth"
"$BASE/bin/python" -m pip install -q "dask[array]"
"$BASE/bin/python" -c 'import dask, numpy, xarray; print("baselines: dask", dask.__version__,
"numpy", numpy.__version__, "xarray", xarray.__version__)'
