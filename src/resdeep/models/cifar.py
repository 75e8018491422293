"""The CIFAR-10 networks of section 4.2: 6n+2 layers, widths 16/32/64, plain or residual."""
import math
from functools import partial
from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from resdeep.errors import UserError, choose
from resdeep.models import fixup, highway, looks_linear, stochastic_depth
from resdeep.models.blocks import BasicBlock, PreActBlock, conv3x3
from resdeep.models.init import init_weights
from resdeep.models.preact_bottleneck import PreActBottleneck
from resdeep.models.registry import register_family
from resdeep.models.se import with_se
from resdeep.models.stack import run_blocks

SHORTCUTS = ("A", "B", "C", "none", "highway")
BLOCKS = ("basic", "preact", "preact_bottleneck")
BLOCK_CLASSES = {"basic": BasicBlock, "preact": PreActBlock, "preact_bottleneck": PreActBottleneck}
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
    se: bool = False  # Squeeze-and-Excitation on each residual branch (Hu et al. 2018; models/se.py)


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
        block_class: Optional[type] = None,
    ):
        super().__init__()
        layers = 3 if block == "preact_bottleneck" else 2  # convolutions per block
        assert (depth - 2) % (3 * layers) == 0 and depth >= 3 * layers + 2, "CIFAR nets have 6n+2 layers (9n+2 with bottlenecks)"
        blocks_per_stage = (depth - 2) // (3 * layers)
        self.preact = block in ("preact", "preact_bottleneck")
        block_class = block_class or BLOCK_CLASSES[block]
        self.checkpoint_activations = checkpoint_activations
        self.conv1 = conv3x3(in_channels, width)
        self.bn1 = None if self.preact else nn.BatchNorm2d(width)
        self.stem_activation = nn.ReLU()  # remedies swap these (models/looks_linear.py)
        blocks, channels = [], width
        for stage, stage_width in enumerate((width, 2 * width, 4 * width)):
            for index in range(blocks_per_stage):
                stride = 2 if stage > 0 and index == 0 else 1
                blocks.append(block_class(channels, stage_width, stride, shortcut))
                channels = stage_width * getattr(block_class, "expansion", 1)
        self.blocks = nn.Sequential(*blocks)
        self.final_bn = nn.BatchNorm2d(channels) if self.preact else None
        self.final_activation = nn.Identity()
        self.fc = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(x)
        if self.bn1 is not None:
            x = self.stem_activation(self.bn1(x))
        x = run_blocks(self.blocks, x, self.checkpoint_activations)
        if self.final_bn is not None:
            x = F.relu(self.final_bn(x))
        x = torch.flatten(F.adaptive_avg_pool2d(self.final_activation(x), 1), 1)
        return self.fc(x)


def validate_cifar(cfg: CifarConfig) -> None:
    """6n+2 depths, a known shortcut and block, a positive width."""
    if cfg.block == "preact_bottleneck" and (cfg.depth < 11 or (cfg.depth - 2) % 9):
        raise UserError(f"model.depth={cfg.depth} is not 9n+2 with n >= 1, which model.block=preact_bottleneck needs; e.g. 29, 56, 110, 164")
    if cfg.block != "preact_bottleneck" and (cfg.depth < 8 or (cfg.depth - 2) % 6):
        raise UserError(f"model.depth={cfg.depth} is not 6n+2 with n >= 1; CIFAR-style depths are 8, 14, 20, 26, 32, ..., 56, 110, 1202")
    choose(cfg.shortcut, SHORTCUTS, "model.shortcut")
    choose(cfg.block, BLOCKS, "model.block")
    if cfg.se and (cfg.shortcut not in ("A", "B", "C") or cfg.stochastic_depth is not None or cfg.init != "he" or cfg.norm != "batch"):
        raise UserError("model.se=true gates the residual branch of the paper's blocks: it needs model.shortcut=A|B|C and no other remedy (stochastic_depth, init, norm)")
    if cfg.width < 1:
        raise UserError(f"model.width={cfg.width} must be a positive number of filters")
    validate_remedies(cfg)


