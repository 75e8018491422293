"""Finding run folders and reading what they recorded."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional

from resdeep.config import model_id
from resdeep.engine.files import read_json
from resdeep.engine.logger import read_metrics


@dataclass
class Run:
    """One run folder: which network, which data, its curves and how it ended."""

    folder: Path
    data: str
    model: str
    family: str
    depth: int
    seed: int
    model_config: dict
    max_iters: int
    records: List[dict] = field(default_factory=list)
    result: Optional[dict] = None

    @property
    def status(self) -> str:
        if self.result:
            return self.result["status"]
        return "in progress"

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


def family_of(model: str) -> str:
    """The network without its depth: plain56 -> plain, resnet56-B -> resnet-B."""
    return re.sub(r"\d+", "", model, count=1)


def load_run(folder: Path) -> Optional[Run]:
    """A Run from a folder holding run.json (written when training starts), else None."""
    identity = read_json(folder / "run.json")
    if not identity:
        return None
    model = model_id(identity["model"])
    result = read_json(folder / "result.json")
    hydra_config = folder / ".hydra" / "config.yaml"
    max_iters = result["max_iters"] if result else _max_iters_from_hydra(hydra_config)
    return Run(folder, identity["data"]["name"], model, family_of(model), identity["model"]["depth"], identity["seed"],
               identity["model"], max_iters, read_metrics(folder), result)


def _max_iters_from_hydra(path: Path) -> int:
    match = re.search(r"max_iters:\s*(\d+)", path.read_text()) if path.is_file() else None
    return int(match.group(1)) if match else 0


def find_runs(folders: List[Path]) -> List[Run]:
    """Every run under the given folders (each folder may itself be a run), sorted for reading."""
    runs, seen = [], set()
    for top in folders:
        for identity_file in sorted([*Path(top).glob("run.json"), *Path(top).rglob("*/run.json")]):
            folder = identity_file.parent.resolve()
            if folder not in seen and (run := load_run(folder)) is not None:
                seen.add(folder)
                runs.append(run)
    return sorted(runs, key=lambda r: (r.data, r.family, r.depth, r.seed))

