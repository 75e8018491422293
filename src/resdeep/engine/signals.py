"""SIGTERM, SIGINT, and SIGUSR1/SIGUSR2 (what SLURM and submitit send before a time limit) ask the loop to
stop at the next iteration boundary, after a checkpoint."""
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
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1, signal.SIGUSR2):
            try:
                self._previous[signum] = signal.signal(signum, self._handle)
            except ValueError:  # not the main thread: leave the defaults
                pass
        return self

    def __exit__(self, *exc) -> None:
        if self.requested:
            # Ignore further stops: a second Ctrl-C while the process winds down must not turn the requeue
            # exit code (75) into 130. SIG_IGN, not a Python handler, which Python resets at shutdown.
            for signum in (signal.SIGTERM, signal.SIGINT):
                signal.signal(signum, signal.SIG_IGN)
            return
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

    def hand_over(self) -> None:
        """After the checkpoint, give a stop to the job system that was watching for it (submitit's handler
        of SIGUSR1/SIGUSR2 requeues the job and exits); returns when there is none."""
        watchers = [s for s in (signal.SIGUSR2, signal.SIGUSR1) if callable(self._previous.get(s))]
        if self.requested and watchers:
            signum = getattr(signal, self.signal_name) if self.signal_name in ("SIGUSR1", "SIGUSR2") else watchers[0]
            if signum in watchers:
                signal.signal(signum, self._previous[signum])
                self._previous[signum](signum, None)

    @property
    def requested(self) -> bool:
        return self.signal_name is not None
