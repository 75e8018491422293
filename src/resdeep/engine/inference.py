"""A trained network back from its run folder (or a `resdeep export` file): the one loaded-run type that the
notebook API, `eval`, `export` and `analyze` all use."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Union

import torch
from omegaconf import OmegaConf

from resdeep.config import Config, config_from_saved
from resdeep.data import DataBundle, build_data
from resdeep.data.preprocessing import Preprocessing
from resdeep.data.shapes import DATASET_SHAPES
from resdeep.engine.checkpoint import load_checkpoint_file, load_latest_checkpoint
from resdeep.engine.evaluate import evaluate
from resdeep.errors import UserError
from resdeep.models import build_model, model_id
from resdeep.runs import Run, read_run
from resdeep.runs.layout import EVAL_DIR, checkpoint_paths

Checkpoint = Union[str, int]  # "latest", "best" (lowest validation error) or an iteration


@dataclass
class LoadedRun:
    """A trained network with the config and checkpoint it came from, and its run's state."""

    model: torch.nn.Module
    config: Config
    iteration: int  # the checkpoint's
    source: Path  # the checkpoint or exported file
    folder: Optional[Path]  # the run folder (None for an exported file)
    record: Optional[Run] = None  # the run folder's record: its state and iteration as `resdeep status` says them
    data: Optional[DataBundle] = None  # its data set, built by with_data() (the analyses need it)
    saved_preprocessing: Optional[dict] = None  # what the checkpoint or export recorded (resdeep 0.2 on)

    @property
    def name(self) -> str:
        return model_id(self.config.model)

    @property
    def label(self) -> str:
        """What figures and tables call the run: its network's name."""
        return self.name

    @property
    def state(self) -> Optional[str]:
        """finished, diverged, running, interrupted, failed (None for an exported file)."""
        return self.record.state if self.record else None

    def evaluate(self, overrides: Sequence[str] = (), device: str = "cpu") -> Dict[str, Any]:
        """Test error (%) and loss of this network; overrides change the data (data.root=..., data.ten_crop=true)."""
        return evaluate_run(self, overrides, device)

    @property
    def preprocessing(self) -> Preprocessing:
        """What the network expects of an image: recorded when it trained, else (a checkpoint of an older resdeep)
        measured again on its training set, which must then be where data.root says."""
        if self.saved_preprocessing is None:
            try:
                data = build_data(self.config.data, 1, 1, torch.device("cpu"), self.config.seed)
            except UserError as error:
                raise UserError(f"{self.source} was saved before resdeep recorded a net's preprocessing, so its normalisation is measured "
                                f"on its training set, which cannot be read: {error}") from None
            self.saved_preprocessing = data.preprocessing.as_dict()
        return Preprocessing.from_dict(self.saved_preprocessing)

    def transform(self, images) -> torch.Tensor:
        """Raw images -> the network's input: uint8 images as image files hold them ((N,) H, W(, C)), PIL images, or
        floats in [0, 1] as torchvision holds them ((N,) C, H, W); resized and cropped first where the data set was."""
        return self.preprocessing(images)

    @torch.no_grad()
    def predict(self, images, batch_size: Optional[int] = None) -> torch.Tensor:
        """Class probabilities (N, classes) for raw images (see transform), the way `resdeep eval` scores them
        (in batches of trainer.eval_batch_size, as it does)."""
        inputs = self.transform(images)
        batch_size = batch_size or self.config.trainer.eval_batch_size
        device = next(self.model.parameters()).device
        was_training = self.model.training
        self.model.eval()
        try:
            return torch.cat([self.model(part.to(device)).float().softmax(1).cpu() for part in inputs.split(batch_size)])
        finally:
            self.model.train(was_training)

    def saved_config(self) -> dict:
        """The config as plain values, as a checkpoint holds it."""
        return OmegaConf.to_container(OmegaConf.structured(self.config))

    def with_data(self, device: torch.device, batch_size: Optional[int] = None) -> "LoadedRun":
        """The network on `device` in eval mode, with its data set (its recipe's batch for training batches)."""
        config = self.config
        self.data = build_data(config.data, batch_size or config.recipe.batch_size, config.trainer.eval_batch_size, device, config.seed)
        self.model = self.model.to(device).eval()
        return self

    def fresh_model(self, seed: int = 0) -> torch.nn.Module:
        """The same network freshly initialised (the state 'at initialisation'), on the loaded one's device."""
        torch.manual_seed(seed)
        shape = DATASET_SHAPES[self.config.data.name]
        return build_model(self.config.model, shape.channels, shape.num_classes).to(next(self.model.parameters()).device)


