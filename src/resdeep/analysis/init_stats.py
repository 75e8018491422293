"""Glorot & Bengio 2010 against He et al. 2015: activations layer by layer at initialisation.

A deep plain stack of 3x3 convolutions with no BatchNorm, weights drawn with std sqrt(1/fan_in)
(Xavier/Glorot) or sqrt(2/fan_in) (He), with ReLU or tanh. With ReLU, Xavier's activations shrink
layer by layer while He's keep their scale.
"""
from __future__ import annotations

import math
from typing import Dict, List

import torch
import torch.nn.functional as F

SCHEMES = {"xavier": 1.0, "he": 2.0}  # weight variance = gain / fan_in
ACTIVATIONS = {"relu": F.relu, "tanh": torch.tanh}


@torch.no_grad()
def activation_stats(depth: int = 30, width: int = 64, scheme: str = "he", activation: str = "relu",
                     batch: int = 64, size: int = 16, seed: int = 0) -> List[Dict[str, float]]:
    """Mean and std of each layer's activations for a random input through a fresh plain stack."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, width, size, size, generator=generator)
    fan_in = width * 9
    std = math.sqrt(SCHEMES[scheme] / fan_in)
    rows = []
    for layer in range(1, depth + 1):
        weight = torch.randn(width, width, 3, 3, generator=generator) * std
        x = ACTIVATIONS[activation](F.conv2d(x, weight, padding=1))
        rows.append({"layer": layer, "scheme": scheme, "activation": activation, "mean": x.mean().item(), "std": x.std().item()})
    return rows
