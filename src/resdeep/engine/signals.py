"""SIGTERM and SIGINT ask the loop to stop at the next iteration boundary, after a checkpoint."""
from __future__ import annotations

import signal

# Exit code after a requested stop, so a scheduler can requeue: EX_TEMPFAIL ("try again").
INTERRUPTED_EXIT_CODE = 75


class StopRequest:
    """Installs handlers that set a flag; the loop checks it once per iteration."""

    def __init__(self):
        self.signal_name: str | None = None
        self._previous = {}

    def _handle(self, signum, _frame):
        self.signal_name = signal.Signals(signum).name

    def __enter__(self) -> "StopRequest":
        for signum in (signal.SIGTERM, signal.SIGINT):
            try:
                self._previous[signum] = signal.signal(signum, self._handle)
            except ValueError:  # not the main thread: leave the defaults
                pass
        return self

    def __exit__(self, *exc) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

    @property
    def requested(self) -> bool:
        return self.signal_name is not None
