"""One exception type for mistakes the user can fix; the CLI prints it as one line and exits 2."""

USAGE_EXIT_CODE = 2


class UserError(Exception):
    """A problem with the user's input: printed as one line, never as a traceback."""
