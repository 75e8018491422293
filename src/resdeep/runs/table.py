"""The one table of runs that `resdeep status` and the end of a sweep print: state, iteration, errors, speed."""
from __future__ import annotations

import os
from pathlib import Path
from typing import List, Optional

from resdeep.runs.state import STATES, Run

# States that need the user: a sweep or `status` with one of these exits non-zero.
PROBLEMS = ("failed", "diverged", "unreadable")


def _duration(seconds: Optional[float]) -> str:
    if seconds is None:
        return "-"
    minutes = int(seconds // 60)
    return f"{minutes // 60}h{minutes % 60:02d}m" if minutes >= 60 else f"{minutes}m{int(seconds % 60):02d}s"


def _percent(value) -> str:
    return "-" if value is None else f"{value:.2f}%"


def _where(run: Run, root: Path) -> str:
    if run.folder.resolve() == Path(root).resolve():
        return "."
    try:
        return os.path.relpath(run.folder, root)
    except ValueError:
        return str(run.folder)


NOTE_WIDTH = 70  # a failed run's reason is cut here in the table; problem_lines() give it whole


def format_table(runs: List[Run], root: Path, unplaced: int = 0) -> str:
    """One row per run (a failed or unreadable run's reason in its last column), then a line counting each state,
    then one whole line per run that failed, diverged or cannot be read."""
    header = ("run", "network", "seed", "state", "iteration", "train err", "test err", "img/s", "time left", "note")
    lines = [header]
    for run in runs:
        total = run.total if run.total is not None else "?"
        speed = f"{run.images_per_s:,.0f}" if run.images_per_s else "-"
        seed = "-" if run.seed is None else str(run.seed)
        lines.append((_where(run, root), run.model or "-", seed, run.state, f"{run.iteration}/{total}", _percent(run.train_error),
                      _percent(run.test_error), speed, _duration(run.seconds_left if run.state == "running" else None), _cut(run.detail or "")))
    widths = [max(len(line[k]) for line in lines) for k in range(len(header))]
    text = ["  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip() for line in lines]
    return "\n".join(text + [summary_line(runs, unplaced)] + problem_lines(runs, root))


def _cut(note: str) -> str:
    return note if len(note) <= NOTE_WIDTH else note[: NOTE_WIDTH - 1] + "…"


def problem_lines(runs: List[Run], root: Path) -> List[str]:
    """'failed: cifar10/resnet56/seed0: CIFAR-10 not found ...', 'diverged at iteration 300: ...', one per run that needs the user."""
    return [f"{run.state}{f' at iteration {run.iteration}' if run.state == 'diverged' else ''}: {_where(run, root)}"
            f"{': ' + run.detail if run.detail else ''}" for run in runs if run.state in PROBLEMS]


def summary_line(runs: List[Run], unplaced: int = 0) -> str:
    """'6 run(s): 1 not started, 2 running, ...', the counts adding up to the number of runs."""
    counts = {state: sum(run.state == state for run in runs) for state in STATES}
    line = f"{len(runs)} run(s): " + ", ".join(f"{n} {state}" for state, n in counts.items() if n)
    known = [run.seconds_left for run in runs if run.state == "running" and run.seconds_left is not None]
    if known:
        line += f"; the slowest running job needs about {_duration(max(known))} more"
    if unplaced:
        line += f"; {unplaced} more job(s) of a sweep have a folder only their launcher names (e.g. by a SLURM job id)"
    return line


def has_problems(runs: List[Run]) -> bool:
    return any(run.state in PROBLEMS for run in runs)
