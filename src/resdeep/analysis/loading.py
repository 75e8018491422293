"""A trained run brought back: its config, its network with the latest weights, and its data."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from resdeep.api import config_from_saved
from resdeep.config import Config
from resdeep.models import model_id
from resdeep.data import DataBundle, build_data
from resdeep.engine.checkpoint import load_latest_checkpoint
from resdeep.errors import UserError
from resdeep.models import build_model


@dataclass
class TrainedRun:
    folder: Path
    config: Config
    model: torch.nn.Module
    data: DataBundle
    iteration: int

    @property
    def label(self) -> str:
        return model_id(self.config.model)


def load_trained_run(folder: Path, device: torch.device, batch_size: int | None = None) -> TrainedRun:
    """The run in folder at its latest checkpoint, with its data set built for evaluation."""
    checkpoint = load_latest_checkpoint(folder)
    if checkpoint is None:
        raise UserError(f"{folder} has no readable checkpoint; train it first (resdeep train ...)")
    config: Config = config_from_saved(checkpoint["config"])  # each family's and data set's own schema
    data = build_data(config.data, batch_size or config.recipe.batch_size, config.trainer.eval_batch_size, device, config.seed)
    model = build_model(config.model, data.shape.channels, data.shape.num_classes)
    model.load_state_dict(checkpoint["model"])
    return TrainedRun(Path(folder), config, model.to(device).eval(), data, checkpoint["iteration"])


def fresh_model(run: TrainedRun, seed: int = 0) -> torch.nn.Module:
    """The same network as the run, freshly He-initialised (the state 'at initialisation')."""
    torch.manual_seed(seed)
    shape = run.data.shape
    device = next(run.model.parameters()).device
    return build_model(run.config.model, shape.channels, shape.num_classes).to(device)
