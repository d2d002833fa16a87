"""The results file of a scaling sweep: its format marker and the checked reader."""

import json

from ..errors import InputError

__all__ = ["RESULTS_FORMAT", "load_results"]

#: value of the ``format`` key of a results file
RESULTS_FORMAT = "clusterkit-bench"


def load_results(path):
    """Read and check a results file written by ``clusterkit bench``.

    Raises
    ------
    ValueError
        If it is missing, unreadable, not JSON, or not a clusterkit bench results file.
    """
    try:
        with open(path) as f:
            data = json.load(f)
    except FileNotFoundError:
        raise InputError(f"results file {path!r} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read results file {path!r}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"{path!r} is not a clusterkit bench results file (not JSON: "
                         f"{exc.msg} at line {exc.lineno})") from None
    fmt = data.get("format") if isinstance(data, dict) else None
    if fmt != RESULTS_FORMAT:
        raise InputError(f"{path!r} is not a clusterkit bench results file (format "
                         f"{fmt!r}, expected {RESULTS_FORMAT!r})")
    if data.get("version") != 1 or data.get("mode") not in ("strong", "weak") or \
            not data.get("points"):
        raise InputError(f"{path!r} is a clusterkit bench results file of an unsupported "
                         f"version or without points (version {data.get('version')!r})")
    return data
