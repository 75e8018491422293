"""CReLU and the "looks linear" initialisation (Balduzzi et al. 2017, The Shattered Gradients Problem)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def crelu(x: torch.Tensor) -> torch.Tensor:
    """[ReLU(x), ReLU(-x)] along the channels: twice the channels, and x = first half - second half."""
    return torch.cat([F.relu(x), F.relu(-x)], dim=1)


class CReLU(nn.Module):
    """crelu as a layer."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return crelu(x)


class CReLUBlock(nn.Module):
    """A plain block with CReLU: conv-BN on CReLU(x), then conv-BN on CReLU of that (no shortcut).

    The activation comes first so that, with mirrored weights, the block is a linear map of its input;
    stacked, the net is the plain net's conv-BN-activation sequence. Each conv outputs the plain twin's
    width and reads twice as many channels."""

    def __init__(self, in_channels: int, channels: int, stride: int, shortcut: str = "none", norm: bool = True, **_):
        super().__init__()
        self.conv1 = nn.Conv2d(2 * in_channels, channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels) if norm else nn.Identity()
        self.conv2 = nn.Conv2d(2 * channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels) if norm else nn.Identity()
        self.shortcut = None  # plain nets only (validated in models/cifar.py)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn1(self.conv1(crelu(x)))
        return self.bn2(self.conv2(crelu(out)))


def use_crelu(model: nn.Module, norm: bool) -> None:
    """Turn a plain CifarNet into its CReLU version: no activation after the stem, CReLU before the pool."""
    model.stem_activation = nn.Identity()  # the first block applies CReLU to its input
    model.final_activation = CReLU()
    model.fc = nn.Linear(2 * model.fc.in_features, model.fc.out_features)
    if not norm:
        model.bn1 = nn.Identity()


def mirrored(weight: torch.Tensor) -> None:
    """W = [W0, -W0] over the input's two CReLU halves, W0 orthogonal, so that W . CReLU(x) = W0 . x."""
    out_channels, in_channels = weight.shape[0], weight.shape[1] // 2
    half = torch.empty(out_channels, in_channels * weight[0, 0].numel())
    nn.init.orthogonal_(half)
    half = half.view(out_channels, in_channels, *weight.shape[2:])
    with torch.no_grad():
        weight.copy_(torch.cat([half, -half], dim=1))


def init_looks_linear(model: nn.Module) -> None:
    """Mirror every conv and the classifier that reads CReLU features; orthogonal stem; zero classifier bias."""
    nn.init.orthogonal_(model.conv1.weight.view(model.conv1.out_channels, -1))
    for module in model.modules():
        if isinstance(module, CReLUBlock):
            mirrored(module.conv1.weight)
            mirrored(module.conv2.weight)
    mirrored(model.fc.weight)
    nn.init.zeros_(model.fc.bias)  # then the whole net, not only each block, is linear at initialisation
