"""Finding every run under a folder: the run folders there, and every job a sweep record lists."""
from __future__ import annotations

from pathlib import Path
from typing import List

from resdeep.runs.layout import ERROR_FILE, IDENTITY_FILE, STATE_FILE, SWEEP_FILE
from resdeep.runs.state import Run, read_run
from resdeep.runs.sweep import job_folders

# A folder holding one of these is a run folder: run.json once training starts; state.json or error.log
# when a job got that far only (e.g. it failed at start-up).
RUN_MARKS = (IDENTITY_FILE, STATE_FILE, ERROR_FILE)


def run_folders(top: Path) -> List[Path]:
    """Every run folder at or under `top`, and every job folder a sweep.json at or under it lists (present or not)."""
    top = Path(top)
    found = {path.parent for mark in RUN_MARKS for path in [*top.glob(mark), *top.rglob(f"*/{mark}")]}
    for record in [*top.glob(SWEEP_FILE), *top.rglob(f"*/{SWEEP_FILE}")]:
        found |= {folder for folder in job_folders(record.parent) if folder is not None}
    return sorted(found, key=lambda folder: folder.as_posix())


def survey(top: Path) -> List[Run]:
    """Every run and sweep job at or under `top`, each read once, in folder order."""
    seen, runs = set(), []
    for folder in run_folders(top):
        key = folder.resolve()
        if key not in seen:
            seen.add(key)
            runs.append(read_run(folder))
    return runs


def unplaced_jobs(top: Path) -> int:
    """Jobs a sweep record lists without a folder (their launcher names it, e.g. after a SLURM job id)."""
    top = Path(top)
    return sum(folder is None for record in [*top.glob(SWEEP_FILE), *top.rglob(f"*/{SWEEP_FILE}")] for folder in job_folders(record.parent))
