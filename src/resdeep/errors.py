"""One exception type for mistakes the user can fix; the CLI prints it as one line and exits 2."""

USAGE_EXIT_CODE = 2


class UserError(Exception):
    """A problem with the user's input: printed as one line, never as a traceback."""


def choose(value, choices, key: str) -> None:
    """One line when value is not among choices (the config's checks and every model family's)."""
    if value not in choices:
        raise UserError(f"{key}={value!r} is not valid; choose one of: {', '.join(map(str, choices))}")
