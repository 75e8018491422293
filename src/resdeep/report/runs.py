"""The runs a report is made of: each run folder's record (resdeep.runs), with what grouping and curves need."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional, Tuple

from resdeep.models import model_id
from resdeep.runs import Run as RunRecord
from resdeep.runs import survey
from resdeep.runs.layout import TB_DIR


@dataclass
class Run:
    """One run in a report: which experiment, network and config, its curves and its state (from its record)."""

    record: RunRecord
    label: str  # the folder as the user named it (the report's `run` column)
    experiment: str
    data: str
    model: str
    family: str
    depth: int
    seed: int
    model_config: dict
    setup: dict  # data and recipe, length included: what must match for seeds to be averaged
    max_iters: Optional[int]
    _train_curve: Optional[List[Tuple[int, float]]] = field(default=None, repr=False)

    @property
    def folder(self) -> Path:
        return self.record.folder

    @property
    def status(self) -> str:
        """The run's state, as `resdeep status` says it: finished, diverged, running, interrupted, failed."""
        return self.record.state

    @property
    def iteration(self) -> int:
        return self.record.iteration

    @property
    def records(self) -> List[dict]:
        return self.record.records

    @property
    def result(self) -> Optional[dict]:
        return self.record.result

    @property
    def failure(self) -> Optional[str]:
        """The last error line of a failed run."""
        return self.record.detail if self.record.state == "failed" else None

    @property
    def final_test_error(self) -> Optional[float]:
        return self.records[-1]["test_error"] if self.records else None

    @property
    def final_train_error(self) -> Optional[float]:
        return self.records[-1]["train_error"] if self.records else None

    def train_curve(self) -> List[Tuple[int, float]]:
        """(iteration, training error) at every logged point (TensorBoard's error/train), else at every evaluation;
        never past the run's iteration (an interrupted run resumes there and logs the rest again)."""
        if self._train_curve is None:
            curve = _tensorboard_curve(self.folder / TB_DIR, "error/train") or [
                (r["iteration"], r["train_error"]) for r in self.records if r.get("train_error") is not None]
            self._train_curve = [(i, e) for i, e in curve if i <= self.iteration or self.status == "running"]
        return self._train_curve


def _tensorboard_curve(folder: Path, tag: str) -> List[Tuple[int, float]]:
    """Every point of one scalar (no sampling); a resumed run's purged steps are already dropped by the reader."""
    if not folder.is_dir():
        return []
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # start-up: a slow import, only for curves

    events = EventAccumulator(str(folder), size_guidance={"scalars": 0})
    events.Reload()
    if tag not in events.Tags().get("scalars", []):
        return []
    return sorted({event.step: event.value for event in events.Scalars(tag)}.items())


def family_of(model: str) -> str:
    """The network without its depth: plain56 -> plain, resnet56-B -> resnet-B."""
    return re.sub(r"\d+", "", model, count=1)


def run_length(record: RunRecord) -> dict:
    """How long the run's config trains: its max_iters, or its epochs (and max_iters when that cuts them short)."""
    recipe = record.config.get("recipe") if isinstance(record.config.get("recipe"), dict) else {}
    if recipe.get("epochs") is not None:
        return {"epochs": recipe["epochs"], **({"max_iters": recipe["max_iters"]} if recipe.get("max_iters") is not None else {})}
    return {"max_iters": (record.result or {}).get("max_iters") or recipe.get("max_iters") or record.total}


def report_run(record: RunRecord, label: str) -> Run:
    """A record with a run.json, as the report groups it."""
    identity = record.identity
    model = model_id(identity["model"])
    setup = {"data": identity["data"], "recipe": {**identity["recipe"], **run_length(record)}}
    return Run(record, label, record.experiment, identity["data"]["name"], model, family_of(model), identity["model"].get("depth", 0),
               identity["seed"], identity["model"], setup, run_length(record).get("max_iters"))


def scan_runs(folders: List[Path]) -> Tuple[List[Run], List[str]]:
    """Every run under the given folders, and one line for each job that cannot be in a table: it failed before
    training started, never started, or its files cannot be read."""
    runs, problems, seen = [], [], set()
    for top in map(Path, folders):
        for record in survey(top):
            key = record.folder.resolve()
            if key in seen:
                continue
            seen.add(key)
            label = str(top / record.folder.relative_to(top)) if record.folder != top and record.folder.is_relative_to(top) else str(record.folder)
            if record.state == "unreadable":
                problems.append(f"{label}: unreadable: {record.detail}")
            elif record.identity is None:
                why = f"failed before training started: {record.detail}" if record.state == "failed" else f"{record.state}" + (f" ({record.detail})" if record.detail else "")
                problems.append(f"{label}: {why}")
            else:
                runs.append(report_run(record, label))
    return sorted(runs, key=lambda r: (r.experiment, r.data, r.family, r.depth, r.seed)), problems


def find_runs(folders: List[Path]) -> List[Run]:
    """Every readable run under the given folders (each folder may itself be a run), sorted for reading."""
    return scan_runs(folders)[0]
