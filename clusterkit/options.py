"""Parsing of command-line values shared by the jobs and the CLI (pure, no MPI)."""

__all__ = ["parse_ints"]


def parse_ints(text, count, minimum=1):
    """``"a,b,c"`` → a tuple of ``count`` ints, each >= ``minimum``; ``None`` if it is not that.

    Callers turn ``None`` into their own error message naming the option.
    """
    try:
        values = tuple(int(s) for s in text.split(","))
    except ValueError:
        return None
    return values if len(values) == count and min(values) >= minimum else None
