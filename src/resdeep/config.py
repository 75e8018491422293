"""Typed config schemas, registered with Hydra, and the one validation pass run at start-up."""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import List, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import MissingMandatoryValue, OmegaConfBaseException

from resdeep.errors import UserError

MODEL_FAMILIES = ("cifar", "imagenet")
SHORTCUTS = ("A", "B", "C", "none")
CIFAR_BLOCKS = ("basic", "preact")
BOTTLENECK_STRIDES = ("paper", "torchvision")
IMAGENET_DEPTHS = (18, 34, 50, 101, 152)
DATASETS = ("mnist", "cifar10", "imagenet", "synthetic")
NORMALIZATIONS = ("pixel_mean", "channel_std", "none")
DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("auto", "fp32", "bf16")
PROGRESS_STYLES = ("auto", "bar", "lines", "off")


@dataclass
class ModelConfig:
    """Which network: a depth-driven family plus the paper's options."""

    family: str = "cifar"
    depth: int = 20
    shortcut: str = "A"
    block: str = "basic"
    width: int = 16
    bottleneck_stride: str = "paper"
    zero_init_residual: bool = False
    checkpoint_activations: bool = False


@dataclass
class DataConfig:
    """Which data set, where it lives, and how it is preprocessed."""

    name: str = "cifar10"
    root: str = "data/cifar10"
    download: bool = True
    verify: bool = False
    val_size: int = 0
    normalize: str = "pixel_mean"
    augment: bool = True
    device_resident: Optional[bool] = None
    workers: Optional[int] = None
    seed: int = 0
    # synthetic set sizes
    train_size: int = 10000
    test_size: int = 2000
    # ImageNet folder
    scale_min: int = 256
    scale_max: int = 480
    crop_size: int = 224
    test_resize: int = 256
    ten_crop: bool = False
    pca_lighting: bool = True


@dataclass
class RecipeConfig:
    """The optimisation recipe, in iterations (the paper's unit)."""

    name: str = "cifar"
    batch_size: int = 128
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 1e-4
    nesterov: bool = False
    milestones: List[int] = field(default_factory=lambda: [32000, 48000])
    lr_factor: float = 0.1
    max_iters: int = 64000
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


@dataclass
class Config:
    """The whole run: what `resdeep train` receives after validation."""

    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    recipe: RecipeConfig = field(default_factory=RecipeConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    seed: int = 0
    name: str = "default"
    out_dir: str = "outputs"
    restart: bool = False


def register_configs() -> None:
    """Put the schema in Hydra's ConfigStore; conf/config.yaml extends it."""
    ConfigStore.instance().store(name="base_config", node=Config)


def model_id(model) -> str:
    """A short, unique folder name for a network: plain56, resnet56, resnet56-B, resnet110-preact."""
    get = model.get if hasattr(model, "get") else lambda k, d=None: getattr(model, k, d)
    base = "plain" if get("shortcut") == "none" else "resnet"
    parts = [f"{base}{get('depth')}"]
    family, shortcut = get("family"), get("shortcut")
    default_shortcut = "B" if family == "imagenet" else "A"
    if shortcut not in ("none", default_shortcut):
        parts.append(str(shortcut))
    if get("block") == "preact":
        parts.append("preact")
    if family == "imagenet" and get("bottleneck_stride") == "torchvision":
        parts.append("tv")
    if family == "cifar" and get("width") != 16:
        parts.append(f"w{get('width')}")
    if get("zero_init_residual"):
        parts.append("zi")
    return "-".join(parts)


if not OmegaConf.has_resolver("model_id"):
    OmegaConf.register_new_resolver("model_id", model_id)


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise UserError(message)


def _choice(value, choices, key: str) -> None:
    _require(value in choices, f"{key}={value!r} is not valid; choose one of: {', '.join(map(str, choices))}")


def validate_model(model: ModelConfig) -> None:
    """Check a network description before anything is built."""
    _choice(model.family, MODEL_FAMILIES, "model.family")
    _choice(model.shortcut, SHORTCUTS, "model.shortcut")
    if model.family == "cifar":
        _require(
            model.depth >= 8 and (model.depth - 2) % 6 == 0,
            f"model.depth={model.depth} is not 6n+2 with n >= 1; CIFAR-style depths are 8, 14, 20, 26, 32, ..., 56, 110, 1202",
        )
        _choice(model.block, CIFAR_BLOCKS, "model.block")
        _require(model.width >= 1, f"model.width={model.width} must be a positive number of filters")
    else:
        _require(
            model.depth in IMAGENET_DEPTHS,
            f"model.depth={model.depth} is not an ImageNet depth of Table 1; choose one of: {', '.join(map(str, IMAGENET_DEPTHS))}",
        )
        _choice(model.bottleneck_stride, BOTTLENECK_STRIDES, "model.bottleneck_stride")
        _require(model.block == "basic", "model.block=preact is offered for the CIFAR family only")


def validate(cfg: DictConfig) -> Config:
    """Turn the composed Hydra tree into typed objects, or raise one clear UserError."""
    try:
        typed: Config = OmegaConf.to_object(cfg)
    except MissingMandatoryValue as error:
        key = getattr(error, "full_key", "") or "a value"
        raise UserError(f"missing config value {key}: set it on the command line, e.g. {key}=...") from None
    except OmegaConfBaseException as error:
        raise UserError(f"invalid config: {str(error).splitlines()[0]}") from None
    validate_model(typed.model)
    data, recipe, trainer = typed.data, typed.recipe, typed.trainer
    _choice(data.name, DATASETS, "data")
    _choice(data.normalize, NORMALIZATIONS, "data.normalize")
    _require(data.val_size >= 0, f"data.val_size={data.val_size} must be 0 (no split) or a positive count")
    _require(recipe.batch_size > 0, f"recipe.batch_size={recipe.batch_size} must be a positive number of images")
    _require(recipe.lr > 0 and math.isfinite(recipe.lr), f"recipe.lr={recipe.lr} must be a positive learning rate")
    _require(recipe.max_iters > 0, f"recipe.max_iters={recipe.max_iters} must be a positive number of iterations")
    _require(recipe.weight_decay >= 0, f"recipe.weight_decay={recipe.weight_decay} must not be negative")
    _require(0 <= recipe.momentum < 1, f"recipe.momentum={recipe.momentum} must be in [0, 1)")
    _require(list(recipe.milestones) == sorted(recipe.milestones), f"recipe.milestones={list(recipe.milestones)} must be increasing")
    world_size = int(os.environ.get("WORLD_SIZE", "1"))  # set by torchrun
    _require(
        recipe.batch_size % world_size == 0,
        f"recipe.batch_size={recipe.batch_size} does not divide among {world_size} processes; choose a multiple of {world_size}",
    )
    _choice(trainer.device, DEVICES, "trainer.device")
    _choice(trainer.precision, PRECISIONS, "trainer.precision")
    _choice(trainer.progress, PROGRESS_STYLES, "trainer.progress")
    for key in ("log_every", "eval_every", "checkpoint_every", "keep_checkpoints", "eval_batch_size"):
        value = getattr(trainer, key)
        _require(value > 0, f"trainer.{key}={value} must be a positive number")
    return typed
