"""The blocks of He et al.'s nets and their successors, each built from the parts it is given (models/parts.py).

Each forward shows the line where plain and residual nets differ: the shortcut is added, or not (or, for a
highway net, mixed in by a gate). Every block has `out_channels` (what the next block reads), `last_bn()` (the
normalisation that ends its branch) and `adds_shortcut` (whether the branch is added to a shortcut).
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from resdeep.models.highway import highway
from resdeep.models.parts import PAPER, Parts
from resdeep.models.stochastic_depth import StochasticDepth


def conv3x3(in_channels: int, out_channels: int, stride: int = 1, bias: bool = False) -> nn.Conv2d:
    """3x3 convolution with padding 1, without bias where a normalisation follows."""
    return nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=bias)


class PadShortcut(nn.Module):
    """Option A: identity, subsampled by the stride, with zero channels appended where the width grows."""

    def __init__(self, in_channels: int, out_channels: int, stride: int):
        super().__init__()
        self.extra_channels = out_channels - in_channels
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride > 1:
            x = x[:, :, :: self.stride, :: self.stride]
        if self.extra_channels:
            x = F.pad(x, (0, 0, 0, 0, 0, self.extra_channels))
        return x


class ProjectionShortcut(nn.Sequential):
    """Options B and C: a 1x1 convolution and BN that match the residual branch's shape."""

    def __init__(self, in_channels: int, out_channels: int, stride: int):
        super().__init__(
            nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
            nn.BatchNorm2d(out_channels),
        )


def make_shortcut(option: str, in_channels: int, out_channels: int, stride: int) -> Optional[nn.Module]:
    """The shortcut of one block, or None for a plain net (option 'none'); a highway block carries x as A does."""
    reshapes = stride != 1 or in_channels != out_channels
    if option == "none":
        return None
    if option == "C" or (option == "B" and reshapes):
        return ProjectionShortcut(in_channels, out_channels, stride)
    if reshapes:
        return PadShortcut(in_channels, out_channels, stride)
    return nn.Identity()


class Block(nn.Module):
    """What every block here answers: the BN that ends its branch, and whether the branch is added to a shortcut."""

    def last_bn(self) -> nn.Module:
        return self.bn2

    @property
    def adds_shortcut(self) -> bool:
        """True for residual blocks; False for plain ones and for highway ones (a gate mixes the shortcut in)."""
        return self.shortcut is not None and getattr(self, "gate", None) is None


