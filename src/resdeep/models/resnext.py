"""ResNeXt for CIFAR (Xie et al. 2017): ResNeXt-29 C x d, bottlenecks whose 3x3 is split into C groups."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from resdeep.errors import UserError
from resdeep.models.blocks import Bottleneck, conv3x3
from resdeep.models.parts import Parts
from resdeep.models.registry import register_family
from resdeep.models.stages import make_stages, run_blocks
from resdeep.models.weight_init import init_weights

STAGE_WIDTHS = (64, 128, 256)  # the official code's n; each block outputs 4n (256, 512, 1024)


@dataclass
class ResNeXtConfig:
    """ResNeXt-depth (C x d): depth 9n+2, cardinality C, base_width d (channels per group at the first stage)."""

    family: str = "resnext"
    depth: int = 29
    cardinality: int = 8
    base_width: int = 64
    se: bool = False
    checkpoint_activations: bool = False


def group_width(stage_width: int, base_width: int) -> int:
    """Channels per group in a stage: d at the first stage, doubling with the stage (official floor(n*d/64))."""
    return stage_width * base_width // 64


class ResNeXt(nn.Module):
    """conv3x3 64 BN ReLU -> 3 stages of n bottlenecks (maps 32, 16, 8) -> average pool -> fc.

    Block: 1x1 (C*d) BN ReLU, grouped 3x3 (C groups, stride) BN ReLU, 1x1 (4n) BN, add, ReLU; shortcut B."""

    def __init__(self, cfg: ResNeXtConfig, in_channels: int = 3, num_classes: int = 10):
        super().__init__()
        n, parts = (cfg.depth - 2) // 9, Parts(shortcut="B", attention="se" if cfg.se else "none")
        self.checkpoint_activations = cfg.checkpoint_activations
        self.conv1 = conv3x3(in_channels, 64)
        self.bn1 = nn.BatchNorm2d(64)

        def block(in_channels: int, stage_width: int, stride: int, index: int) -> Bottleneck:
            width = cfg.cardinality * group_width(stage_width, cfg.base_width)
            return Bottleneck(in_channels, width, 4 * stage_width, stride, parts, groups=cfg.cardinality, stride_on_3x3=True)

        self.blocks = make_stages(64, STAGE_WIDTHS, (n, n, n), (1, 2, 2), block)
        self.fc = nn.Linear(self.blocks[-1].out_channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = run_blocks(self.blocks, F.relu(self.bn1(self.conv1(x))), self.checkpoint_activations)
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def validate_resnext(cfg: ResNeXtConfig) -> None:
    """Depth 9n+2, and C groups of at least one channel each at every stage."""
    if cfg.depth < 11 or (cfg.depth - 2) % 9:
        raise UserError(f"model.depth={cfg.depth} is not 9n+2 with n >= 1; CIFAR ResNeXt depths are 11, 20, 29, 38, ...")
    if cfg.cardinality < 1:
        raise UserError(f"model.cardinality={cfg.cardinality} must be a positive number of groups (8 and 16 in the paper)")
    if cfg.base_width < 1:
        raise UserError(f"model.base_width={cfg.base_width} must be a positive number of channels per group (64 in the paper)")


def resnext_run_name(cfg: ResNeXtConfig) -> str:
    """resnext29_8x64d, resnext29_16x64d-se."""
    return f"resnext{cfg.depth}_{cfg.cardinality}x{cfg.base_width}d" + ("-se" if cfg.se else "")


def build_resnext(cfg: ResNeXtConfig, in_channels: int, num_classes: int) -> nn.Module:
    model = ResNeXt(cfg, in_channels, num_classes)
    init_weights(model)  # fb.resnet.torch's init, which the official code uses: He normal, fan_out
    nn.init.zeros_(model.fc.bias)
    return model


register_family("resnext", ResNeXtConfig, build_resnext, validate_resnext, resnext_run_name, kind=lambda cfg: "residual")
