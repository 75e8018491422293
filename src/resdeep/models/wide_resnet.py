"""Wide ResNets (Zagoruyko & Komodakis 2016): WRN-d-k, pre-activation blocks k times wider, dropout inside."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from resdeep.errors import UserError, choose
from resdeep.models.blocks import conv3x3
from resdeep.models.parts import Parts
from resdeep.models.registry import register_family
from resdeep.models.stages import make_stages, run_blocks
from resdeep.models.weight_init import BN_WEIGHTS, init_weights

PUBLISHED_DROPOUT = 0.3  # on CIFAR; the run name says when a run differs


@dataclass
class WrnConfig:
    """WRN-depth-widen: depth 6n+4, widths 16k/32k/64k, dropout between each block's convolutions."""

    family: str = "wrn"
    depth: int = 28
    widen: int = 10
    dropout: float = PUBLISHED_DROPOUT
    se: bool = False
    checkpoint_activations: bool = False
    bn_weight_init: str = "uniform"  # uniform: BN weight ~ U[0, 1), as both official codes (Lua and PyTorch); ones: 1


class WideBlock(nn.Module):
    """BN-ReLU-conv3x3-BN-ReLU-dropout-conv3x3, plus x, or a 1x1 projection of the pre-activated x."""

    def __init__(self, in_channels: int, channels: int, stride: int, dropout: float, parts: Parts):
        super().__init__()
        self.bn1 = parts.norm_layer(in_channels)
        self.conv1 = conv3x3(in_channels, channels, stride)
        self.bn2 = parts.norm_layer(channels)
        # No module at 0: a dropout of 0 would still draw from the RNG in some torch versions.
        self.dropout = nn.Dropout(dropout) if dropout > 0 else None
        self.conv2 = conv3x3(channels, channels)
        self.se = parts.attention_layer(channels)
        reshapes = stride != 1 or in_channels != channels
        # The official shortcut: a 1x1 conv without BN where the shape changes (not He et al.'s option B).
        self.projection = nn.Conv2d(in_channels, channels, 1, stride=stride, bias=False) if reshapes else None
        self.out_channels = channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pre = F.relu(self.bn1(x))
        out = F.relu(self.bn2(self.conv1(pre)))
        if self.dropout is not None:
            out = self.dropout(out)
        out = self.conv2(out)
        if self.se is not None:
            out = self.se(out)
        return out + (x if self.projection is None else self.projection(pre))


class WideResNet(nn.Module):
    """conv3x3 16 -> 3 groups of n wide blocks (maps 32, 16, 8) -> BN-ReLU -> average pool -> fc."""

    def __init__(self, cfg: WrnConfig, in_channels: int = 3, num_classes: int = 10):
        super().__init__()
        n, parts = (cfg.depth - 4) // 6, Parts(attention="se" if cfg.se else "none")
        self.checkpoint_activations = cfg.checkpoint_activations
        self.conv1 = conv3x3(in_channels, 16)
        widths = (16 * cfg.widen, 32 * cfg.widen, 64 * cfg.widen)
        self.blocks = make_stages(16, widths, (n, n, n), (1, 2, 2),
                                  lambda in_channels, width, stride, index: WideBlock(in_channels, width, stride, cfg.dropout, parts))
        self.final_bn = nn.BatchNorm2d(widths[-1])
        self.fc = nn.Linear(widths[-1], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = run_blocks(self.blocks, self.conv1(x), self.checkpoint_activations)
        x = F.relu(self.final_bn(x))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def validate_wrn(cfg: WrnConfig) -> None:
    """Depth 6n+4, a positive widening factor, dropout in [0, 1), a known BN weight init."""
    if cfg.depth < 10 or (cfg.depth - 4) % 6:
        raise UserError(f"model.depth={cfg.depth} is not 6n+4 with n >= 1; Wide ResNet depths are 10, 16, 22, 28, 34, 40, ...")
    if cfg.widen < 1:
        raise UserError(f"model.widen={cfg.widen} must be a positive widening factor (1 is a pre-activation ResNet)")
    if not 0 <= cfg.dropout < 1:
        raise UserError(f"model.dropout={cfg.dropout} must be in [0, 1) (the paper uses 0.3 on CIFAR, 0 turns it off)")
    choose(cfg.bn_weight_init, BN_WEIGHTS, "model.bn_weight_init")


def wrn_run_name(cfg: WrnConfig) -> str:
    """wrn28_10, wrn16_8-drop0, wrn16_8-drop0-se, wrn28_10-gamma1."""
    parts = [f"wrn{cfg.depth}_{cfg.widen}"]
    if cfg.dropout != PUBLISHED_DROPOUT:
        parts.append(f"drop{cfg.dropout:g}")
    if cfg.se:
        parts.append("se")
    if cfg.bn_weight_init == "ones":
        parts.append("gamma1")
    return "-".join(parts)


def build_wrn(cfg: WrnConfig, in_channels: int, num_classes: int) -> nn.Module:
    """The official code's init: He normal with fan_in for the convs and the fc, zero fc bias, BN weight U[0, 1)."""
    model = WideResNet(cfg, in_channels, num_classes)
    init_weights(model, mode="fan_in", bn_weight=cfg.bn_weight_init)
    nn.init.kaiming_normal_(model.fc.weight, mode="fan_in", nonlinearity="relu")
    nn.init.zeros_(model.fc.bias)
    return model


register_family("wrn", WrnConfig, build_wrn, validate_wrn, wrn_run_name, kind=lambda cfg: "residual")
