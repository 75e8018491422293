"""DenseNet and DenseNet-BC for CIFAR (Huang et al. 2017): every layer sees every earlier layer's maps."""
from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator, List

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from resdeep.errors import UserError, choose
from resdeep.models.weight_init import init_weights
from resdeep.models.registry import register_family

STEMS = ("paper", "official")


@dataclass
class DenseNetConfig:
    """DenseNet-L (k): three dense blocks of (L-4)/3 layers, or (L-4)/6 bottleneck layers (DenseNet-B/BC)."""

    family: str = "densenet"
    depth: int = 40
    growth: int = 12
    bottleneck: bool = False
    compression: float = 1.0  # theta: a transition keeps floor(theta*m) of m maps; 0.5 for BC
    stem: str = "paper"  # paper: 16 maps (2k for bottleneck nets), as the paper's counts imply; official: 2k always
    dropout: float = 0.0  # after each conv; the paper uses 0.2 only without data augmentation
    memory_efficient: bool = False  # recompute concatenation, BN, ReLU and the first conv in backward (same numbers)


class DenseLayer(nn.Module):
    """BN-ReLU-conv3x3 (k maps), or BN-ReLU-conv1x1 (4k)-BN-ReLU-conv3x3 (k) with a bottleneck."""

    def __init__(self, in_channels: int, growth: int, bottleneck: bool, dropout: float, memory_efficient: bool):
        super().__init__()
        first_out = 4 * growth if bottleneck else growth
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.conv1 = nn.Conv2d(in_channels, first_out, 1 if bottleneck else 3, padding=0 if bottleneck else 1, bias=False)
        self.bn2 = nn.BatchNorm2d(first_out) if bottleneck else None
        self.conv2 = nn.Conv2d(first_out, growth, 3, padding=1, bias=False) if bottleneck else None
        self.dropout, self.memory_efficient = dropout, memory_efficient

    def first(self, *features: torch.Tensor) -> torch.Tensor:
        """Concatenate, BN, ReLU, first conv: the part whose input grows with every layer."""
        out = self.conv1(F.relu(self.bn1(torch.cat(features, 1))))
        return F.dropout(out, self.dropout, self.training) if self.dropout else out

    def forward(self, features: List[torch.Tensor]) -> torch.Tensor:
        if self.memory_efficient and torch.is_grad_enabled():
            # Keeps only the layer's inputs; the concatenation is rebuilt in backward (Pleiss et al. 2017).
            out = checkpoint(self.first_then_recomputed(), *features, use_reentrant=False)
        else:
            out = self.first(*features)
        if self.conv2 is None:
            return out
        out = self.conv2(F.relu(self.bn2(out)))
        return F.dropout(out, self.dropout, self.training) if self.dropout else out

    def first_then_recomputed(self) -> Callable[..., torch.Tensor]:
        """`first` for the forward; its recomputation in backward leaves BN's running statistics as the forward did.

        Without this they would be updated twice a step (torchvision's memory_efficient=True does); the official
        efficient DenseNet saves and restores them, so both modes train on the same statistics."""
        calls = []

        def first(*features: torch.Tensor) -> torch.Tensor:
            if not calls:
                calls.append("forward")
                return self.first(*features)
            with running_statistics_kept(self.bn1):
                return self.first(*features)

        return first


@contextmanager
def running_statistics_kept(bn: nn.Module) -> Iterator[None]:
    """Whatever runs inside leaves bn's running mean, variance and batch count as they were."""
    saved = [buffer.clone() for buffer in bn.buffers()]
    try:
        yield
    finally:
        with torch.no_grad():
            for buffer, value in zip(bn.buffers(), saved):
                buffer.copy_(value)


