"""The CIFAR-10 networks of section 4.2 (6n+2 layers, widths 16/32/64, plain or residual) and the remedies for depth.

Family `cifar`: the paper's plain and residual nets, pre-activation and bottleneck blocks, SE, and the remedies
the field proposed (highway gates, stochastic depth, CReLU with the looks-linear init, Fixup), each a part the
blocks are given (models/parts.py) or an init rule, checked once, here, against what it was made for.
"""
import math
from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from resdeep.errors import UserError, choose
from resdeep.models.blocks import BasicBlock, PreActBlock, PreActBottleneck, conv3x3
from resdeep.models.fixup import FixupBlock, ScalarBias, init_fixup
from resdeep.models.highway import DEFAULT_GATE_BIAS, init_gates
from resdeep.models.looks_linear import init_looks_linear
from resdeep.models.parts import Parts
from resdeep.models.registry import register_family
from resdeep.models.stages import make_stages, run_blocks
from resdeep.models.stochastic_depth import survival_probabilities
from resdeep.models.weight_init import init_weights

SHORTCUTS = ("A", "B", "C", "none", "highway")
RESIDUAL = ("A", "B", "C")
BLOCKS = {"basic": BasicBlock, "preact": PreActBlock, "preact_bottleneck": PreActBottleneck}
ACTIVATIONS = ("relu", "crelu")
INITS = ("he", "looks_linear", "fixup")
NORMS = ("batch", "none")


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
    # What makes depth trainable besides the identity shortcut (issue 13; README "Trainability remedies").
    gate_bias: Optional[float] = None  # b_T of the highway gates: null = -2 (the paper's) with shortcut=highway
    stochastic_depth: Optional[float] = None  # survival probability p_L of the last block (paper: 0.5); null = off
    activation: str = "relu"  # relu | crelu (plain nets)
    init: str = "he"  # he | looks_linear (crelu plain nets) | fixup (residual nets, norm=none)
    norm: str = "batch"  # batch | none (with init=fixup or init=looks_linear)
    se: bool = False  # Squeeze-and-Excitation on each residual branch (Hu et al. 2018; models/squeeze_excite.py)


def blocks_per_stage(cfg: CifarConfig) -> int:
    """n: 2 convolutions per block (6n+2 layers), 3 with bottlenecks (9n+2)."""
    return (cfg.depth - 2) // (9 if cfg.block == "preact_bottleneck" else 6)


def cifar_parts(cfg: CifarConfig) -> Parts:
    return Parts(norm=cfg.norm, activation=cfg.activation, attention="se" if cfg.se else "none", shortcut=cfg.shortcut)


def block_maker(cfg: CifarConfig, parts: Parts):
    """(in_channels, width, stride, index) -> block `index` of the net, of the kind cfg asks for, with its parts."""
    if cfg.init == "fixup":  # Fixup's own block: scalar biases and a multiplier where the others have BN
        return lambda in_channels, width, stride, index: FixupBlock(in_channels, width, stride)
    if cfg.stochastic_depth is not None:  # the basic block, given its survival probability p_l
        survival = survival_probabilities(3 * blocks_per_stage(cfg), cfg.stochastic_depth)
        return lambda in_channels, width, stride, index: BasicBlock(in_channels, width, stride, parts, survival[index])
    block = BLOCKS[cfg.block]
    return lambda in_channels, width, stride, index: block(in_channels, width, stride, parts)


class CifarResNet(nn.Module):
    """conv3x3 -> norm-activation -> 3 stages of n blocks (maps 32, 16, 8) -> average pool -> fc.

    Pre-activation nets normalise at the end instead of after the stem; Fixup nets have scalar biases there."""

    def __init__(self, cfg: CifarConfig, in_channels: int = 3, num_classes: int = 10):
        super().__init__()
        parts = cifar_parts(cfg)
        preact, fixup = cfg.block != "basic", cfg.init == "fixup"
        n = blocks_per_stage(cfg)
        self.checkpoint_activations = cfg.checkpoint_activations
        self.act = parts.act()
        self.conv1 = conv3x3(in_channels, cfg.width)
        self.bn1 = None if preact else ScalarBias() if fixup else parts.norm_layer(cfg.width)  # Fixup: ReLU(conv1(x) + b)
        stem_channels = cfg.width if preact else cfg.width * parts.widening
        widths = (cfg.width, 2 * cfg.width, 4 * cfg.width)
        self.blocks = make_stages(stem_channels, widths, (n, n, n), (1, 2, 2), block_maker(cfg, parts))
        channels = self.blocks[-1].out_channels
        self.final_bn = nn.BatchNorm2d(channels) if preact else None
        classifier = nn.Linear(channels, num_classes)
        self.fc = nn.Sequential(ScalarBias(), classifier) if fixup else classifier  # Fixup: a bias before the classifier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(x)
        if self.bn1 is not None:
            x = self.act(self.bn1(x))
        x = run_blocks(self.blocks, x, self.checkpoint_activations)
        if self.final_bn is not None:
            x = F.relu(self.final_bn(x))
        x = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
        return self.fc(x)


