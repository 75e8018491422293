"""Fixup (Zhang, Dauphin, Ma 2019): residual nets without normalisation, trained from a careful init.

Fixup is a block and an init rule together: its block has scalar biases before each conv and activation and a
scalar multiplier instead of BN, the net a scalar bias after the stem conv and before the classifier (the CIFAR
net builds these when model.init=fixup), and the init scales each branch by L^(-1/(2m-2)).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from resdeep.models.blocks import conv3x3, make_shortcut

LAYERS_PER_BRANCH = 2  # m in L^(-1/(2m-2)); the basic block's branch has two convolutions


class ScalarBias(nn.Module):
    """One learned number added to every element (Fixup's biases, initialised at 0)."""

    def __init__(self):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.bias


class FixupBlock(nn.Module):
    """The official CIFAR block: conv1(x + b1a) -> ReLU(. + b1b) -> conv2(. + b2a) -> . * scale + b2b, add, ReLU."""

    def __init__(self, in_channels: int, channels: int, stride: int, shortcut: str = "A"):
        super().__init__()
        self.bias1a, self.bias1b, self.bias2a, self.bias2b = (ScalarBias() for _ in range(4))
        self.conv1 = conv3x3(in_channels, channels, stride)
        self.conv2 = conv3x3(channels, channels)
        self.scale = nn.Parameter(torch.ones(1))
        self.shortcut = make_shortcut(shortcut, in_channels, channels, stride)
        self.reshapes = stride != 1 or in_channels != channels
        self.out_channels = channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shifted = self.bias1a(x)
        out = F.relu(self.bias1b(self.conv1(shifted)))
        out = self.bias2b(self.conv2(self.bias2a(out)) * self.scale)
        # As in the official code, the subsampling shortcut sees x + b1a and the identity sees x.
        return F.relu(out + self.shortcut(shifted if self.reshapes else x))


def init_fixup(model: nn.Module) -> None:
    """Zero the classifier and each branch's last conv; scale the other branch convs by L^(-1/(2m-2))."""
    blocks = [module for module in model.modules() if isinstance(module, FixupBlock)]
    factor = len(blocks) ** (-1 / (2 * LAYERS_PER_BRANCH - 2))
    for block in blocks:
        nn.init.kaiming_normal_(block.conv1.weight, mode="fan_out", nonlinearity="relu")  # the official std
        with torch.no_grad():
            block.conv1.weight.mul_(factor)
        nn.init.zeros_(block.conv2.weight)
    classifier = model.fc[-1]
    nn.init.zeros_(classifier.weight)
    nn.init.zeros_(classifier.bias)