class DenseBlock(nn.Module):
    """Layers whose inputs are the block's input and every earlier layer's output."""

    def __init__(self, size: int, in_channels: int, growth: int, bottleneck: bool, dropout: float, memory_efficient: bool):
        super().__init__()
        self.layers = nn.ModuleList(
            DenseLayer(in_channels + index * growth, growth, bottleneck, dropout, memory_efficient) for index in range(size)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = [x]
        for layer in self.layers:
            features.append(layer(features))
        return torch.cat(features, 1)


class Transition(nn.Sequential):
    """BN-ReLU-conv1x1 to floor(theta*m) maps, then 2x2 average pooling."""

    def __init__(self, in_channels: int, out_channels: int, dropout: float):
        super().__init__(nn.BatchNorm2d(in_channels), nn.ReLU(), nn.Conv2d(in_channels, out_channels, 1, bias=False))
        self.dropout = dropout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = super().forward(x)
        out = F.dropout(out, self.dropout, self.training) if self.dropout else out
        return F.avg_pool2d(out, 2)


class DenseNet(nn.Module):
    """conv3x3 stem -> dense block, transition, dense block, transition, dense block -> BN-ReLU-pool-fc.

    Not built by models/stages.py: a dense layer reads every earlier layer's maps, not the one before it."""

    def __init__(self, cfg: DenseNetConfig, in_channels: int = 3, num_classes: int = 10):
        super().__init__()
        size = (cfg.depth - 4) // (6 if cfg.bottleneck else 3)
        channels = stem_width(cfg)
        self.conv1 = nn.Conv2d(in_channels, channels, 3, padding=1, bias=False)
        stages = []
        for index in range(3):
            stages.append(DenseBlock(size, channels, cfg.growth, cfg.bottleneck, cfg.dropout, cfg.memory_efficient))
            channels += size * cfg.growth
            if index < 2:
                reduced = math.floor(cfg.compression * channels)
                stages.append(Transition(channels, reduced, cfg.dropout))
                channels = reduced
        self.stages = nn.Sequential(*stages)
        self.final_bn = nn.BatchNorm2d(channels)
        self.fc = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.final_bn(self.stages(self.conv1(x))))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def stem_width(cfg: DenseNetConfig) -> int:
    """The first conv's maps: the paper's 16 (2k for bottleneck nets), or the official code's 2k."""
    return 2 * cfg.growth if cfg.bottleneck or cfg.stem == "official" else 16


def validate_densenet(cfg: DenseNetConfig) -> None:
    """Depth 3n+4 (6n+4 with bottlenecks), positive growth, compression in (0, 1], dropout in [0, 1)."""
    per_block = 6 if cfg.bottleneck else 3
    if cfg.depth < per_block + 4 or (cfg.depth - 4) % per_block:
        kind = "DenseNet-BC (model.bottleneck=true)" if cfg.bottleneck else "DenseNet"
        raise UserError(f"model.depth={cfg.depth} is not {per_block}n+4 with n >= 1, which {kind} needs: three equal dense blocks")
    if cfg.growth < 1:
        raise UserError(f"model.growth={cfg.growth} must be a positive number of maps per layer (12, 24, 40 in the paper)")
    if not 0 < cfg.compression <= 1:
        raise UserError(f"model.compression={cfg.compression} must be in (0, 1] (0.5 for DenseNet-BC, 1 for none)")
    choose(cfg.stem, STEMS, "model.stem")
    if not 0 <= cfg.dropout < 1:
        raise UserError(f"model.dropout={cfg.dropout} must be in [0, 1) (0.2 in the paper without augmentation)")


def densenet_run_name(cfg: DenseNetConfig) -> str:
    """densenet40_12, densenet_bc100_12, densenet_b100_12, densenet40_12-stem2k-drop0.2."""
    kind = ("b" if cfg.bottleneck else "") + ("c" if cfg.compression < 1 else "")
    parts = [f"densenet{'_' + kind if kind else ''}{cfg.depth}_{cfg.growth}"]
    if cfg.compression not in (1, 0.5):
        parts.append(f"theta{cfg.compression:g}")
    if stem_width(cfg) != (2 * cfg.growth if cfg.bottleneck else 16):
        parts.append("stem2k")
    if cfg.dropout:
        parts.append(f"drop{cfg.dropout:g}")
    return "-".join(parts)


def build_densenet(cfg: DenseNetConfig, in_channels: int, num_classes: int) -> nn.Module:
    model = DenseNet(cfg, in_channels, num_classes)
    init_weights(model)  # the official Torch code's init: He normal (fan_out), BN weight 1 and bias 0
    nn.init.zeros_(model.fc.bias)
    return model


register_family("densenet", DenseNetConfig, build_densenet, validate_densenet, densenet_run_name, kind=lambda cfg: "dense")
