"""Highway gates (Srivastava, Greff, Schmidhuber 2015): y = H(x) T(x) + x (1 - T(x)), T = sigmoid(gate(x) + b_T).

One formula for the three nets that use it: the shortcut=highway blocks of the CIFAR 6n+2 nets, the original
19-layer CIFAR-10 net (models/highway19.py) and the fully connected MNIST nets (models/fully_connected.py).
"""
from __future__ import annotations

import torch
from torch import nn

DEFAULT_GATE_BIAS = -2.0  # the official CIFAR net's: gates start mostly closed, blocks close to the identity


def highway(transform: torch.Tensor, gate_logits: torch.Tensor, carried: torch.Tensor) -> torch.Tensor:
    """H T + x (1 - T): the gate T = sigmoid(gate_logits) decides between the transform and the carried input."""
    gate = torch.sigmoid(gate_logits)
    return transform * gate + carried * (1 - gate)


def init_gates(model: nn.Module, gate_bias: float) -> None:
    """Set every gate's bias b_T (after the init rule, which zeroes biases): each module's `gate`."""
    for module in model.modules():
        gate = getattr(module, "gate", None)
        if isinstance(gate, (nn.Conv2d, nn.Linear)):
            nn.init.constant_(gate.bias, gate_bias)
