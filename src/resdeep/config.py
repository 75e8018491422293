"""Typed config schemas, registered with Hydra, and the one validation pass run at start-up."""
from __future__ import annotations

import importlib.util
import math
import os
from dataclasses import dataclass, field, fields
from typing import Any, List, Optional, Sequence

from hydra._internal.core_plugins.structured_config_source import StructuredConfigSource
from hydra._internal.sources_registry import SourcesRegistry
from hydra.core.config_store import ConfigStore
from hydra.core.plugins import Plugins
from omegaconf import MISSING, DictConfig, OmegaConf
from omegaconf.errors import MissingMandatoryValue, OmegaConfBaseException

from resdeep.errors import UserError, choose
from resdeep.models.registry import FAMILIES, as_model_config, model_id, validate_model

DATASETS = ("mnist", "cifar10", "imagenet", "synthetic")
NORMALIZATIONS = ("pixel_mean", "channel_std", "none")
PAD_MODES = ("zeros", "reflect")
DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("auto", "fp32", "bf16")
PROGRESS_STYLES = ("auto", "bar", "lines", "off")
# Where a run's curves go besides metrics.jsonl and train.log; each other than TensorBoard comes from an extra.
LOGGERS = ("tensorboard", "mlflow")
LOGGER_EXTRAS = {"mlflow": ("mlflow", "pip install 'resdeep[mlflow]'")}
# The ConfigStore names of the schemas presets start from (defaults: [base_cifar]): not presets themselves.
SCHEMA_PREFIX = "base_"


@dataclass
class DataConfig:
    """What every data set has: where it lives, how it is split and preprocessed (CIFAR-10, MNIST)."""

    name: str = "cifar10"
    root: str = "data/cifar10"
    download: bool = True
    verify: bool = False
    val_size: int = 0
    normalize: str = "pixel_mean"
    augment: bool = True
    pad_mode: str = "zeros"  # the 4-pixel border the crops come from: zeros (He et al.) or reflect (Wide ResNets)
    seed: int = 0


@dataclass
class SyntheticDataConfig(DataConfig):
    """The built-in set: its sizes, generated from data.seed."""

    name: str = "synthetic"
    root: str = ""
    download: bool = False
    train_size: int = 10000
    test_size: int = 2000


@dataclass
class ImageNetDataConfig(DataConfig):
    """An ImageNet-style image folder: scale augmentation, crops, lighting, loader workers."""

    name: str = "imagenet"
    root: str = "data/imagenet"
    download: bool = False
    normalize: str = "channel_std"
    scale_min: int = 256
    scale_max: int = 480
    crop_size: int = 224
    test_resize: int = 256
    ten_crop: bool = False
    pca_lighting: bool = True
    workers: Optional[int] = None


# Each data set's own options (conf/data/<name>.yaml starts from base_<name>).
DATA_SCHEMAS = {"cifar10": DataConfig, "mnist": DataConfig, "synthetic": SyntheticDataConfig, "imagenet": ImageNetDataConfig}


@dataclass
class RecipeConfig:
    """The optimisation recipe, in iterations (He et al.'s unit) or in epochs (where a paper uses epochs)."""

    name: str = "cifar"
    batch_size: int = 128
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 1e-4
    nesterov: bool = False
    # Rate multiplier for one-number parameters (Fixup's scalar biases and multipliers: 0.1 in its official code).
    scalar_lr_factor: float = 1.0
    milestones: List[int] = field(default_factory=lambda: [32000, 48000])
    lr_factor: float = 0.1
    max_iters: Optional[int] = 64000
    # Recipes published in epochs: converted at start-up through the training set's size (full batches per
    # epoch), then max_iters and milestones hold the iterations. Set milestones: [] with them; max_iters: null
    # runs the whole recipe, a number stops it there (e.g. its first 1,000 iterations; the milestones stay put).
    epochs: Optional[float] = None
    milestone_epochs: List[float] = field(default_factory=list)
    warmup_lr: float = 0.01
    warmup_until_error: float = 80.0
    warmup_min_depth: Optional[int] = 110
    plateau: bool = False
    plateau_patience: int = 5
    plateau_threshold: float = 0.1