class BasicBlock(Block):
    """Two 3x3 conv-norm layers (He et al. 2016, Fig. 2), the shortcut, then the activation.

    Its parts make it every 6n+2 variant: plain, residual (A/B/C), highway, SE, stochastic depth, CReLU, and
    the teaching ResNet's block (convs with bias)."""

    def __init__(self, in_channels: int, channels: int, stride: int, parts: Parts = PAPER, survival: Optional[float] = None):
        super().__init__()
        self.act = parts.act()
        self.conv1 = conv3x3(in_channels, channels, stride, parts.conv_bias)
        self.bn1 = parts.norm_layer(channels)
        self.conv2 = conv3x3(channels * parts.widening, channels, bias=parts.conv_bias)
        self.bn2 = parts.norm_layer(channels)
        # Highway: T = sigmoid(conv3x3(x) + b_T) on the block's input; x is carried as option A carries it.
        self.gate = nn.Conv2d(in_channels, channels, 3, stride=stride, padding=1) if parts.shortcut == "highway" else None
        self.shortcut = make_shortcut(parts.shortcut, in_channels, channels, stride)
        self.se = parts.attention_layer(channels)
        self.drop_path = None if survival is None else StochasticDepth(survival)
        self.out_channels = channels * parts.widening

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.drop_path is not None and self.drop_path.drops_branch():
            return self.act(self.shortcut(x))  # stochastic depth: the branch is not computed at all
        out = self.act(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.se is not None:
            out = self.se(out)
        if self.drop_path is not None:
            out = self.drop_path(out)
        if self.gate is not None:
            out = highway(out, self.gate(x), self.shortcut(x))
        elif self.shortcut is not None:
            out = out + self.shortcut(x)
        return self.act(out)


def preact_sum(block: Block, branch: torch.Tensor, x: torch.Tensor, pre: torch.Tensor) -> torch.Tensor:
    """A pre-activation block's end (He et al. 2016b): SE on the branch, then the shortcut added, nothing after.
    A projection sees the pre-activated input; the identity carries x itself."""
    if block.se is not None:
        branch = block.se(branch)
    if block.shortcut is None:
        return branch
    return branch + block.shortcut(pre if isinstance(block.shortcut, ProjectionShortcut) else x)


class PreActBlock(Block):
    """Pre-activation block (He et al. 2016b): BN-ReLU-conv twice, then add; nothing after the addition."""

    def __init__(self, in_channels: int, channels: int, stride: int, parts: Parts = PAPER):
        super().__init__()
        self.bn1 = parts.norm_layer(in_channels)
        self.conv1 = conv3x3(in_channels, channels, stride)
        self.bn2 = parts.norm_layer(channels)
        self.conv2 = conv3x3(channels, channels)
        self.shortcut = make_shortcut(parts.shortcut, in_channels, channels, stride)
        self.se = parts.attention_layer(channels)
        self.out_channels = channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pre = F.relu(self.bn1(x))
        out = self.conv1(pre)
        out = self.conv2(F.relu(self.bn2(out)))
        return preact_sum(self, out, x, pre)


class Bottleneck(Block):
    """1x1 reduce, 3x3, 1x1 expand (Table 1, 50 layers and more; ResNeXt's with a grouped 3x3), add, ReLU.

    The stride sits on the first 1x1, as in the original release, or on the 3x3 (torchvision, ResNeXt)."""

    def __init__(self, in_channels: int, width: int, out_channels: int, stride: int, parts: Parts = PAPER,
                 groups: int = 1, stride_on_3x3: bool = False):
        super().__init__()
        stride_1x1, stride_3x3 = (1, stride) if stride_on_3x3 else (stride, 1)
        self.conv1 = nn.Conv2d(in_channels, width, 1, stride=stride_1x1, bias=False)
        self.bn1 = parts.norm_layer(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride=stride_3x3, padding=1, groups=groups, bias=False)
        self.bn2 = parts.norm_layer(width)
        self.conv3 = nn.Conv2d(width, out_channels, 1, bias=False)
        self.bn3 = parts.norm_layer(out_channels)
        self.se = parts.attention_layer(out_channels)
        self.shortcut = make_shortcut(parts.shortcut, in_channels, out_channels, stride)
        self.out_channels = out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.se is not None:
            out = self.se(out)
        if self.shortcut is not None:
            out = out + self.shortcut(x)
        return F.relu(out)

    def last_bn(self) -> nn.Module:
        return self.bn3


class PreActBottleneck(Block):
    """BN-ReLU-conv1x1, BN-ReLU-conv3x3, BN-ReLU-conv1x1 (x4 channels), then add (He et al. 2016b, ResNet-164)."""

    expansion = 4

    def __init__(self, in_channels: int, channels: int, stride: int, parts: Parts = PAPER):
        super().__init__()
        out_channels = channels * self.expansion
        self.bn1 = parts.norm_layer(in_channels)
        self.conv1 = nn.Conv2d(in_channels, channels, 1, stride=stride, bias=False)  # stride on the 1x1, as in He et al.
        self.bn2 = parts.norm_layer(channels)
        self.conv2 = conv3x3(channels, channels)
        self.bn3 = parts.norm_layer(channels)
        self.conv3 = nn.Conv2d(channels, out_channels, 1, bias=False)
        self.shortcut = make_shortcut(parts.shortcut, in_channels, out_channels, stride)
        self.se = parts.attention_layer(out_channels)
        self.out_channels = out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pre = F.relu(self.bn1(x))
        out = self.conv2(F.relu(self.bn2(self.conv1(pre))))
        out = self.conv3(F.relu(self.bn3(out)))
        return preact_sum(self, out, x, pre)

    def last_bn(self) -> nn.Module:
        return self.bn3
