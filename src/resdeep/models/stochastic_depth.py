"""Stochastic depth (Huang et al. 2016): each residual branch survives a mini-batch with probability p_l."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from resdeep.models.blocks import BasicBlock


def survival_probabilities(num_blocks: int, last: float) -> list[float]:
    """The linear decay rule p_l = 1 - (l / L)(1 - p_L) for blocks l = 1..L."""
    return [1 - (index / num_blocks) * (1 - last) for index in range(1, num_blocks + 1)]


class StochasticDepthBlock(BasicBlock):
    """The post-activation basic block whose branch is dropped whole, or scaled by p_l at test time."""

    changes_per_step = True  # the forward differs between steps: no whole-step CUDA graph, no torch.compile

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.survival = 1.0  # set per block by set_survival

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = self.shortcut(x)
        if self.training:
            # One draw per block per mini-batch from torch's seeded CPU generator: checkpoints save its
            # state, every DDP rank draws the same, and reading it needs no device sync.
            if torch.rand(()).item() >= self.survival:
                return F.relu(identity)  # the branch is not computed at all
            return F.relu(self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x))))) + identity)
        # Test time: the branch's expected contribution, H = ReLU(p_l f(x) + x).
        return F.relu(self.survival * self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x))))) + identity)


def set_survival(blocks: nn.Sequential, last: float) -> None:
    """Give the blocks of one net their p_l (l counts over the whole net, as in the paper)."""
    for block, survival in zip(blocks, survival_probabilities(len(blocks), last)):
        block.survival = survival
