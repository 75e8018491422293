"""A trained run brought back for an analysis: the one loaded-run type (resdeep.engine.inference), with its data."""
from __future__ import annotations

from pathlib import Path

import torch

from resdeep.engine.inference import LoadedRun, load_run


def load_trained_run(folder: Path, device: torch.device, batch_size: int | None = None) -> LoadedRun:
    """The run in folder at its newest readable checkpoint, on `device`, with its data set built for evaluation."""
    return load_run(folder).with_data(device, batch_size)


def fresh_model(run: LoadedRun, seed: int = 0) -> torch.nn.Module:
    """The same network as the run, freshly initialised (the state 'at initialisation')."""
    return run.fresh_model(seed)
