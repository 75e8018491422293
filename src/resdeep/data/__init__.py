"""Data sets: MNIST, CIFAR-10, an ImageNet folder and the built-in synthetic set."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict

import torch

from resdeep.config import DataConfig
from resdeep.data.arrays import ImageArrays, split_indices
from resdeep.data.device_loader import DeviceEvalSet, DeviceLoader, Normalizer
from resdeep.data.preprocessing import Preprocessing
from resdeep.data.shapes import DATASET_SHAPES, DataShape
from resdeep.errors import UserError


@dataclass
class DataBundle:
    """What the engine needs: an endless training loader and named evaluation sets (test, val)."""

    train: object
    eval_sets: Dict[str, object]
    shape: DataShape
    train_size: int
    preprocessing: Preprocessing  # what the test images went through: a trained net carries it (data/preprocessing.py)


def load_arrays(cfg: DataConfig) -> tuple[ImageArrays, ImageArrays]:
    """(train, test) arrays of a small data set, read from its real on-disk format."""
    if cfg.name == "cifar10":  # each set's reader (and what it imports) loads only when that set is used
        from resdeep.data.cifar10 import load_cifar10

        return load_cifar10(cfg.root, cfg.download, cfg.verify)
    if cfg.name == "mnist":
        from resdeep.data.mnist import load_mnist

        return load_mnist(cfg.root, cfg.download)
    from resdeep.data.synthetic import load_synthetic

    return load_synthetic(cfg.train_size, cfg.test_size, cfg.seed)


def build_data(
    cfg: DataConfig, batch_size: int, eval_batch_size: int, device: torch.device, seed: int,
    rank: int = 0, world_size: int = 1, compile_augmentation: bool = False,
) -> DataBundle:
    """Load the configured data set and wrap it for training on `device`."""
    if cfg.name == "imagenet":
        from resdeep.data.imagefolder import IMAGENET_MEAN, IMAGENET_STD, build_imagefolder  # PIL and workers: only for folders

        train, eval_sets, classes = build_imagefolder(cfg, batch_size, eval_batch_size, device, seed, rank, world_size)
        shape = DataShape(3, cfg.crop_size, classes)
        preprocessing = Preprocessing(3, cfg.crop_size, IMAGENET_MEAN[:, None, None], IMAGENET_STD[:, None, None], cfg.test_resize, cfg.crop_size)
        return DataBundle(train, eval_sets, shape, len(train.dataset), preprocessing)
    train, test = load_arrays(cfg)
    eval_parts = {}
    if cfg.val_size:
        if cfg.val_size >= len(train):
            raise UserError(f"data.val_size={cfg.val_size} leaves no training images (the set has {len(train)})")
        train_index, val_index = split_indices(len(train), cfg.val_size, cfg.seed)
        train, eval_parts["val"] = train.subset(train_index), train.subset(val_index)
    eval_parts["test"] = test
    if batch_size > len(train):
        raise UserError(f"recipe.batch_size={batch_size} is larger than the {len(train)} training images of {cfg.name}")
    normalizer = Normalizer(train.images, cfg.normalize)
    loader = DeviceLoader(train, batch_size, normalizer, device, seed, cfg.augment, pad_mode=cfg.pad_mode, rank=rank, world_size=world_size, compile_augmentation=compile_augmentation)
    eval_sets = {name: DeviceEvalSet(part, normalizer, device, eval_batch_size) for name, part in eval_parts.items()}
    shape = DATASET_SHAPES[cfg.name]
    preprocessing = Preprocessing(shape.channels, shape.size, normalizer.mean.cpu(), normalizer.std.cpu())
    return DataBundle(loader, eval_sets, shape, len(train), preprocessing)
