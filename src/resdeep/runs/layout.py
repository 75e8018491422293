"""The files of a run folder and of a sweep folder: every name in one place, for the writers and the readers."""
from __future__ import annotations

import re
from pathlib import Path
from typing import List, Tuple

IDENTITY_FILE = "run.json"      # what makes the run this run: model, data, recipe, seed (written when it starts)
STATE_FILE = "state.json"       # for machines: running, interrupted, failed..., the iteration and the last errors
RESULT_FILE = "result.json"     # how it ended: finished or diverged, its errors, its length
METRICS_FILE = "metrics.jsonl"  # one record per evaluation
LOG_FILE = "train.log"          # every progress line and event, for people
ERROR_FILE = "error.log"        # why the last attempt failed (the one line, or the traceback)
CONSOLE_FILE = "console.log"    # a parallel-launcher job's console output
TB_DIR = "tb"                   # TensorBoard events
CHECKPOINT_DIR = "checkpoints"  # iter_<n>.pt
HYDRA_DIR = ".hydra"            # Hydra's record of the command
LOCK_FILE = ".lock"             # held by the process training the run
EVAL_DIR = "eval"               # what `resdeep eval` measured
ANALYSIS_DIR = "analysis"       # what `resdeep analyze` drew
MLFLOW_FILE = "mlflow.json"     # with trainer.loggers=[...,mlflow]: the MLflow run this run logs to
SWEEP_FILE = "sweep.json"       # in a sweep folder: every job its launchers were given

# What `restart=true` removes (the lock stays: the restarting process holds it).
RUN_OUTPUTS = (CHECKPOINT_DIR, TB_DIR, METRICS_FILE, LOG_FILE, RESULT_FILE, IDENTITY_FILE, STATE_FILE, ERROR_FILE, HYDRA_DIR)

CHECKPOINT_NAME = re.compile(r"^iter_(\d+)\.pt$")


def checkpoint_path(run_dir: Path, iteration: int) -> Path:
    return Path(run_dir) / CHECKPOINT_DIR / f"iter_{iteration:08d}.pt"


def checkpoint_paths(run_dir: Path) -> List[Tuple[int, Path]]:
    """(iteration, path) of every checkpoint in the run, newest first."""
    folder = Path(run_dir) / CHECKPOINT_DIR
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := CHECKPOINT_NAME.match(p.name))]
    return sorted(found, reverse=True)
