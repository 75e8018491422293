"""CReLU and the "looks linear" initialisation (Balduzzi et al. 2017, The Shattered Gradients Problem).

With activation=crelu every conv after an activation reads twice the channels of its plain twin's and writes
the same number (models/parts.py); init=looks_linear then mirrors each of them, so the net is linear at init.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def crelu(x: torch.Tensor) -> torch.Tensor:
    """[ReLU(x), ReLU(-x)] along the channels: twice the channels, and x = first half - second half."""
    return torch.cat([F.relu(x), F.relu(-x)], dim=1)


def mirrored(weight: torch.Tensor) -> None:
    """W = [W0, -W0] over the input's two CReLU halves, W0 orthogonal, so that W . CReLU(x) = W0 . x."""
    out_channels, in_channels = weight.shape[0], weight.shape[1] // 2
    half = torch.empty(out_channels, in_channels * weight[0, 0].numel())
    nn.init.orthogonal_(half)
    half = half.view(out_channels, in_channels, *weight.shape[2:])
    with torch.no_grad():
        weight.copy_(torch.cat([half, -half], dim=1))


def init_looks_linear(model: nn.Module) -> None:
    """Orthogonal stem; every conv in the blocks and the classifier read CReLU features: mirrored; zero classifier
    bias. Then each conv-BN-CReLU followed by the next conv, and so the whole net, is linear at initialisation."""
    nn.init.orthogonal_(model.conv1.weight.view(model.conv1.out_channels, -1))
    for module in model.blocks.modules():
        if isinstance(module, nn.Conv2d):
            mirrored(module.weight)
    mirrored(model.fc.weight)
    nn.init.zeros_(model.fc.bias)
