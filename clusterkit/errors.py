"""The input-error classes: what a user got wrong, as opposed to a bug in the code."""

__all__ = ["InputError", "InputFileNotFoundError", "InputFileExistsError",
           "InputPermissionError", "InputIsADirectoryError", "InputNotADirectoryError",
           "is_input_error"]


class InputError(ValueError):
    """Bad input: an option, an argument, a file or a site profile that cannot be used.

    Raised by argument, option and file checks with a message that names the input
    and what would be valid. :func:`clusterkit.runtime.run_job` and the ``clusterkit``
    command turn it into one line and exit status 2; every other exception is a bug
    and keeps its traceback. A ``ValueError`` subclass, so ``except ValueError`` still
    catches it.
    """


class InputFileNotFoundError(InputError, FileNotFoundError):
    """An input or output path that does not exist."""


class InputFileExistsError(InputError, FileExistsError):
    """An output that exists and may not be replaced."""


class InputPermissionError(InputError, PermissionError):
    """A path the job may not read or write."""


class InputIsADirectoryError(InputError, IsADirectoryError):
    """A directory where a file was expected."""


class InputNotADirectoryError(InputError, NotADirectoryError):
    """A file where a directory was expected."""


def is_input_error(exc):
    """Whether ``exc`` is bad input (an :class:`InputError`), not a bug."""
    return isinstance(exc, InputError)
