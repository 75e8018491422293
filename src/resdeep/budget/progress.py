"""How far a run has got, read from its folder: the one place resdeep.budget looks into a run folder.

resdeep.runs (in the works) will own reading run folders; this function is the one to switch to it."""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import NamedTuple, Optional, Tuple

CHECKPOINT = re.compile(r"^iter_(\d+)\.pt$")


class RunProgress(NamedTuple):
    status: Optional[str]  # result.json's status ("finished", "diverged"), None while the run is not done
    iteration: int  # the iteration it ended at, or of its newest checkpoint (0: nothing saved)
    last_logged: Tuple  # (size, mtime) of train.log and error.log: changes once a started job trains, or fails


def run_progress(run_dir: Path) -> RunProgress:
    """A run's state from its files alone (result.json, checkpoints/iter_<n>.pt, train.log, error.log)."""
    run_dir = Path(run_dir)
    try:
        result = json.loads((run_dir / "result.json").read_text())
    except (OSError, ValueError):
        result = None
    stamps = []
    for name in ("train.log", "error.log"):
        try:
            stat = (run_dir / name).stat()
            stamps.append((stat.st_size, stat.st_mtime_ns))
        except OSError:
            stamps.append(None)
    if isinstance(result, dict) and result.get("status"):
        return RunProgress(str(result["status"]), int(result.get("iterations") or 0), tuple(stamps))
    folder = run_dir / "checkpoints"
    saved = [int(m.group(1)) for p in folder.iterdir() if (m := CHECKPOINT.match(p.name))] if folder.is_dir() else []
    return RunProgress(None, max(saved, default=0), tuple(stamps))
