"""Checkpoints written atomically, kept a few deep, and read back with a fallback past a damaged one."""
from __future__ import annotations

import pickle
import re
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import torch

from resdeep.engine.files import atomic_write

CHECKPOINT_DIR = "checkpoints"
PATTERN = re.compile(r"^iter_(\d+)\.pt$")


def checkpoint_paths(run_dir: Path) -> List[Tuple[int, Path]]:
    """(iteration, path) of every checkpoint in the run, newest first."""
    folder = Path(run_dir) / CHECKPOINT_DIR
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := PATTERN.match(p.name))]
    return sorted(found, reverse=True)


def save_checkpoint(run_dir: Path, iteration: int, state: Dict[str, Any], keep: int) -> Path:
    """Write iter_<n>.pt atomically; then drop all but the newest `keep`."""
    target = Path(run_dir) / CHECKPOINT_DIR / f"iter_{iteration:08d}.pt"
    atomic_write(target, lambda stream: torch.save(state, stream), mode="wb")
    for _, old in checkpoint_paths(run_dir)[keep:]:
        old.unlink(missing_ok=True)
    return target


def load_checkpoint_file(path: Path) -> Dict[str, Any]:
    """A checkpoint's contents: tensors and plain Python values only, so torch.load(weights_only=True) reads it."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        if "numpy" not in str(error):
            raise
        # Written before resdeep stored numpy's generator state as a tensor: our own file, read it the old way.
        return torch.load(path, map_location="cpu", weights_only=False)


def load_latest_checkpoint(run_dir: Path) -> Optional[Dict[str, Any]]:
    """The newest readable checkpoint; a truncated or corrupt one is reported and the previous one used."""
    for iteration, path in checkpoint_paths(run_dir):
        try:
            state = load_checkpoint_file(path)
            if state.get("iteration") != iteration:
                raise ValueError(f"it says iteration {state.get('iteration')}")
            return state
        except Exception as error:  # noqa: BLE001 - any damage means: fall back to the previous one
            print(f"resdeep: checkpoint {path} is damaged ({type(error).__name__}: {error}); using the previous one", file=sys.stderr)
    return None
