"""Stochastic depth (Huang et al. 2016): each residual branch survives a mini-batch with probability p_l."""
from __future__ import annotations

import torch
from torch import nn


def survival_probabilities(num_blocks: int, last: float) -> list[float]:
    """The linear decay rule p_l = 1 - (l / L)(1 - p_L) for blocks l = 1..L."""
    return [1 - (index / num_blocks) * (1 - last) for index in range(1, num_blocks + 1)]


class StochasticDepth(nn.Module):
    """The part a block is given to drop its branch: whole, one draw per mini-batch; scaled by p_l at test time."""

    changes_per_step = True  # the forward differs between steps: no whole-step CUDA graph, no torch.compile

    def __init__(self, survival: float):
        super().__init__()
        self.survival = survival  # p_l of this block (l counts over the whole net, as in the paper)

    def drops_branch(self) -> bool:
        """In training, one draw per block per mini-batch from torch's seeded CPU generator: checkpoints save its
        state, every DDP rank draws the same, and reading it needs no device sync."""
        return self.training and torch.rand(()).item() >= self.survival

    def forward(self, branch: torch.Tensor) -> torch.Tensor:
        """A kept branch as it is in training; at test time its expected contribution, p_l f(x)."""
        return branch if self.training else self.survival * branch
