"""Curves of error against iteration, per network, averaged over seeds where there are several."""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Dict, List, Tuple

from resdeep.engine.files import write_csv
from resdeep.report.runs import Run

CSV_COLUMNS = ["data", "model", "family", "depth", "seed", "iteration", "train_error", "test_error", "val_error", "status"]


def write_curves_csv(runs: List[Run], path: Path) -> None:
    """One row per evaluation of every run."""
    rows = [{
        "data": run.data, "model": run.model, "family": run.family, "depth": run.depth, "seed": run.seed,
        "iteration": record["iteration"], "train_error": record.get("train_error"),
        "test_error": record.get("test_error"), "val_error": record.get("val_error", ""), "status": run.status,
    } for run in runs for record in run.records]
    write_csv(path, rows, CSV_COLUMNS)


def mean_curve(runs: List[Run], key: str) -> Tuple[List[int], List[float]]:
    """(iterations, mean value) at the iterations every seed reached."""
    by_iteration: Dict[int, List[float]] = defaultdict(list)
    for run in runs:
        for record in run.records:
            if record.get(key) is not None:
                by_iteration[record["iteration"]].append(record[key])
    common = sorted(i for i, values in by_iteration.items() if len(values) == len(runs))
    return common, [sum(by_iteration[i]) / len(runs) for i in common]


def group_runs(runs: List[Run]) -> Dict[Tuple[str, str], Dict[str, List[Run]]]:
    """{(data, family): {model: [runs over seeds]}}, in depth order."""
    groups: Dict[Tuple[str, str], Dict[str, List[Run]]] = defaultdict(lambda: defaultdict(list))
    for run in sorted(runs, key=lambda r: (r.data, r.family, r.depth)):
        groups[(run.data, run.family)][run.model].append(run)
    return groups
