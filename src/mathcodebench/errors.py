"""The one exception type the CLI turns into a one-line message and a non-zero exit (no traceback)."""


class UserError(Exception):
    """A mistake in the user's input (a path, a spec, a file's contents): say what and where."""
