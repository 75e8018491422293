"""The teaching ResNet for MNIST (F. Fleuret, EPFL deep learning course), with switches for skips and BN.

Stem, B blocks of conv3x3-BN-ReLU-conv3x3-BN (+ x), ReLU (He et al.'s basic block, its convs with bias), average
pool over 28x28, ReLU, linear C->10. Two stems: the lecture net's 1x1 conv + ReLU (C=16, B=25: exactly 117,802
parameters), and the gradient-study code's 3x3 conv + BN + ReLU, its BN kept when the blocks have none (the
`mnist_resnet62_w10` preset: C=10, B=30, 56,030 parameters; 55,930 with the 1x1 stem). Depth counts weight
layers: 2B+2. Initialisation is PyTorch's default, as in the course's code.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from resdeep.errors import UserError
from resdeep.models.blocks import BasicBlock
from resdeep.models.parts import Parts
from resdeep.models.registry import register_family
from resdeep.models.stages import make_stages

SHORTCUTS = ("identity", "none")
NORMS = ("batch", "none")
STEMS = ("conv1x1", "conv3x3_bn")


@dataclass
class MnistResNetConfig:
    """depth = 2·blocks + 2 weight layers, width = channels, skips on or off, BatchNorm on or off, the stem."""

    family: str = "mnist_resnet"
    depth: int = 52
    width: int = 16
    shortcut: str = "identity"
    norm: str = "batch"
    stem: str = "conv1x1"  # conv1x1: the lecture net's; conv3x3_bn: the gradient-study code's (BN even with norm=none)


class MnistResNet(nn.Module):
    """stem -> blocks -> average pool -> ReLU -> linear."""

    def __init__(self, cfg: MnistResNetConfig, in_channels: int, num_classes: int):
        super().__init__()
        blocks = (cfg.depth - 2) // 2
        parts = Parts(norm=cfg.norm, shortcut="A" if cfg.shortcut == "identity" else "none", conv_bias=True)
        kernel = 3 if cfg.stem == "conv3x3_bn" else 1
        self.conv0 = nn.Conv2d(in_channels, cfg.width, kernel, padding=kernel // 2)
        self.bn0 = nn.BatchNorm2d(cfg.width) if cfg.stem == "conv3x3_bn" else None
        self.blocks = make_stages(cfg.width, (cfg.width,), (blocks,), (1,),
                                  lambda in_channels, width, stride, index: BasicBlock(in_channels, width, stride, parts))
        self.fc = nn.Linear(cfg.width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv0(x)
        if self.bn0 is not None:
            x = self.bn0(x)
        x = self.blocks(F.relu(x))
        x = F.relu(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))
        return self.fc(x)


def validate_mnist_resnet(cfg: MnistResNetConfig) -> None:
    """An even depth of at least 4 (one block), a positive width, known switches and stem."""
    if cfg.depth < 4 or cfg.depth % 2:
        raise UserError(f"model.depth={cfg.depth} is not 2*blocks+2 with at least one block; e.g. 52 (25 blocks) or 62 (30 blocks)")
    if cfg.width < 1:
        raise UserError(f"model.width={cfg.width} must be a positive number of channels")
    for key, value, choices in (("shortcut", cfg.shortcut, SHORTCUTS), ("norm", cfg.norm, NORMS), ("stem", cfg.stem, STEMS)):
        if value not in choices:
            raise UserError(f"model.{key}={value!r} is not valid for mnist_resnet; choose one of: {', '.join(choices)}")


def mnist_resnet_run_name(cfg: MnistResNetConfig) -> str:
    """mnist-resnet52, mnist-plain52, mnist-resnet52-nobn, mnist-resnet62-w10-stem3x3."""
    parts = [f"mnist-{'resnet' if cfg.shortcut == 'identity' else 'plain'}{cfg.depth}"]
    if cfg.norm == "none":
        parts.append("nobn")
    if cfg.width != 16:
        parts.append(f"w{cfg.width}")
    if cfg.stem == "conv3x3_bn":
        parts.append("stem3x3")
    return "-".join(parts)


def build_mnist_resnet(cfg: MnistResNetConfig, in_channels: int, num_classes: int) -> nn.Module:
    return MnistResNet(cfg, in_channels, num_classes)


register_family("mnist_resnet", MnistResNetConfig, build_mnist_resnet, validate_mnist_resnet, mnist_resnet_run_name,
                kind=lambda cfg: "residual" if cfg.shortcut == "identity" else "plain")
