"""The pre-activation bottleneck of He et al. 2016b (ResNet-164 on CIFAR): 9n+2 layers, widths x4."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from resdeep.models.blocks import ProjectionShortcut, conv3x3, make_shortcut


class PreActBottleneck(nn.Module):
    """BN-ReLU-conv1x1, BN-ReLU-conv3x3, BN-ReLU-conv1x1 (x4 channels), then add; nothing after the addition."""

    expansion = 4

    def __init__(self, in_channels: int, channels: int, stride: int, shortcut: str, **_):
        super().__init__()
        out_channels = channels * self.expansion
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.conv1 = nn.Conv2d(in_channels, channels, 1, stride=stride, bias=False)  # stride on the 1x1, as in He et al.
        self.bn2 = nn.BatchNorm2d(channels)
        self.conv2 = conv3x3(channels, channels)
        self.bn3 = nn.BatchNorm2d(channels)
        self.conv3 = nn.Conv2d(channels, out_channels, 1, bias=False)
        self.se = None  # SEPreActBottleneck (models/se.py) puts a gate here
        self.shortcut = make_shortcut(shortcut, in_channels, out_channels, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pre = F.relu(self.bn1(x))
        out = self.conv2(F.relu(self.bn2(self.conv1(pre))))
        out = self.conv3(F.relu(self.bn3(out)))
        if self.se is not None:
            out = self.se(out)
        if self.shortcut is not None:
            # Projections see the pre-activated input; the identity carries x itself.
            out = out + (self.shortcut(pre) if isinstance(self.shortcut, ProjectionShortcut) else self.shortcut(x))
        return out

    def last_bn(self) -> nn.BatchNorm2d:
        return self.bn3