def choose_checkpoint(folder: Path, which: Checkpoint = "latest") -> Path:
    """The checkpoint file `which` names: the newest, the one of lowest validation error, or an iteration."""
    kept = checkpoint_paths(folder)
    if not kept:
        raise UserError(f"{folder} has no checkpoints (checkpoints/iter_<n>.pt); train it first: resdeep train ...")
    if which == "latest":
        return kept[0][1]
    if which == "best":
        val = {r["iteration"]: r["val_error"] for r in read_run(folder).records if r.get("val_error") is not None}
        if not val:
            raise UserError(f"{folder} has no validation error to choose by (it trained with data.val_size=0); use latest or an iteration")
        candidates = [(val[i], i, path) for i, path in kept if i in val]
        if not candidates:
            raise UserError(f"none of the kept checkpoints ({', '.join(str(i) for i, _ in kept)}) has a validation record")
        return min(candidates)[2]
    iteration = int(which)
    for kept_iteration, path in kept:
        if kept_iteration == iteration:
            return path
    raise UserError(f"{folder} has no checkpoint at iteration {iteration}; kept: {', '.join(str(i) for i, _ in kept)}")


def load_run(path: Union[str, Path], checkpoint: Checkpoint = "latest", overrides: Sequence[str] = ()) -> LoadedRun:
    """A trained network back from a run folder or a `resdeep export` file, ready to evaluate and predict.

    path: a run folder (outputs/<name>/<data>/<model>/seed<k>) or a file written by `resdeep export` (.pt).
    checkpoint: "latest" (the newest readable one: a damaged one is reported and the one before used), "best"
        (lowest validation error; the run needs data.val_size), or an iteration that a kept checkpoint has.
    overrides: data.<key>=<value> or trainer.<key>=<value>, e.g. data.root=/elsewhere for evaluate().

    The result's model is in eval mode on the CPU, with config (the typed Config it trained with), iteration
    (the checkpoint's), state (what `resdeep status` says of the run folder; None for a file), and
    predict(images) / transform(images) / evaluate(). Raises one-line UserErrors for what the user can fix."""
    path = Path(path)
    record = None
    if path.is_dir():
        record = read_run(path)
        if record.state == "unreadable":
            raise UserError(f"{path} cannot be read: {record.detail}")
        source = choose_checkpoint(path, checkpoint)
        state = load_latest_checkpoint(path) if checkpoint == "latest" else load_checkpoint_file(source)
        if state is None:
            raise UserError(f"{path} has no readable checkpoint; train it again (resdeep train ...)")
        source = next((p for i, p in checkpoint_paths(path) if i == state.get("iteration")), source)
    elif path.is_file():
        source, state = path, load_checkpoint_file(path)
    else:
        raise UserError(f"no run folder or exported file at {path}")
    if not isinstance(state, dict) or "config" not in state or "model" not in state:
        raise UserError(f"{source} is not a resdeep checkpoint or export (it has no model and config)")
    config = config_from_saved(state["config"], overrides)
    shape = DATASET_SHAPES[config.data.name]
    model = build_model(config.model, shape.channels, shape.num_classes)
    model.load_state_dict(state["model"])
    return LoadedRun(model.eval(), config, state["iteration"], source, path if path.is_dir() else None, record,
                     saved_preprocessing=state.get("preprocessing"))


def evaluate_run(run: LoadedRun, overrides: Sequence[str] = (), device: str = "cpu") -> Dict[str, Any]:
    """The test error of a loaded run on its test set, or on the data the overrides name."""
    config = config_from_saved(run.saved_config(), overrides) if overrides else run.config
    target = torch.device(device)
    # The loader for training is built too (its images give the normalisation); a batch of 1 always fits.
    data = build_data(config.data, 1, config.trainer.eval_batch_size, target, config.seed)
    model = run.model.to(target)
    test_error, test_loss = evaluate(model, data.eval_sets["test"])
    return {
        "run": str(run.folder or run.source), "checkpoint": str(run.source), "iteration": run.iteration,
        "model": run.name, "data": config.data.name, "root": config.data.root, "overrides": list(overrides),
        "ten_crop": bool(getattr(config.data, "ten_crop", False)), "test_images": len(data.eval_sets["test"]),
        "test_error": test_error, "test_loss": test_loss,
    }


def eval_output(run: LoadedRun, overrides: List[str]) -> Path:
    """Where `resdeep eval` writes: RUN/eval/iter_<n>[-<overrides>].json (one file per checkpoint and data choice, so
    evaluations do not overwrite), or beside an exported file, named after it (resnet56.pt -> resnet56.eval.json),
    never into whatever folder the command runs from."""
    tag = "-".join(re.sub(r"[^A-Za-z0-9_.]+", "_", o) for o in overrides)[:80]
    tag = f"-{tag}" if tag else ""
    if run.folder is not None:
        return run.folder / EVAL_DIR / f"iter_{run.iteration:08d}{tag}.json"
    return run.source.with_name(f"{run.source.stem}.eval{tag}.json")
