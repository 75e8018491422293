"""A sweep folder's record of its jobs (sweep.json), written before the first job starts.

With it, a job that never started, failed before writing anything, or whose folder was deleted is still a
job of the sweep: `status` and `report` list it instead of not knowing it. Sweeps run into the same folder
add their jobs to the record (a job is its run folder; the newest overrides win)."""
from __future__ import annotations

import time
from pathlib import Path
from typing import List, Optional, Sequence

from resdeep.atomic_files import read_json, write_json
from resdeep.runs.layout import SWEEP_FILE


def record_sweep(sweep_dir: Path, jobs: Sequence[tuple], command: Sequence[str]) -> Path:
    """Add (overrides, run folder or None) of every job to sweep_dir/sweep.json; returns its path."""
    sweep_dir = Path(sweep_dir)
    path = sweep_dir / SWEEP_FILE
    earlier = sweep_record(sweep_dir)
    listed = {job["folder"]: job for job in earlier if job.get("folder")}
    unplaced = [job for job in earlier if not job.get("folder")]
    for overrides, folder in jobs:
        entry = {"overrides": list(overrides), "folder": _relative(folder, sweep_dir)}
        if entry["folder"] is None:
            unplaced.append(entry)
        else:
            listed[entry["folder"]] = entry
    write_json(path, {"command": list(command), "updated": time.strftime("%Y-%m-%d %H:%M:%S"), "jobs": [*listed.values(), *unplaced]})
    return path


def _relative(folder: Optional[Path], sweep_dir: Path) -> Optional[str]:
    if folder is None:
        return None
    folder = Path(folder)
    try:
        return folder.resolve().relative_to(sweep_dir.resolve()).as_posix()
    except ValueError:  # a hydra.sweep.subdir outside the sweep folder: kept as given
        return str(folder.resolve())


def sweep_record(sweep_dir: Path) -> List[dict]:
    """The jobs sweep.json lists ({overrides, folder}); [] without one (a damaged one counts as none: it is only an index)."""
    record = read_json(Path(sweep_dir) / SWEEP_FILE)
    jobs = record.get("jobs") if isinstance(record, dict) else None
    return [job for job in jobs if isinstance(job, dict)] if isinstance(jobs, list) else []


def job_folders(sweep_dir: Path) -> List[Optional[Path]]:
    """Each listed job's run folder (None where the launcher alone knows it)."""
    return [None if not job.get("folder") else Path(sweep_dir) / job["folder"] for job in sweep_record(sweep_dir)]
