"""Squeeze-and-Excitation (Hu et al. 2018): channel gates on a residual branch, before the addition."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from resdeep.models.blocks import BasicBlock, PreActBlock, ProjectionShortcut
from resdeep.models.preact_bottleneck import PreActBottleneck

REDUCTION = 16


class SqueezeExcite(nn.Module):
    """u * sigmoid(W2 ReLU(W1 GAP(u))), one gate per channel; W1 reduces the channels by 16."""

    def __init__(self, channels: int, reduction: int = REDUCTION):
        super().__init__()
        hidden = max(1, channels // reduction)  # a 16-channel stage keeps one hidden unit
        self.squeeze = nn.Linear(channels, hidden)
        self.excite = nn.Linear(hidden, channels)

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        gates = torch.sigmoid(self.excite(F.relu(self.squeeze(u.mean((2, 3))))))
        return u * gates[:, :, None, None]


class SEBasicBlock(BasicBlock):
    """He et al.'s basic block with SE on the branch's output (after the second BN, before the addition)."""

    def __init__(self, in_channels: int, channels: int, stride: int, shortcut: str, **_):
        super().__init__(in_channels, channels, stride, shortcut)
        self.se = SqueezeExcite(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.se(self.bn2(self.conv2(out)))
        if self.shortcut is not None:
            out = out + self.shortcut(x)
        return F.relu(out)


class SEPreActBlock(PreActBlock):
    """The pre-activation block with SE on the branch's output (after the second conv, before the addition)."""

    def __init__(self, in_channels: int, channels: int, stride: int, shortcut: str, **_):
        super().__init__(in_channels, channels, stride, shortcut)
        self.se = SqueezeExcite(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pre = F.relu(self.bn1(x))
        out = self.se(self.conv2(F.relu(self.bn2(self.conv1(pre)))))
        if self.shortcut is not None:
            out = out + (self.shortcut(pre) if isinstance(self.shortcut, ProjectionShortcut) else self.shortcut(x))
        return out


class SEPreActBottleneck(PreActBottleneck):
    """The pre-activation bottleneck with SE on the branch (SE-ResNet-164 of the SE paper's CIFAR table)."""

    def __init__(self, in_channels: int, channels: int, stride: int, shortcut: str, **_):
        super().__init__(in_channels, channels, stride, shortcut)
        self.se = SqueezeExcite(channels * self.expansion)


SE_BLOCKS = {BasicBlock: SEBasicBlock, PreActBlock: SEPreActBlock, PreActBottleneck: SEPreActBottleneck}


def with_se(block_class: type) -> type:
    """The SE version of a CIFAR block class (model.se=true)."""
    return SE_BLOCKS[block_class]
