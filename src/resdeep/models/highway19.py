"""The original 19-layer CIFAR-10 highway net (Srivastava et al. 2015; flukeskywalker/highway-networks,
examples/highways/cifar10-19layers), family `highway`. Its gates are models/highway.py's; the CIFAR 6n+2 nets
get the same gates with model.shortcut=highway (models/resnet_cifar.py)."""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from resdeep.errors import UserError, choose
from resdeep.models.highway import DEFAULT_GATE_BIAS, highway, init_gates
from resdeep.models.registry import register_family
from resdeep.models.weight_init import init_weights

INITS = ("official", "he")
FIRST_CONV_STD = 1.0  # the prototxt's gaussian filler gives `value: 0.05`, which Caffe's Gaussian filler ignores: std 1
CLASSIFIER_STD = 0.05  # the prototxt's classifier: gaussian filler, std 0.05, constant (zero) bias


class HighwayLayer(nn.Module):
    """The original layer, no BN: H = ReLU(conv3x3(x) + b_H), T = sigmoid(conv3x3(x) + b_T), y = H T + x (1 - T)."""

    def __init__(self, channels: int):
        super().__init__()
        self.transform = nn.Conv2d(channels, channels, 3, padding=1)
        self.gate = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate_logits = self.gate(x)  # before the transform, as resdeep always did: the gradients sum in the same order
        return highway(F.relu(self.transform(x)), gate_logits, x)


@dataclass
class Highway19Config:
    """The official 19-layer CIFAR-10 highway net (flukeskywalker/highway-networks, cifar10-19layers)."""

    family: str = "highway"
    depth: int = 19
    gate_bias: float = DEFAULT_GATE_BIAS
    dropout: float = 0.2
    init: str = "official"  # official: the prototxt's fillers as Caffe reads them; he: He (fan-in) for every conv


def conv_relu(in_channels: int, out_channels: int, kernel: int = 3) -> list[nn.Module]:
    return [nn.Conv2d(in_channels, out_channels, kernel, padding=kernel // 2), nn.ReLU()]


def highway19(in_channels: int, num_classes: int, dropout: float) -> nn.Sequential:
    """conv 32, 4 highway(32), pool, conv 80, 5 highway(80), pool, conv 128, 5 highway(128), conv1x1 100, pool, fc."""
    return nn.Sequential(
        nn.Dropout(dropout), *conv_relu(in_channels, 32), *(HighwayLayer(32) for _ in range(4)),
        nn.MaxPool2d(2), nn.Dropout(dropout), *conv_relu(32, 80), *(HighwayLayer(80) for _ in range(5)),
        nn.MaxPool2d(2), nn.Dropout(dropout), *conv_relu(80, 128), *(HighwayLayer(128) for _ in range(5)),
        *conv_relu(128, 100, kernel=1), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout),
        nn.Linear(100, num_classes),
    )


def validate_highway19(cfg: Highway19Config) -> None:
    """The one published depth, a finite gate bias, a dropout rate in [0, 1), a known init."""
    if cfg.depth != 19:
        raise UserError(f"model.depth={cfg.depth} is not available for the highway family; its one net has 19 layers (for other depths use model=highway20|highway32|highway44|highway56|highway110)")
    if not math.isfinite(cfg.gate_bias):
        raise UserError(f"model.gate_bias={cfg.gate_bias} must be a finite number (the paper's is -2)")
    if not 0 <= cfg.dropout < 1:
        raise UserError(f"model.dropout={cfg.dropout} must be in [0, 1)")
    choose(cfg.init, INITS, "model.init")


def highway19_run_name(cfg: Highway19Config) -> str:
    """highway19, highway19-g-1, highway19-d0, highway19-he."""
    name = "highway19"
    if cfg.gate_bias != DEFAULT_GATE_BIAS:
        name += f"-g{cfg.gate_bias:g}"
    if cfg.dropout != 0.2:
        name += f"-d{cfg.dropout:g}"
    if cfg.init != "official":
        name += f"-{cfg.init}"
    return name


def build_highway19(cfg: Highway19Config, in_channels: int, num_classes: int) -> nn.Module:
    """He (fan-in: that Caffe fork's "xavier") for the convs, zero biases, the gate biases; with the official init
    the first conv is N(0, 1) and the classifier N(0, 0.05^2) with zero bias (else PyTorch's default U(+-0.1))."""
    model = highway19(in_channels, num_classes, cfg.dropout)
    init_weights(model, mode="fan_in")
    if cfg.init == "official":
        first_conv, classifier = model[1], model[-1]
        nn.init.normal_(first_conv.weight, 0, FIRST_CONV_STD)
        nn.init.normal_(classifier.weight, 0, CLASSIFIER_STD)
        nn.init.zeros_(classifier.bias)
    init_gates(model, cfg.gate_bias)
    return model


register_family("highway", Highway19Config, build_highway19, validate_highway19, highway19_run_name, kind=lambda cfg: "highway")
