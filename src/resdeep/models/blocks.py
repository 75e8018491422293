"""Residual building blocks. Each forward shows the one line where plain and residual nets differ."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def conv3x3(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv2d:
    """3x3 convolution with padding 1 and no bias (BN follows)."""
    return nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)


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


def make_shortcut(option: str, in_channels: int, out_channels: int, stride: int) -> nn.Module | None:
    """The shortcut of one block, or None for a plain net (option 'none')."""
    reshapes = stride != 1 or in_channels != out_channels
    if option == "none":
        return None
    if option == "C" or (option == "B" and reshapes):
        return ProjectionShortcut(in_channels, out_channels, stride)
    if reshapes:
        return PadShortcut(in_channels, out_channels, stride)
    return nn.Identity()


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers (He et al. 2016, Fig. 2); ReLU after the addition."""

    expansion = 1

    def __init__(self, in_channels: int, channels: int, stride: int, shortcut: str, **_):
        super().__init__()
        self.conv1 = conv3x3(in_channels, channels, stride)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = conv3x3(channels, channels)
        self.bn2 = nn.BatchNorm2d(channels)
        self.shortcut = make_shortcut(shortcut, in_channels, channels, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.shortcut is not None:
            out = out + self.shortcut(x)
        return F.relu(out)

    def last_bn(self) -> nn.BatchNorm2d:
        return self.bn2


class PreActBlock(nn.Module):
    """Pre-activation block (He et al. 2016b): BN-ReLU-conv twice, then add; nothing after the addition."""

    expansion = 1

    def __init__(self, in_channels: int, channels: int, stride: int, shortcut: str, **_):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.conv1 = conv3x3(in_channels, channels, stride)
        self.bn2 = nn.BatchNorm2d(channels)
        self.conv2 = conv3x3(channels, channels)
        self.shortcut = make_shortcut(shortcut, in_channels, channels, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pre = F.relu(self.bn1(x))
        out = self.conv1(pre)
        out = self.conv2(F.relu(self.bn2(out)))
        if self.shortcut is not None:
            # Projections see the pre-activated input; the identity carries x itself.
            out = out + (self.shortcut(pre) if isinstance(self.shortcut, ProjectionShortcut) else self.shortcut(x))
        return out

    def last_bn(self) -> nn.BatchNorm2d:
        return self.bn2


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3, 1x1 expand x4 (Table 1, 50 layers and more)."""

    expansion = 4

    def __init__(self, in_channels: int, channels: int, stride: int, shortcut: str, stride_on_3x3: bool = False):
        super().__init__()
        out_channels = channels * self.expansion
        stride_1x1, stride_3x3 = (1, stride) if stride_on_3x3 else (stride, 1)
        self.conv1 = nn.Conv2d(in_channels, channels, 1, stride=stride_1x1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = conv3x3(channels, channels, stride_3x3)
        self.bn2 = nn.BatchNorm2d(channels)
        self.conv3 = nn.Conv2d(channels, out_channels, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.shortcut = make_shortcut(shortcut, in_channels, out_channels, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.shortcut is not None:
            out = out + self.shortcut(x)
        return F.relu(out)

    def last_bn(self) -> nn.BatchNorm2d:
        return self.bn3