def requirements(cfg: CifarConfig) -> list:
    """Each remedy (and SE) cfg turns on, with the options it was made for: (on, option as set, {field: allowed}, why)."""
    return [
        (cfg.shortcut == "highway", "model.shortcut=highway", {"block": ("basic",)}, "the gate takes the basic block's addition"),
        (cfg.gate_bias is not None, f"model.gate_bias={cfg.gate_bias}", {"shortcut": ("highway",)}, "it is the highway gates' bias"),
        (cfg.stochastic_depth is not None, f"model.stochastic_depth={cfg.stochastic_depth}",
         {"shortcut": RESIDUAL, "block": ("basic",), "init": ("he",)}, "it drops the residual branch of the paper's post-activation block"),
        (cfg.activation == "crelu", "model.activation=crelu", {"shortcut": ("none",), "block": ("basic",)}, "CReLU is for plain nets"),
        (cfg.init == "looks_linear", "model.init=looks_linear", {"activation": ("crelu",)}, "the mirrored weights undo CReLU's split"),
        (cfg.init == "fixup", "model.init=fixup", {"norm": ("none",), "shortcut": ("A",), "block": ("basic",)},
         "Fixup replaces BatchNorm, in residual nets of identity shortcuts and basic blocks"),
        (cfg.norm == "none", "model.norm=none", {"init": ("fixup", "looks_linear")}, "a deep net without BN needs an init made for it"),
        (cfg.se, "model.se=true", {"shortcut": RESIDUAL, "stochastic_depth": (None,), "init": ("he",)},
         "SE gates the residual branch of the paper's blocks"),
    ]


def shown(value) -> str:
    return "null" if value is None else str(value)


def validate_cifar(cfg: CifarConfig) -> None:
    """6n+2 depths (9n+2 with bottlenecks), known options, a positive width, and each remedy on the nets it was made for."""
    if cfg.block == "preact_bottleneck" and (cfg.depth < 11 or (cfg.depth - 2) % 9):
        raise UserError(f"model.depth={cfg.depth} is not 9n+2 with n >= 1, which model.block=preact_bottleneck needs; e.g. 29, 56, 110, 164")
    if cfg.block != "preact_bottleneck" and (cfg.depth < 8 or (cfg.depth - 2) % 6):
        raise UserError(f"model.depth={cfg.depth} is not 6n+2 with n >= 1; CIFAR-style depths are 8, 14, 20, 26, 32, ..., 56, 110, 1202")
    for key, value, choices in (("shortcut", cfg.shortcut, SHORTCUTS), ("block", cfg.block, tuple(BLOCKS)),
                                ("activation", cfg.activation, ACTIVATIONS), ("init", cfg.init, INITS), ("norm", cfg.norm, NORMS)):
        choose(value, choices, f"model.{key}")
    if cfg.width < 1:
        raise UserError(f"model.width={cfg.width} must be a positive number of filters")
    if cfg.gate_bias is not None and not math.isfinite(cfg.gate_bias):
        raise UserError(f"model.gate_bias={cfg.gate_bias} must be a finite number (the paper's is -2)")
    if cfg.stochastic_depth is not None and not 0 < cfg.stochastic_depth <= 1:
        raise UserError(f"model.stochastic_depth={cfg.stochastic_depth} is a survival probability: it must be in (0, 1] (the paper's 0.5), or null for off")
    for on, option, needs, why in requirements(cfg):
        for key, allowed in needs.items() if on else ():
            value = getattr(cfg, key)
            if value not in allowed:
                raise UserError(f"{option} needs model.{key}={'|'.join(map(shown, allowed))} ({why}); got model.{key}={shown(value)}")


def cifar_kind(cfg: CifarConfig) -> str:
    """plain (no shortcut; CReLU and Looks-Linear nets too), highway, or residual (options A/B/C, Fixup, stochastic depth)."""
    return {"none": "plain", "highway": "highway"}.get(cfg.shortcut, "residual")


def cifar_run_name(cfg: CifarConfig) -> str:
    """plain56, resnet56, resnet56-B, resnet110-preact, resnet20-w32-zi."""
    kind = {"none": "plain", "highway": "highway"}.get(cfg.shortcut, "resnet")
    parts = [f"{kind}{cfg.depth}"]
    if cfg.shortcut not in ("none", "A", "highway"):
        parts.append(cfg.shortcut)
    if cfg.block != "basic":
        parts.append(cfg.block)
    if cfg.width != 16:
        parts.append(f"w{cfg.width}")
    if cfg.zero_init_residual:
        parts.append("zi")
    if cfg.gate_bias is not None and cfg.gate_bias != DEFAULT_GATE_BIAS:
        parts.append(f"g{cfg.gate_bias:g}")
    if cfg.stochastic_depth is not None:
        parts.append(f"sd{cfg.stochastic_depth:g}")
    if cfg.activation != "relu":
        parts.append(cfg.activation)
    parts += {"he": [], "looks_linear": ["ll"], "fixup": ["fixup"]}[cfg.init]
    if cfg.norm == "none" and cfg.init != "fixup":
        parts.append("nonorm")
    if cfg.se:
        parts.append("se")
    return "-".join(parts)


def build_cifar(cfg: CifarConfig, in_channels: int, num_classes: int) -> nn.Module:
    """The net, then its init rule: He (fan-out), the gates' bias; Looks-Linear and Fixup start from He."""
    model = CifarResNet(cfg, in_channels, num_classes)
    init_weights(model, cfg.zero_init_residual)
    if cfg.shortcut == "highway":
        init_gates(model, DEFAULT_GATE_BIAS if cfg.gate_bias is None else cfg.gate_bias)
    if cfg.init == "looks_linear":
        init_looks_linear(model)
    if cfg.init == "fixup":
        init_fixup(model)
    return model


register_family("cifar", CifarConfig, build_cifar, validate_cifar, cifar_run_name, kind=cifar_kind)
