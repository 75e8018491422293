"""A run's state, written for machines (state.json) and read back the same way by every command.

The training process rewrites state.json at each log point and at every exit it lives through (finished,
diverged, interrupted, failed); what it cannot write (a kill -9, a lost machine) is told by the lock: a run
whose state says running but whose lock holder is gone was interrupted, and resumes from its newest checkpoint.
"""
from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional

import yaml

from resdeep.atomic_files import write_json
from resdeep.runs.layout import ERROR_FILE, HYDRA_DIR, METRICS_FILE, STATE_FILE, checkpoint_paths
from resdeep.runs.lock import holder_is_alive
from resdeep.runs.records import DamagedFile, last_error_line, read_identity, read_metrics, read_result, read_state

# Every state a run can be in, in the order tables count them.
STATES = ("not started", "running", "interrupted", "failed", "diverged", "finished", "unreadable")
STALE_S = 900  # a run on another machine whose state.json has not changed for this long is not counted as running


class StateWriter:
    """state.json of one run, rewritten whole (atomically) each time; the run's fixed facts are kept in every write."""

    def __init__(self, run_dir: Path, **fixed):
        self.path = Path(run_dir) / STATE_FILE
        self.fixed = {"host": socket.gethostname(), "pid": os.getpid(), **fixed}

    def write(self, state: str, iteration: int, **values) -> None:
        write_json(self.path, {"state": state, "iteration": iteration, **self.fixed, **values, "updated": time.time()})


def record_failure(run_dir: Path, text: str, **fixed) -> None:
    """A failed attempt: error.log gets the whole text (one line, or a traceback), state.json its last line.

    Best effort: when the disk is what failed, the console's line is all there is."""
    run_dir = Path(run_dir)
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / ERROR_FILE).write_text(text if text.endswith("\n") else text + "\n")
        StateWriter(run_dir, **fixed).write("failed", 0, error=last_error_line(run_dir))
    except OSError:
        pass


@dataclass
class Run:
    """Everything a run folder says about its run, read once: what every command shows."""

    folder: Path
    state: str  # one of STATES
    iteration: int = 0  # finished/diverged: its last; running: its last log point; otherwise: where a rerun resumes
    total: Optional[int] = None  # the iterations this run trains to (recipe.max_iters), when known
    detail: Optional[str] = None  # failed: the last error line; unreadable: which file and why; not started: why
    identity: Optional[dict] = None  # run.json
    result: Optional[dict] = None  # result.json
    records: List[dict] = field(default_factory=list)  # metrics.jsonl, up to `iteration` unless running
    progress: dict = field(default_factory=dict)  # state.json's last write
    config: dict = field(default_factory=dict)  # .hydra/config.yaml (the composed config), {} without it
    checkpoint: Optional[int] = None  # the newest checkpoint's iteration

    @property
    def model(self) -> Optional[str]:
        from_files = (self.result or {}).get("model") or self.progress.get("model")
        if from_files or not self.identity:
            return from_files
        from resdeep.models import model_id  # builds the name from run.json: models load only when needed

        return model_id(self.identity["model"])

    @property
    def seed(self) -> Optional[int]:
        for source in (self.identity or {}, self.progress, self.config):
            if isinstance(source.get("seed"), int):
                return source["seed"]
        return None

    @property
    def data(self) -> Optional[str]:
        return ((self.identity or {}).get("data") or self.config.get("data") or {}).get("name")

    @property
    def experiment(self) -> str:
        """The experiment name (the first folder under out_dir): from the config, else from the folder layout."""
        return self.config.get("name") or (self.folder.parents[2].name if len(self.folder.parents) > 2 else "default")

    @property
    def train_error(self) -> Optional[float]:
        """The last training error: result.json's, else the last log point's, else the last evaluation's."""
        for value in ((self.result or {}).get("final_train_error"), self.progress.get("train_error"),
                      self.records[-1].get("train_error") if self.records else None):
            if value is not None:
                return value
        return None

    @property
    def test_error(self) -> Optional[float]:
        return self.records[-1].get("test_error") if self.records else None

    @property
    def images_per_s(self) -> Optional[float]:
        return self.progress.get("images_per_s") if self.state == "running" else None

    @property
    def seconds_left(self) -> Optional[float]:
        rate, batch = self.images_per_s, self.progress.get("batch_size")
        if not (rate and batch and self.total):
            return None
        return max(0, self.total - self.iteration) * batch / rate

    @property
    def ended(self) -> bool:
        return self.state in ("finished", "diverged")


def _composed_config(folder: Path) -> dict:
    """The composed config Hydra recorded; {} when absent or unreadable (it only names the experiment and length)."""
    try:
        config = yaml.safe_load((folder / HYDRA_DIR / "config.yaml").read_text())
    except (OSError, yaml.YAMLError):
        return {}
    return config if isinstance(config, dict) else {}


def _is_running(folder: Path, progress: dict) -> bool:
    """A live process holds the run's lock on this host, or (another host) the run wrote its state recently."""
    alive = holder_is_alive(folder)
    if alive is not None:
        return alive
    return progress.get("state") == "running" and time.time() - (folder / STATE_FILE).stat().st_mtime < STALE_S


def _failed_before_state_files(folder: Path) -> bool:
    """A run of resdeep before 0.2 (no state.json) failed when its error.log is newer than its last evaluation."""
    crash, metrics = folder / ERROR_FILE, folder / METRICS_FILE
    return crash.is_file() and (not metrics.is_file() or crash.stat().st_mtime >= metrics.stat().st_mtime)


def read_run(folder: Path) -> Run:
    """The run in `folder` as its files tell it; a damaged file makes it 'unreadable', named in `detail`."""
    folder = Path(folder)
    if not folder.is_dir():
        return Run(folder, "not started", detail="no folder")
    try:
        identity, result, progress, records = read_identity(folder), read_result(folder), read_state(folder) or {}, read_metrics(folder)
    except DamagedFile as damaged:
        return Run(folder, "unreadable", detail=str(damaged))
    config = _composed_config(folder)
    checkpoints = checkpoint_paths(folder)
    newest = checkpoints[0][0] if checkpoints else None
    recipe = config.get("recipe") if isinstance(config.get("recipe"), dict) else {}
    total = (result or {}).get("max_iters") or progress.get("total") or recipe.get("max_iters")
    run = Run(folder, "not started", 0, total, None, identity, result, records, progress, config, newest)
    if result is not None:
        run.state, run.iteration = result["status"], result["iterations"]
    elif _is_running(folder, progress):
        logged = records[-1]["iteration"] if records else 0
        run.state, run.iteration = "running", progress.get("iteration", max(newest or 0, logged))
    elif progress.get("state") == "failed" or (not progress and _failed_before_state_files(folder)):
        run.state, run.detail = "failed", progress.get("error") or last_error_line(folder)
    elif progress or identity or newest is not None or records:
        run.state = "interrupted"
    if run.state in ("interrupted", "failed"):
        # A rerun resumes from the newest checkpoint: what came after it will be trained and measured again.
        run.iteration = newest or 0
        run.records = [r for r in records if r["iteration"] <= run.iteration]
    return run
