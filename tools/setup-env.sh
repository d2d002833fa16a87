#!/usr/bin/env bash
# Set up clusterkit's environment: MPI + parallel HDF5, a .venv with mpi4py built
# against that MPI and h5py built against that parallel HDF5. Idempotent: a second
# run checks a fingerprint and returns in seconds.
#
#   tools/setup-env.sh            # create/refresh .venv
#   CLUSTERKIT_VENV=/path ...     # put the venv elsewhere
#   PYTHON=python3.12 ...         # base interpreter
#
# On a cluster, load your site's MPI and parallel HDF5 first (an `mpicc` on PATH and
# HDF5_DIR set, e.g. `module load openmpi hdf5-mpi`): nothing is installed system-wide
# then. On Debian/Ubuntu with no MPI, the distribution's Open MPI and parallel HDF5 are
# installed with apt-get (as root, or through passwordless sudo).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${CLUSTERKIT_VENV:-$ROOT/.venv}"
PYTHON="${PYTHON:-python3}"
STAMP="$VENV/.clusterkit-env"
CONSTRAINTS="$ROOT/tools/constraints.txt"
APT_PACKAGES=(openmpi-bin libopenmpi-dev libhdf5-openmpi-dev pkg-config)
APT_OPTIONAL=(netcdf-bin cdo)  # test tools: ncdump (netCDF-C reads our output), CDO (agreement)

say() { printf 'setup-env: %s\n' "$*" >&2; }
die() { printf 'setup-env: error: %s\n' "$*" >&2; exit 1; }

have_parallel_hdf5() {
    [[ -n "${HDF5_DIR:-}" && -e "${HDF5_DIR}/include/H5pubconf.h" ]] && return 0
    command -v pkg-config >/dev/null 2>&1 || return 1
    pkg-config --exists hdf5-openmpi 2>/dev/null || pkg-config --exists hdf5-mpich 2>/dev/null
}

# ---------------------------------------------------------------- system MPI + HDF5
if ! command -v mpicc >/dev/null 2>&1 || ! have_parallel_hdf5; then
    if command -v apt-get >/dev/null 2>&1; then
        SUDO=()
        if [[ "$(id -u)" != 0 ]]; then
            command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null \
                || die "MPI/parallel HDF5 missing and not root: run 'sudo apt-get install -y ${APT_PACKAGES[*]}' (or load your site's MPI and HDF5 modules with HDF5_DIR set), then rerun"
            SUDO=(sudo -n)
        fi
        say "installing ${APT_PACKAGES[*]} with apt-get"
        "${SUDO[@]}" apt-get update -qq
        DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq "${APT_PACKAGES[@]}" >/dev/null
    else
        die "no MPI compiler wrapper (mpicc) with a parallel HDF5 found and no apt-get: install an MPI (Open MPI or MPICH) and a parallel HDF5 (e.g. 'module load openmpi hdf5-mpi' with HDF5_DIR set), then rerun"
    fi
fi
command -v mpicc >/dev/null 2>&1 || die "mpicc still not found after installing MPI"
have_parallel_hdf5 || die "parallel HDF5 not found: set HDF5_DIR to a parallel HDF5 installation"

if [[ -n "${HDF5_DIR:-}" && -e "${HDF5_DIR}/include/H5pubconf.h" ]]; then
    H5_ENV=(HDF5_DIR="$HDF5_DIR")
elif pkg-config --exists hdf5-openmpi 2>/dev/null; then
    H5_ENV=(HDF5_PKGCONFIG_NAME=hdf5-openmpi)
else
    H5_ENV=(HDF5_PKGCONFIG_NAME=hdf5-mpich)
fi

# ---------------------------------------------------------------- fingerprint
fingerprint() {
    {
        cat "${BASH_SOURCE[0]}" "$CONSTRAINTS" "$ROOT/setup.py"
        command -v mpicc; mpicc -show 2>/dev/null || mpicc -showme 2>/dev/null || true
        echo "${H5_ENV[*]}"; "$PYTHON" -c 'import sys; print(sys.version)'
    } | sha256sum | cut -d' ' -f1
}
FP="$(fingerprint)"
if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$FP" ]] \
   && "$VENV/bin/python" -c 'import clusterkit, mpi4py, h5py, numba' 2>/dev/null; then
    say "environment up to date ($VENV)"
    exit 0
fi

# ---------------------------------------------------------------- venv + packages
t0=$SECONDS
[[ -x "$VENV/bin/python" ]] || "$PYTHON" -m venv "$VENV"
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check -q)
"${PIP[@]}" install -c "$CONSTRAINTS" -U pip setuptools wheel cython pkgconfig numpy

MPI_MARK="$VENV/.clusterkit-mpi4py-mpicc"
if [[ "$(cat "$MPI_MARK" 2>/dev/null)" != "$(command -v mpicc)" ]] \
   || ! "$VENV/bin/python" -c 'import mpi4py.MPI' 2>/dev/null; then
    say "building mpi4py against $(command -v mpicc)"
    MPICC="$(command -v mpicc)" "${PIP[@]}" install -c "$CONSTRAINTS" --no-build-isolation \
        --no-binary=mpi4py --force-reinstall --no-deps mpi4py
    command -v mpicc >"$MPI_MARK"
fi

if ! "$VENV/bin/python" -c 'import h5py, sys; sys.exit(0 if h5py.get_config().mpi else 1)' 2>/dev/null; then
    say "building h5py against parallel HDF5 (${H5_ENV[*]})"
    cfg="$(mktemp)"; printf '[build_ext]\nparallel = %s\n' "$(nproc 2>/dev/null || echo 2)" >"$cfg"
    env CC="$(command -v mpicc)" HDF5_MPI=ON "${H5_ENV[@]}" DIST_EXTRA_CONFIG="$cfg" \
        "${PIP[@]}" install -c "$CONSTRAINTS" --no-build-isolation --no-binary=h5py \
        --force-reinstall --no-deps h5py
    rm -f "$cfg"
fi

"${PIP[@]}" install -c "$CONSTRAINTS" numba cftime pytest pytest-mpi pytest-timeout hypothesis \
    xarray netCDF4 h5netcdf pandas matplotlib
if { ! command -v ncdump || ! command -v cdo; } >/dev/null 2>&1 \
        && command -v apt-get >/dev/null 2>&1 && [[ "$(id -u)" == 0 ]]; then
    say "installing ${APT_OPTIONAL[*]} (test tools)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${APT_OPTIONAL[@]}" >/dev/null \
        || say "could not install ${APT_OPTIONAL[*]}; the ncdump and CDO checks will be skipped"
fi
"${PIP[@]}" install -c "$CONSTRAINTS" --no-build-isolation -e "$ROOT"

"$VENV/bin/python" - <<'PY' || die "verification failed (see above)"
import h5py, mpi4py, numba, clusterkit
assert h5py.get_config().mpi, "h5py was built without MPI support"
print("setup-env: mpi4py %s, h5py %s (parallel HDF5 %s), numba %s"
      % (mpi4py.__version__, h5py.__version__, h5py.version.hdf5_version, numba.__version__))
PY
echo "$FP" >"$STAMP"
say "done in $((SECONDS - t0)) s ($VENV)"
