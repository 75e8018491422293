"""The Python API for notebooks: `resdeep.load_run(path)` gives back a trained network and its config.

    import resdeep
    run = resdeep.load_run("outputs/default/cifar10/resnet56/seed0")   # or checkpoint="best", or 32000
    run.model            # the network, weights loaded, in eval mode, on the CPU
    run.config           # the typed Config it was trained with (run.config.model, .data, .recipe)
    run.iteration        # the checkpoint's iteration
    run.evaluate()       # {"test_error": ..., "test_loss": ..., ...} on its test set

The same works on a file written by `resdeep export`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Union

import torch
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from resdeep.config import DATA_SCHEMAS, Config, RecipeConfig, TrainerConfig, validate
from resdeep.models import model_id
from resdeep.engine.checkpoint import checkpoint_paths, load_checkpoint_file
from resdeep.engine.logger import read_metrics
from resdeep.errors import UserError

Checkpoint = Union[str, int]  # "latest", "best" (lowest validation error) or an iteration


@dataclass
class LoadedRun:
    """A trained network with the config and checkpoint it came from."""

    model: torch.nn.Module
    config: Config
    iteration: int
    source: Path  # the checkpoint or exported file
    folder: Optional[Path]  # the run folder (None for an exported file)

    @property
    def name(self) -> str:
        return model_id(self.config.model)

    def evaluate(self, overrides: Sequence[str] = (), device: str = "cpu") -> Dict[str, Any]:
        """Test error (%) and loss of this network; overrides change the data (data.root=..., data.ten_crop=true)."""
        return evaluate_run(self, overrides, device)


def _known(schema, values: dict) -> dict:
    """values restricted to the schema's fields: a run saved by an older resdeep still loads."""
    names = {f.name for f in fields(schema)}
    return {k: v for k, v in values.items() if k in names}


def config_from_saved(saved: dict, overrides: Sequence[str] = ()) -> Config:
    """The typed Config a checkpoint recorded, with dotted overrides (data.root=/elsewhere) applied and checked."""
    from resdeep.models.registry import as_model_config

    recipe = dict(saved["recipe"])
    if recipe.get("epochs") is not None:  # stored after conversion to iterations: keep the recipe as written
        recipe.update(max_iters=None, milestones=[])
    data_schema = DATA_SCHEMAS[saved["data"]["name"]]
    tree = OmegaConf.structured(Config(
        model=as_model_config(saved["model"]), data=data_schema(**_known(data_schema, saved["data"])),
        recipe=RecipeConfig(**_known(RecipeConfig, recipe)), trainer=TrainerConfig(**_known(TrainerConfig, saved["trainer"])),
        seed=saved["seed"], name=saved["name"], out_dir=saved["out_dir"],
    ))
    for override in overrides:
        key, equals, value = override.partition("=")
        if not equals or key.split(".")[0] not in ("data", "trainer"):
            raise UserError(f"override '{override}' is not data.<key>=<value> or trainer.<key>=<value>, e.g. data.root=/path/to/cifar10")
        try:
            tree = OmegaConf.merge(tree, OmegaConf.from_dotlist([override]))
        except OmegaConfBaseException as error:
            raise UserError(f"override '{override}': {str(error).splitlines()[0]}") from None
    return validate(tree)


def choose_checkpoint(folder: Path, which: Checkpoint = "latest") -> Path:
    """The checkpoint file `which` names: the newest, the one of lowest validation error, or an iteration."""
    kept = checkpoint_paths(folder)
    if not kept:
        raise UserError(f"{folder} has no checkpoints (checkpoints/iter_<n>.pt); train it first: resdeep train ...")
    if which == "latest":
        return kept[0][1]
    if which == "best":
        val = {r["iteration"]: r["val_error"] for r in read_metrics(folder) if r.get("val_error") is not None}
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
    """A run folder (or a `resdeep export` file) as a built network, its weights and its typed config."""
    path = Path(path)
    if path.is_dir():
        source, folder = choose_checkpoint(path, checkpoint), path
    elif path.is_file():
        source, folder = path, None
    else:
        raise UserError(f"no run folder or exported file at {path}")
    state = load_checkpoint_file(source)
    if "config" not in state or "model" not in state:
        raise UserError(f"{source} is not a resdeep checkpoint or export (it has no model and config)")
    config = config_from_saved(state["config"], overrides)
    from resdeep.data.shapes import DATASET_SHAPES
    from resdeep.models import build_model

    shape = DATASET_SHAPES[config.data.name]
    model = build_model(config.model, shape.channels, shape.num_classes)
    model.load_state_dict(state["model"])
    return LoadedRun(model.eval(), config, state["iteration"], source, folder)


def evaluate_run(run: LoadedRun, overrides: Sequence[str] = (), device: str = "cpu") -> Dict[str, Any]:
    """The test error of a loaded run on its test set, or on the data the overrides name."""
    from resdeep.data import build_data
    from resdeep.engine.evaluate import evaluate

    config = config_from_saved(_saved_config(run), overrides) if overrides else run.config
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


def _saved_config(run: LoadedRun) -> dict:
    return OmegaConf.to_container(OmegaConf.structured(run.config))


def export_run(run: LoadedRun, out: Path) -> Path:
    """Write the weights, the config and where they came from into one file torch.load(weights_only=True) reads."""
    from resdeep.version import __version__
    from resdeep.engine.files import atomic_write

    state = {
        "model": {name: tensor.detach().cpu().clone() for name, tensor in run.model.state_dict().items()},
        "config": _saved_config(run), "model_id": run.name, "iteration": run.iteration,
        "source": str(run.source), "resdeep_version": __version__,
    }
    atomic_write(out, lambda stream: torch.save(state, stream), mode="wb")
    return out


def eval_file_name(run: LoadedRun, overrides: List[str]) -> str:
    """eval/iter_<n>[-<overrides>].json: one file per checkpoint and data choice, so evaluations do not overwrite."""
    tag = "-".join(re.sub(r"[^A-Za-z0-9_.]+", "_", o) for o in overrides)[:80]
    return f"iter_{run.iteration:08d}{'-' + tag if tag else ''}.json"