@dataclass
class TrainerConfig:
    """How the loop runs: device, logging and checkpoint cadence, and the GPU fast path."""

    device: str = "auto"
    log_every: int = 100
    eval_every: int = 1000
    checkpoint_every: int = 2000
    keep_checkpoints: int = 3
    eval_batch_size: int = 1000
    progress: str = "auto"
    precision: str = "auto"
    channels_last: Optional[bool] = None
    compile: Optional[bool] = None
    cuda_graphs: Optional[bool] = None
    fused_optimizer: Optional[bool] = None
    cudnn_benchmark: bool = True
    sync_bn: bool = False
    log_grad_norms: bool = False
    diverge_above: Optional[float] = 1e4  # training loss that marks a run diverged; null: only NaN/inf do
    loggers: List[str] = field(default_factory=lambda: ["tensorboard"])  # LOGGERS: tensorboard, mlflow


@dataclass
class Config:
    """The whole run: what `resdeep train` receives after validation."""

    model: Any = MISSING  # a network family's options (resdeep.models: one dataclass per family)
    data: Any = MISSING   # a data set's options (DATA_SCHEMAS)
    recipe: RecipeConfig = field(default_factory=RecipeConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    seed: int = 0
    name: str = "default"
    out_dir: str = "outputs"
    restart: bool = False


def register_configs() -> None:
    """Put the schemas in Hydra's ConfigStore: the whole config, each model family's and each data set's."""
    store = ConfigStore.instance()
    store.store(name=f"{SCHEMA_PREFIX}config", node=Config)
    for name, entry in FAMILIES.items():
        store.store(group="model", name=f"{SCHEMA_PREFIX}{name}", node=entry.schema)
    for name, schema in DATA_SCHEMAS.items():
        store.store(group="data", name=f"{SCHEMA_PREFIX}{name}", node=schema(name=name))
    hide_schemas_from_option_lists()


def hide_schemas_from_option_lists() -> None:
    """Keep the base_* schemas out of every list of a group's options Hydra makes (`train --help`, the options an
    unknown preset's error names, tab completion), while presets still load them by name.

    Hydra lists the ConfigStore through its `structured://` config source and has no way to hide an entry, so
    that source is swapped for one that leaves the schemas out of its listings."""
    Plugins.instance()  # Hydra registers its own sources first; then the structured one is replaced
    SourcesRegistry.instance().types[StructuredConfigSource.scheme()] = PresetsOnlyStructuredSource


class PresetsOnlyStructuredSource(StructuredConfigSource):
    """Hydra's ConfigStore source, listing every stored config but the schemas (base_*)."""

    def list(self, config_path, results_filter):
        return [name for name in super().list(config_path, results_filter) if not name.startswith(SCHEMA_PREFIX)]


# Hydra recognises its schema source by this class name (ConfigRepository.get_schema_source).
PresetsOnlyStructuredSource.__name__ = StructuredConfigSource.__name__


if not OmegaConf.has_resolver("model_id"):
    OmegaConf.register_new_resolver("model_id", model_id)


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise UserError(message)


def validate_recipe_length(recipe: RecipeConfig) -> None:
    """A recipe is in iterations (max_iters, milestones) or in epochs (epochs, milestone_epochs), never both."""
    if recipe.epochs is None:
        _require(not recipe.milestone_epochs, f"recipe.milestone_epochs={list(recipe.milestone_epochs)} needs recipe.epochs (the run's length in epochs)")
        _require(recipe.max_iters is not None, "recipe.max_iters is not set; give the run's length: recipe.max_iters=N or recipe.epochs=N")
        _require(recipe.max_iters > 0, f"recipe.max_iters={recipe.max_iters} must be a positive number of iterations")
        return
    _require(recipe.epochs > 0, f"recipe.epochs={recipe.epochs} must be a positive number of epochs")
    _require(
        not recipe.milestones,
        f"recipe.epochs={recipe.epochs:g} and recipe.milestones={list(recipe.milestones)} both give the schedule; count in epochs "
        "(add 'recipe.milestones=[]' and give recipe.milestone_epochs) or in iterations (recipe.epochs=null 'recipe.milestone_epochs=[]')",
    )
    _require(recipe.max_iters is None or recipe.max_iters > 0, f"recipe.max_iters={recipe.max_iters} must be a positive number of iterations, or null for the whole recipe")
    epochs = list(recipe.milestone_epochs)
    _require(epochs == sorted(epochs) and all(0 < e for e in epochs), f"recipe.milestone_epochs={epochs} must be positive and increasing")


# Training images of each official set: an upper bound here; a smaller copy is checked when it is loaded.
OFFICIAL_TRAIN_IMAGES = {"cifar10": 50000, "mnist": 60000, "imagenet": 1281167}


def validate_data_size(data: DataConfig, batch_size: int) -> None:
    """The split and one batch fit the training set (known exactly for the synthetic set)."""
    if isinstance(data, SyntheticDataConfig):
        _require(data.train_size > 0, f"data.train_size={data.train_size} must be a positive number of images")
        _require(data.test_size > 0, f"data.test_size={data.test_size} must be a positive number of images (the test error is measured on them)")
        images, bound = data.train_size, ""
    else:
        images, bound = OFFICIAL_TRAIN_IMAGES[data.name], "at most "
    _require(data.val_size < images, f"data.val_size={data.val_size} leaves no training images (data={data.name} has {bound}{images:,})")
    left = images - data.val_size
    _require(
        batch_size <= left,
        f"recipe.batch_size={batch_size} is larger than the training set ({bound}{left:,} images of data={data.name}"
        + (f" after data.val_size={data.val_size})" if data.val_size else ")"),
    )


def validate_recipe_values(recipe: RecipeConfig) -> None:
    """Values that would train silently wrong: a negative or growing rate, a warm-up below zero, an empty patience."""
    _require(0 < recipe.lr_factor <= 1, f"recipe.lr_factor={recipe.lr_factor} must be in (0, 1]: it multiplies the learning rate at each milestone (0.1 divides it by 10)")
    _require(recipe.warmup_lr > 0 and math.isfinite(recipe.warmup_lr), f"recipe.warmup_lr={recipe.warmup_lr} must be a positive learning rate")
    _require(0 < recipe.warmup_until_error <= 100, f"recipe.warmup_until_error={recipe.warmup_until_error} must be a training error in (0, 100] %")
    _require(recipe.warmup_min_depth is None or recipe.warmup_min_depth > 0, f"recipe.warmup_min_depth={recipe.warmup_min_depth} must be a positive depth, or null for no warm-up")
    _require(all(m > 0 for m in recipe.milestones), f"recipe.milestones={list(recipe.milestones)} must be positive iterations")
    _require(math.isfinite(recipe.weight_decay), f"recipe.weight_decay={recipe.weight_decay} must be a finite number")
    _require(not recipe.nesterov or recipe.momentum > 0, "recipe.nesterov=true needs momentum; set recipe.momentum above 0")
    _require(recipe.plateau_patience > 0, f"recipe.plateau_patience={recipe.plateau_patience} must be a positive number of evaluations")
    _require(recipe.plateau_threshold >= 0, f"recipe.plateau_threshold={recipe.plateau_threshold} must not be negative")


def validate(cfg: DictConfig) -> Config:
    """Turn the composed Hydra tree into typed objects, or raise one clear UserError."""
    try:
        typed: Config = OmegaConf.to_object(cfg)
    except MissingMandatoryValue as error:
        key = getattr(error, "full_key", "") or "a value"
        raise UserError(f"missing config value {key}: set it on the command line, e.g. {key}=...") from None
    except OmegaConfBaseException as error:
        raise UserError(f"invalid config: {str(error).splitlines()[0]}") from None
    typed.model = as_model_config(typed.model)  # a node with _target_ (your own network) is untyped until here
    validate_model(typed.model)
    data, recipe, trainer = typed.data, typed.recipe, typed.trainer
    choose(data.name, DATASETS, "data")
    _require(
        type(data) is DATA_SCHEMAS[data.name],
        f"data.name={data.name} does not match the data preset's options; choose the data set with data={data.name}",
    )
    choose(data.normalize, NORMALIZATIONS, "data.normalize")
    choose(data.pad_mode, PAD_MODES, "data.pad_mode")
    _require(data.val_size >= 0, f"data.val_size={data.val_size} must be 0 (no split) or a positive count")
    _require(recipe.batch_size > 0, f"recipe.batch_size={recipe.batch_size} must be a positive number of images")
    _require(recipe.lr > 0 and math.isfinite(recipe.lr), f"recipe.lr={recipe.lr} must be a positive learning rate")
    validate_recipe_length(recipe)
    validate_recipe_values(recipe)
    validate_data_size(data, recipe.batch_size)
    _require(recipe.weight_decay >= 0, f"recipe.weight_decay={recipe.weight_decay} must not be negative")
    _require(0 <= recipe.momentum < 1, f"recipe.momentum={recipe.momentum} must be in [0, 1)")
    _require(0 < recipe.scalar_lr_factor <= 1, f"recipe.scalar_lr_factor={recipe.scalar_lr_factor} must be in (0, 1]: it multiplies the rate of one-number parameters (Fixup's: 0.1)")
    _require(list(recipe.milestones) == sorted(recipe.milestones), f"recipe.milestones={list(recipe.milestones)} must be increasing")
    world_size = int(os.environ.get("WORLD_SIZE", "1"))  # set by torchrun
    _require(
        recipe.batch_size % world_size == 0,
        f"recipe.batch_size={recipe.batch_size} does not divide among {world_size} processes; choose a multiple of {world_size}",
    )
    choose(trainer.device, DEVICES, "trainer.device")
    choose(trainer.precision, PRECISIONS, "trainer.precision")
    choose(trainer.progress, PROGRESS_STYLES, "trainer.progress")
    for key in ("log_every", "eval_every", "checkpoint_every", "keep_checkpoints", "eval_batch_size"):
        value = getattr(trainer, key)
        _require(value > 0, f"trainer.{key}={value} must be a positive number")
    _require(
        trainer.diverge_above is None or trainer.diverge_above > 0,
        f"trainer.diverge_above={trainer.diverge_above} must be a positive loss, or null to stop only at NaN/inf",
    )
    validate_loggers(trainer.loggers)
    return typed


def _known(schema, values: dict) -> dict:
    """values restricted to the schema's fields: a run saved by an older resdeep still loads."""
    names = {f.name for f in fields(schema)}
    return {k: v for k, v in values.items() if k in names}


def config_from_saved(saved: dict, overrides: Sequence[str] = ()) -> Config:
    """The typed Config a checkpoint recorded, with dotted overrides (data.root=/elsewhere) applied and checked."""
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


def validate_loggers(loggers: List[str]) -> None:
    """Known logger names, each logger's package installed (mlflow comes from an extra)."""
    for name in loggers:
        choose(name, LOGGERS, "trainer.loggers")
        module, install = LOGGER_EXTRAS.get(name, (None, None))
        _require(module is None or importlib.util.find_spec(module) is not None,
                 f"trainer.loggers=[{','.join(loggers)}] names {name}, which is not installed: {install}")


def flatten(tree: dict, prefix: str = "") -> dict:
    """{'recipe': {'lr': 0.1}} -> {'recipe.lr': 0.1}: a config's values by their dotted keys."""
    flat = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat
