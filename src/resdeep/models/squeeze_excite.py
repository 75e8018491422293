"""Squeeze-and-Excitation (Hu et al. 2018): channel gates on a residual branch, before the shortcut joins it.

The one SE module: every block that offers attention (models/parts.py) applies it the same way, to its
branch's output right before the addition.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

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
