"""The exception types the CLI turns into a one-line message and a non-zero exit (no traceback)."""


class UserError(Exception):
    """A mistake in the user's input (a path, a spec, a file's contents): say what and where. Exit 2."""

    exit_code = 2


class Incomplete(UserError):
    """A run stopped or ended without every problem done, for reasons outside the user's input (a backend or
    the sandbox down): say how to continue. Exit 3, so scripts can tell it from a mistake and from success."""

    exit_code = 3
