"""What a block is given besides its convolutions (timm's norm_layer, act_layer, attn_layer, drop_path).

A family turns its options into one Parts once, and every block of the net is built from it: the same
normalisation, activation, attention and shortcut rule in each block, no module swapped in afterwards.
Stochastic depth differs per block (its survival probability p_l), so a block is given that on its own,
and the init rule is applied to the built net (models/weight_init.py, looks_linear.py, fixup.py).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import torch
import torch.nn.functional as F
from torch import nn

from resdeep.models.looks_linear import crelu
from resdeep.models.squeeze_excite import SqueezeExcite

ACTIVATIONS = {"relu": F.relu, "crelu": crelu}
WIDENING = {"relu": 1, "crelu": 2}  # channels of an activation's output per channel of its input


@dataclass(frozen=True)
class Parts:
    """The parts of every block of one net, named by the options that choose them (the paper's by default)."""

    norm: str = "batch"  # batch | none
    activation: str = "relu"  # relu | crelu: [ReLU(x), ReLU(-x)], so the next conv reads twice the channels
    attention: str = "none"  # none | se: Squeeze-and-Excitation on the branch, before the shortcut joins it
    shortcut: str = "A"  # A | B | C (He et al.'s options) | highway (a gate mixes branch and x) | none (plain)
    conv_bias: bool = False  # the teaching ResNet's convs have biases; BN makes them redundant elsewhere

    def norm_layer(self, channels: int) -> nn.Module:
        """BatchNorm, or nothing (an nn.Identity, which has no tensors: the state_dict does not change)."""
        return nn.BatchNorm2d(channels) if self.norm == "batch" else nn.Identity()

    def act(self) -> Callable[[torch.Tensor], torch.Tensor]:
        return ACTIVATIONS[self.activation]

    @property
    def widening(self) -> int:
        return WIDENING[self.activation]

    def attention_layer(self, channels: int) -> Optional[nn.Module]:
        """The one SE module (reduction 16) on a branch of `channels` maps, or None."""
        return SqueezeExcite(channels) if self.attention == "se" else None


PAPER = Parts()  # He et al. 2016: BN, ReLU, no attention, option A
