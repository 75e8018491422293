"""Finding run folders and reading what they recorded."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional, Tuple

from omegaconf import OmegaConf

from resdeep.models import model_id
from resdeep.engine.files import read_json
from resdeep.engine.logger import TB_DIR, read_metrics


@dataclass
class Run:
    """One run folder: which experiment, network and config, its curves and how it ended."""

    folder: Path
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
    records: List[dict] = field(default_factory=list)
    result: Optional[dict] = None
    failure: Optional[str] = None  # the last line of error.log, when the job failed
    _train_curve: Optional[List[Tuple[int, float]]] = None

    @property
    def status(self) -> str:
        if self.result:
            return self.result["status"]
        return "failed" if self.failure else "in progress"

    @property
    def iteration(self) -> int:
        if self.result:
            return self.result["iterations"]
        return self.records[-1]["iteration"] if self.records else 0

    @property
    def final_test_error(self) -> Optional[float]:
        return self.records[-1]["test_error"] if self.records else None

    @property
    def final_train_error(self) -> Optional[float]:
        return self.records[-1]["train_error"] if self.records else None

    def train_curve(self) -> List[Tuple[int, float]]:
        """(iteration, training error) at every logged point (TensorBoard's error/train), else at every evaluation."""
        if self._train_curve is None:
            self._train_curve = _tensorboard_curve(self.folder / TB_DIR, "error/train") or [
                (r["iteration"], r["train_error"]) for r in self.records if r.get("train_error") is not None]
        return self._train_curve


def _tensorboard_curve(folder: Path, tag: str) -> List[Tuple[int, float]]:
    """Every point of one scalar (no sampling); a resumed run's purged steps are already dropped by the reader."""
    if not folder.is_dir():
        return []
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(folder), size_guidance={"scalars": 0})
    events.Reload()
    if tag not in events.Tags().get("scalars", []):
        return []
    return sorted({event.step: event.value for event in events.Scalars(tag)}.items())


def family_of(model: str) -> str:
    """The network without its depth: plain56 -> plain, resnet56-B -> resnet-B."""
    return re.sub(r"\d+", "", model, count=1)


def _hydra_config(folder: Path) -> dict:
    path = folder / ".hydra" / "config.yaml"
    try:
        return OmegaConf.to_container(OmegaConf.load(path)) if path.is_file() else {}
    except Exception:  # noqa: BLE001 - an unreadable copy only costs the experiment name and length
        return {}


def load_run(folder: Path, label: str = "") -> Optional[Run]:
    """A Run from a folder holding run.json (written when training starts), else None."""
    identity = read_json(folder / "run.json")
    if not identity:
        return None
    model = model_id(identity["model"])
    result = read_json(folder / "result.json")
    composed = _hydra_config(folder)
    recipe = composed.get("recipe") or {}
    max_iters = result["max_iters"] if result else recipe.get("max_iters")
    length = {"epochs": recipe["epochs"]} if recipe.get("epochs") is not None else {"max_iters": max_iters}
    setup = {"data": identity["data"], "recipe": {**identity["recipe"], **length}}
    # out_dir/<name>/<data>/<model>/seed<k>: the name is the experiment, also when .hydra/ is gone.
    experiment = composed.get("name") or (folder.parents[2].name if len(folder.parents) > 2 else "default")
    crash, metrics = folder / "error.log", folder / "metrics.jsonl"
    # A crash the run was resumed past (error.log older than the latest metrics) is no failure any more.
    crashed = crash.is_file() and (not metrics.is_file() or crash.stat().st_mtime >= metrics.stat().st_mtime)
    failure = _last_line(crash) if crashed and not result else None
    return Run(folder, label or str(folder), experiment, identity["data"]["name"], model, family_of(model),
               identity["model"].get("depth", 0), identity["seed"], identity["model"], setup, max_iters,
               read_metrics(folder), result, failure)


def scan_runs(folders: List[Path]) -> Tuple[List[Run], List[str]]:
    """Every run under the given folders, and one line for each folder that looks like a run but cannot be read."""
    runs, problems, seen = [], [], set()
    for top in map(Path, folders):
        marks = sorted({p.parent for name in ("run.json", "error.log") for p in [*top.glob(name), *top.rglob(f"*/{name}")]})
        for folder in marks:
            resolved = folder.resolve()
            if resolved in seen:
                continue
            seen.add(resolved)
            label = str(top / folder.relative_to(top)) if folder != top else str(top)
            if not (folder / "run.json").is_file():
                problems.append(f"{label}: failed before training started (error.log: {_last_line(folder / 'error.log')})")
            elif (run := load_run(resolved, label)) is None:
                problems.append(f"{label}: run.json is unreadable")
            else:
                runs.append(run)
    return sorted(runs, key=lambda r: (r.experiment, r.data, r.family, r.depth, r.seed)), problems


def _last_line(path: Path) -> str:
    lines = [line.strip() for line in path.read_text(errors="replace").splitlines() if line.strip()]
    return lines[-1] if lines else "empty"


def find_runs(folders: List[Path]) -> List[Run]:
    """Every readable run under the given folders (each folder may itself be a run), sorted for reading."""
    return scan_runs(folders)[0]