def validate_remedies(cfg: CifarConfig) -> None:
    """Each remedy on the nets it was made for; anything else is refused with the option that is wrong."""
    choose(cfg.activation, ACTIVATIONS, "model.activation")
    choose(cfg.init, INITS, "model.init")
    choose(cfg.norm, NORMS, "model.norm")
    residual, highway_net = cfg.shortcut in ("A", "B", "C"), cfg.shortcut == "highway"
    if cfg.gate_bias is not None and not highway_net:
        raise UserError(f"model.gate_bias={cfg.gate_bias} needs model.shortcut=highway (it is the highway gates' bias); remove it or use model=highway{cfg.depth}")
    if cfg.gate_bias is not None and not math.isfinite(cfg.gate_bias):
        raise UserError(f"model.gate_bias={cfg.gate_bias} must be a finite number (the paper's is -2)")
    if cfg.stochastic_depth is not None:
        if not 0 < cfg.stochastic_depth <= 1:
            raise UserError(f"model.stochastic_depth={cfg.stochastic_depth} is a survival probability: it must be in (0, 1] (the paper's 0.5), or null for off")
        if not residual:
            raise UserError(f"model.stochastic_depth needs a residual net (model.shortcut=A|B|C); got model.shortcut={cfg.shortcut}: a {'plain' if cfg.shortcut == 'none' else 'highway'} block has no branch to drop")
        if cfg.block != "basic" or cfg.init != "he":
            raise UserError(f"model.stochastic_depth is implemented for the paper's post-activation block with BN (model.block=basic model.init=he); got model.block={cfg.block} model.init={cfg.init}")
    if cfg.activation == "crelu" and cfg.shortcut != "none":
        raise UserError(f"model.activation=crelu is for plain nets: it needs model.shortcut=none (got {cfg.shortcut})")
    if cfg.init == "looks_linear" and cfg.activation != "crelu":
        raise UserError("model.init=looks_linear needs model.activation=crelu (the mirrored weights undo CReLU's split)")
    if cfg.activation == "crelu" and cfg.block != "basic":
        raise UserError("model.activation=crelu needs model.block=basic")
    if cfg.init == "fixup":
        if cfg.norm != "none":
            raise UserError("model.init=fixup replaces BatchNorm: it needs model.norm=none (got model.norm=batch)")
        if cfg.shortcut != "A" or cfg.block != "basic":
            raise UserError(f"model.init=fixup is for residual nets with identity shortcuts and basic blocks (model.shortcut=A model.block=basic); got model.shortcut={cfg.shortcut} model.block={cfg.block}")
    if cfg.norm == "none" and cfg.init not in ("fixup", "looks_linear"):
        raise UserError(f"model.norm=none needs model.init=fixup (residual nets) or model.init=looks_linear (plain CReLU nets); got model.init={cfg.init}")
    if highway_net and cfg.block != "basic":
        raise UserError("model.shortcut=highway needs model.block=basic")


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
    if cfg.gate_bias is not None and cfg.gate_bias != highway.DEFAULT_GATE_BIAS:
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
    model = CifarNet(cfg.depth, cfg.shortcut, cfg.block, cfg.width, in_channels, num_classes, cfg.checkpoint_activations, pick_block(cfg))
    if cfg.activation == "crelu":
        looks_linear.use_crelu(model, norm=cfg.norm == "batch")
    if cfg.init == "fixup":
        fixup.make_fixup(model)
    init_weights(model, cfg.zero_init_residual)
    if cfg.shortcut == "highway":
        highway.init_gates(model, highway.DEFAULT_GATE_BIAS if cfg.gate_bias is None else cfg.gate_bias)
    if cfg.stochastic_depth is not None:
        stochastic_depth.set_survival(model.blocks, cfg.stochastic_depth)
    if cfg.init == "looks_linear":
        looks_linear.init_looks_linear(model)
    if cfg.init == "fixup":
        fixup.init_fixup(model)
    return model


def pick_block(cfg: CifarConfig):
    """The block class a remedy asks for, or None for the paper's (basic, pre-activation, bottleneck)."""
    if cfg.se:
        return with_se(BLOCK_CLASSES[cfg.block])
    if cfg.shortcut == "highway":
        return highway.HighwayBlock
    if cfg.stochastic_depth is not None:
        return stochastic_depth.StochasticDepthBlock
    if cfg.activation == "crelu":
        return partial(looks_linear.CReLUBlock, norm=cfg.norm == "batch")
    if cfg.init == "fixup":
        return fixup.FixupBlock
    return None


register_family("cifar", CifarConfig, build_cifar, validate_cifar, cifar_run_name, kind=cifar_kind)
