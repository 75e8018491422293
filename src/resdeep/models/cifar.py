"""The CIFAR-10 networks of section 4.2: 6n+2 layers, widths 16/32/64, plain or residual."""
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from resdeep.errors import UserError
from resdeep.models.blocks import BasicBlock, PreActBlock, conv3x3
from resdeep.models.init import init_weights
from resdeep.models.registry import register_family
from resdeep.models.stack import run_blocks

SHORTCUTS = ("A", "B", "C", "none")
BLOCKS = ("basic", "preact")


@dataclass
class CifarConfig:
    """A 6n+2 network of section 4.2: depth, shortcut option and block type."""

    family: str = "cifar"
    depth: int = 20
    shortcut: str = "A"
    block: str = "basic"
    width: int = 16
    zero_init_residual: bool = False
    checkpoint_activations: bool = False


class CifarNet(nn.Module):
    """conv3x3 -> 3 stages of n blocks (maps 32, 16, 8) -> global average pool -> fc."""

    def __init__(
        self,
        depth: int,
        shortcut: str = "A",
        block: str = "basic",
        width: int = 16,
        in_channels: int = 3,
        num_classes: int = 10,
        checkpoint_activations: bool = False,
    ):
        super().__init__()
        assert (depth - 2) % 6 == 0 and depth >= 8, "CIFAR nets have 6n+2 layers"
        blocks_per_stage = (depth - 2) // 6
        self.preact = block == "preact"
        block_class = PreActBlock if self.preact else BasicBlock
        self.checkpoint_activations = checkpoint_activations
        self.conv1 = conv3x3(in_channels, width)
        self.bn1 = None if self.preact else nn.BatchNorm2d(width)
        blocks, channels = [], width
        for stage, stage_width in enumerate((width, 2 * width, 4 * width)):
            for index in range(blocks_per_stage):
                stride = 2 if stage > 0 and index == 0 else 1
                blocks.append(block_class(channels, stage_width, stride, shortcut))
                channels = stage_width
        self.blocks = nn.Sequential(*blocks)
        self.final_bn = nn.BatchNorm2d(channels) if self.preact else None
        self.fc = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(x)
        if self.bn1 is not None:
            x = F.relu(self.bn1(x))
        x = run_blocks(self.blocks, x, self.checkpoint_activations)
        if self.final_bn is not None:
            x = F.relu(self.final_bn(x))
        x = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
        return self.fc(x)


def choose(value, choices, key: str) -> None:
    """One line when value is not among choices."""
    if value not in choices:
        raise UserError(f"{key}={value!r} is not valid; choose one of: {', '.join(map(str, choices))}")


def validate_cifar(cfg: CifarConfig) -> None:
    """6n+2 depths, a known shortcut and block, a positive width."""
    if cfg.depth < 8 or (cfg.depth - 2) % 6:
        raise UserError(f"model.depth={cfg.depth} is not 6n+2 with n >= 1; CIFAR-style depths are 8, 14, 20, 26, 32, ..., 56, 110, 1202")
    choose(cfg.shortcut, SHORTCUTS, "model.shortcut")
    choose(cfg.block, BLOCKS, "model.block")
    if cfg.width < 1:
        raise UserError(f"model.width={cfg.width} must be a positive number of filters")


def cifar_run_name(cfg: CifarConfig) -> str:
    """plain56, resnet56, resnet56-B, resnet110-preact, resnet20-w32-zi."""
    parts = [f"{'plain' if cfg.shortcut == 'none' else 'resnet'}{cfg.depth}"]
    if cfg.shortcut not in ("none", "A"):
        parts.append(cfg.shortcut)
    if cfg.block == "preact":
        parts.append("preact")
    if cfg.width != 16:
        parts.append(f"w{cfg.width}")
    if cfg.zero_init_residual:
        parts.append("zi")
    return "-".join(parts)


def build_cifar(cfg: CifarConfig, in_channels: int, num_classes: int) -> nn.Module:
    model = CifarNet(cfg.depth, cfg.shortcut, cfg.block, cfg.width, in_channels, num_classes, cfg.checkpoint_activations)
    init_weights(model, cfg.zero_init_residual)
    return model


register_family("cifar", CifarConfig, build_cifar, validate_cifar, cifar_run_name)
