"""Fully connected nets of the highway paper's MNIST depth experiment (Srivastava et al. 2015, Figure 1), family `fc`.

One plain layer, then depth-1 layers of one kind: plain, highway (gated), or residual (which that paper
lacked), then a linear classifier. About 5,000 parameters a layer: 71 units plain or residual, 50 highway.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
from torch import nn

from resdeep.errors import UserError
from resdeep.models.highway import highway, init_gates
from resdeep.models.registry import register_family

SHORTCUTS = ("none", "highway", "residual")
ACTIVATIONS = {"relu": torch.relu, "tanh": torch.tanh}
INITS = ("glorot", "he")
WIDTHS = {"none": 71, "highway": 50, "residual": 71}  # the paper's ~5,000 parameters a layer
KINDS = {"none": "plain", "highway": "highway", "residual": "residual"}  # what each shortcut makes the net
# The paper searched the gate bias in -1..-10 per MNIST net (the official CIFAR net uses -2). At -2 the carry
# path keeps 0.88 of the signal a layer, 0.88^99 ~ 3e-6 through 100 layers; at -4 it keeps 0.982^99 ~ 0.17.
DEFAULT_GATE_BIAS = -4.0


@dataclass
class FcConfig:
    """A fully connected net: depth hidden layers of width units, their shortcut, activation and init."""

    family: str = "fc"
    depth: int = 10
    width: Optional[int] = None  # null: 71 (plain, residual) or 50 (highway), as in the paper
    shortcut: str = "none"
    gate_bias: Optional[float] = None  # highway only; null: DEFAULT_GATE_BIAS
    activation: str = "relu"
    init: str = "glorot"  # the highway paper's Glorot-normalised init; "he" for He et al. 2015
    image_size: int = 28  # side of the (square) input images: 28 for MNIST, 32 for CIFAR-10


def layer_width(cfg: FcConfig) -> int:
    return cfg.width if cfg.width is not None else WIDTHS[cfg.shortcut]


def gate_bias(cfg: FcConfig) -> float:
    return cfg.gate_bias if cfg.gate_bias is not None else DEFAULT_GATE_BIAS


class PlainLayer(nn.Module):
    """y = act(W x + b)."""

    def __init__(self, width: int, activation: str):
        super().__init__()
        self.linear, self.act = nn.Linear(width, width), ACTIVATIONS[activation]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.linear(x))


class ResidualLayer(PlainLayer):
    """y = x + act(W x + b): the plain layer plus the identity."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.act(self.linear(x))


class HighwayLayer(nn.Module):
    """y = H(x)·T(x) + x·(1 − T(x)), H = act(W_H x + b_H), T = sigmoid(W_T x + b_T)."""

    def __init__(self, width: int, activation: str):
        super().__init__()
        self.transform, self.gate, self.act = nn.Linear(width, width), nn.Linear(width, width), ACTIVATIONS[activation]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate_logits = self.gate(x)  # before the transform, as resdeep always did: the gradients sum in the same order
        return highway(self.act(self.transform(x)), gate_logits, x)


LAYERS = {"none": PlainLayer, "highway": HighwayLayer, "residual": ResidualLayer}


class FcNet(nn.Module):
    """flatten -> plain layer -> depth-1 layers of one kind -> linear classifier."""

    def __init__(self, depth: int, width: int, shortcut: str, activation: str, in_features: int, num_classes: int):
        super().__init__()
        self.first = nn.Linear(in_features, width)
        self.act = ACTIVATIONS[activation]
        self.blocks = nn.Sequential(*(LAYERS[shortcut](width, activation) for _ in range(depth - 1)))
        self.fc = nn.Linear(width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act(self.first(torch.flatten(x, 1)))
        return self.fc(self.blocks(x))


def init_fc(model: FcNet, cfg: FcConfig) -> None:
    """Glorot (or He) normal weights, zero biases, gate biases at gate_bias; residual branches scaled down."""
    for module in model.modules():
        if isinstance(module, nn.Linear):
            if cfg.init == "he":
                nn.init.kaiming_normal_(module.weight, nonlinearity=cfg.activation)
            else:
                nn.init.xavier_normal_(module.weight)
            nn.init.zeros_(module.bias)
    init_gates(model, gate_bias(cfg))
    for block in model.blocks:
        if isinstance(block, ResidualLayer):
            # Without normalisation each unscaled branch multiplies the signal's variance by ~1.5-2, so 99 of them
            # overflow; branches scaled by 1/depth keep the sum finite (scales with a finite sum: Hanin & Rolnick 2018).
            block.linear.weight.data /= cfg.depth


def validate_fc(cfg: FcConfig) -> None:
    """Known shortcut, activation and init; a gate bias only with highway layers; positive sizes."""
    for key, value, choices in (("shortcut", cfg.shortcut, SHORTCUTS), ("activation", cfg.activation, tuple(ACTIVATIONS)), ("init", cfg.init, INITS)):
        if value not in choices:
            raise UserError(f"model.{key}={value!r} is not valid for the fc family; choose one of: {', '.join(choices)}")
    if cfg.depth < 1:
        raise UserError(f"model.depth={cfg.depth} must be at least 1 (one plain layer, then depth-1 layers of model.shortcut's kind)")
    if cfg.width is not None and cfg.width < 1:
        raise UserError(f"model.width={cfg.width} must be a positive number of units (or null for the paper's 71/50)")
    if cfg.image_size < 1:
        raise UserError(f"model.image_size={cfg.image_size} must be the positive side of the input images (28 for MNIST)")
    if cfg.gate_bias is not None and cfg.shortcut != "highway":
        raise UserError(f"model.gate_bias={cfg.gate_bias:g} needs highway layers; add model.shortcut=highway or drop model.gate_bias")


def fc_run_name(cfg: FcConfig) -> str:
    """plain-fc10, highway-fc50, residual-fc100, highway-fc50-tanh-gate-4, plain-fc20-w128-he."""
    kind = KINDS[cfg.shortcut]
    parts = [f"{kind}-fc{cfg.depth}"]
    if cfg.width is not None and cfg.width != WIDTHS[cfg.shortcut]:
        parts.append(f"w{cfg.width}")
    if cfg.activation != "relu":
        parts.append(cfg.activation)
    if cfg.init != "glorot":
        parts.append(cfg.init)
    if cfg.gate_bias is not None and cfg.gate_bias != DEFAULT_GATE_BIAS:
        parts.append(f"gate{cfg.gate_bias:g}")
    if cfg.image_size != 28:
        parts.append(f"in{cfg.image_size}")
    return "-".join(parts)


def build_fc(cfg: FcConfig, in_channels: int, num_classes: int) -> nn.Module:
    model = FcNet(cfg.depth, layer_width(cfg), cfg.shortcut, cfg.activation, in_channels * cfg.image_size**2, num_classes)
    init_fc(model, cfg)
    return model


register_family("fc", FcConfig, build_fc, validate_fc, fc_run_name, kind=lambda cfg: KINDS[cfg.shortcut])
