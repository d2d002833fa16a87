#!/usr/bin/env bash
# The whole test suite: serial tests, then the MPI tests under mpirun -n 1, 2, 3 and 4.
# Every stage runs even if an earlier one failed; exit status is non-zero if any did.
# Only rank 0 reports; other ranks' output goes to build/test-logs/ (shown on failure).
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY="${CLUSTERKIT_VENV:-$ROOT/.venv}/bin/python"
LOGS="$ROOT/build/test-logs"
rm -rf "$LOGS"; mkdir -p "$LOGS"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1 NUMBA_NUM_THREADS=1 PYTHONDONTWRITEBYTECODE=1
PYTEST=(-m pytest tests -p no:cacheprovider --color=no -q -rfE)
failed=()

stage() {  # stage NAME COMMAND...
    local name="$1"; shift
    printf '\n===== %s: %s\n' "$name" "$*"
    local t0=$SECONDS
    if "$@"; then
        printf '===== %s: passed (%d s)\n' "$name" $((SECONDS - t0))
    else
        printf '===== %s: FAILED (%d s)\n' "$name" $((SECONDS - t0))
        failed+=("$name")
        for log in "$LOGS/$name"-rank*.log; do
            [[ -s "$log" ]] && { echo "----- tail of $log"; tail -n 40 "$log"; }
        done
    fi
}

stage serial "$PY" "${PYTEST[@]}" -m "not mpi" --timeout=300 --junitxml="$LOGS/serial.xml"
stage kernels-nojit env NUMBA_DISABLE_JIT=1 "$PY" "${PYTEST[@]}" -m "not mpi" \
    -k "kernels" --timeout=300 --junitxml="$LOGS/kernels-nojit.xml"
for n in 1 2 3 4; do
    stage "mpi-n$n" timeout -k 10 1500 mpirun -n "$n" --bind-to none \
        tools/rank-output.sh "$LOGS/mpi-n$n" \
        "$PY" "${PYTEST[@]}" --with-mpi -m mpi --timeout=180 --timeout-method=thread \
        --junitxml="$LOGS/mpi-n$n.xml"
done

status=0
if ((${#failed[@]})); then
    echo "FAILED stages: ${failed[*]}"
    status=1
fi
# One closing line over all stages (rank 0's reports), for people and for CI.
"$PY" - "$LOGS"/*.xml <<'PY' || status=1
import sys, xml.etree.ElementTree as ET
n = f = s = 0
for path in sys.argv[1:]:
    for suite in ET.parse(path).getroot().iter("testsuite"):
        n += int(suite.get("tests", 0)); s += int(suite.get("skipped", 0))
        f += int(suite.get("failures", 0)) + int(suite.get("errors", 0))
print(f"total: {n - f - s} passed, {f} failed, {s} skipped")
sys.exit(1 if f or n == 0 else 0)
PY
exit $status
