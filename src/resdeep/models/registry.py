"""The one registry of networks: a family name maps to a builder taking a ModelConfig."""
from typing import Callable, Dict

from torch import nn

from resdeep.config import ModelConfig, validate_model
from resdeep.models.cifar import CifarNet
from resdeep.models.imagenet import ImageNetNet
from resdeep.models.init import init_weights

MODEL_BUILDERS: Dict[str, Callable[[ModelConfig, int, int], nn.Module]] = {}


def register(family: str):
    """Decorator: make a builder available as model.family=<family>."""

    def add(builder):
        MODEL_BUILDERS[family] = builder
        return builder

    return add


@register("cifar")
def build_cifar(cfg: ModelConfig, in_channels: int, num_classes: int) -> nn.Module:
    return CifarNet(cfg.depth, cfg.shortcut, cfg.block, cfg.width, in_channels, num_classes, cfg.checkpoint_activations)


@register("imagenet")
def build_imagenet(cfg: ModelConfig, in_channels: int, num_classes: int) -> nn.Module:
    return ImageNetNet(cfg.depth, cfg.shortcut, cfg.bottleneck_stride, in_channels, num_classes, cfg.checkpoint_activations)


def build_model(cfg: ModelConfig, in_channels: int = 3, num_classes: int = 10) -> nn.Module:
    """Build and He-initialise the network a ModelConfig describes."""
    validate_model(cfg)
    model = MODEL_BUILDERS[cfg.family](cfg, in_channels, num_classes)
    init_weights(model, cfg.zero_init_residual)
    return model
