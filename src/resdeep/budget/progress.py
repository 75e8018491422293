"""How far a run has got, read through resdeep.runs: the one place resdeep.budget looks into a run folder."""
from __future__ import annotations

from pathlib import Path
from typing import NamedTuple, Optional, Tuple

from resdeep.runs import read_run
from resdeep.runs.layout import ERROR_FILE, LOG_FILE, STATE_FILE


class RunProgress(NamedTuple):
    status: Optional[str]  # result.json's status ("finished", "diverged"), None while the run is not done
    iteration: int  # the iteration it ended at, or of its newest checkpoint (0: nothing saved)
    last_logged: Tuple  # (size, mtime) of train.log, error.log and state.json: changes once a started job trains, or fails


def run_progress(run_dir: Path) -> RunProgress:
    """A run's state from its folder: ended (and where), else the checkpoint a rerun resumes from."""
    run_dir = Path(run_dir)
    stamps = []
    for name in (LOG_FILE, ERROR_FILE, STATE_FILE):
        try:
            stat = (run_dir / name).stat()
            stamps.append((stat.st_size, stat.st_mtime_ns))
        except OSError:
            stamps.append(None)
    run = read_run(run_dir)
    if run.ended:
        return RunProgress(run.state, run.iteration, tuple(stamps))
    return RunProgress(None, run.checkpoint or 0, tuple(stamps))
