"""Parsing of command-line values shared by the jobs and the CLI (pure, no MPI)."""

import argparse
import math

__all__ = ["parse_ints", "integer_at_least", "positive_number"]


def parse_ints(text, count, minimum=1):
    """``"a,b,c"`` → a tuple of ``count`` ints, each >= ``minimum``; ``None`` if it is not that.

    Callers turn ``None`` into their own error message naming the option.
    """
    try:
        values = tuple(int(s) for s in text.split(","))
    except ValueError:
        return None
    return values if len(values) == count and min(values) >= minimum else None


def integer_at_least(minimum, note=""):
    """An ``argparse`` type: an integer >= ``minimum``; ``note`` (e.g. ``" (number of
    ranks)"``) follows the rule in the message of a bad value."""
    rule = {0: "a non-negative integer", 1: "a positive integer"}.get(
        minimum, f"an integer >= {minimum}")

    def parse(text):
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < minimum:
            raise argparse.ArgumentTypeError(f"must be {rule}{note}, got {text!r}")
        return value
    return parse


def positive_number(unit, maximum=None):
    """An ``argparse`` type: a positive, finite number of ``unit`` (at most ``maximum``);
    ``inf``, ``nan``, 0 and negative values are refused, naming the rule."""
    limit = f" up to {maximum}" if maximum is not None else ""

    def parse(text):
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and value > 0) or (maximum is not None and
                                                        value > maximum):
            raise argparse.ArgumentTypeError(f"must be a positive, finite number of "
                                             f"{unit}{limit}, got {text!r}")
        return value
    return parse
