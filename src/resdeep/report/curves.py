"""Curves of error against iteration: every point of every run in curves.csv, and means over seeds for figures."""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Callable, Dict, List, Tuple

from resdeep.atomic_files import write_csv
from resdeep.report.groups import ConfigGroup
from resdeep.report.runs import Run

CSV_COLUMNS = ["run", "experiment", "config", "data", "model", "family", "depth", "seed", "iteration",
               "train_error", "test_error", "val_error", "status"]

Points = List[Tuple[int, float]]


def test_points(run: Run) -> Points:
    return [(r["iteration"], r["test_error"]) for r in run.records if r.get("test_error") is not None]


def train_points(run: Run) -> Points:
    return run.train_curve()


def write_curves_csv(groups: List[ConfigGroup], path: Path) -> int:
    """One row per logged iteration of every run (training error at each log point, test error where evaluated)."""
    rows = []
    for group in groups:
        for network in group.networks:
            for run in network.runs:
                evaluations = {r["iteration"]: r for r in run.records}
                train = dict(run.train_curve())
                for iteration in sorted(set(train) | set(evaluations)):
                    record = evaluations.get(iteration, {})
                    rows.append({
                        "run": run.label, "experiment": group.experiment, "config": group.config_label, "data": run.data,
                        "model": run.model, "family": run.family, "depth": run.depth, "seed": run.seed,
                        "iteration": iteration, "train_error": train.get(iteration, record.get("train_error")),
                        "test_error": record.get("test_error", ""), "val_error": record.get("val_error", ""), "status": run.status,
                    })
    write_csv(path, rows, CSV_COLUMNS)
    return len(rows)


def mean_curve(runs: List[Run], points: Callable[[Run], Points]) -> Tuple[List[int], List[float], int]:
    """(iterations, mean over seeds, last iteration any seed reached) at the iterations every seed has."""
    by_iteration: Dict[int, List[float]] = defaultdict(list)
    for run in runs:
        for iteration, value in points(run):
            by_iteration[iteration].append(value)
    common = sorted(i for i, values in by_iteration.items() if len(values) == len(runs))
    return common, [sum(by_iteration[i]) / len(runs) for i in common], max(by_iteration, default=0)
