"""The stages of a convolutional net (torchvision's _make_layer, timm's make_blocks), and running them.

Every convolutional family builds its body here: stage s has blocks_per_stage[s] blocks of widths[s], and its
first block subsamples by strides[s]. The blocks come back as one flat nn.Sequential, `model.blocks`, in the
order they run, so block l keeps the name blocks.<l> (checkpoints load as before) and the analyses that delete
or measure one block at a time (Veit et al.'s lesion study, per-block gradient norms) index it directly.
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

# (in_channels, width, stride, index of the block in the whole net) -> a block with an `out_channels` attribute
BlockFactory = Callable[[int, int, int, int], nn.Module]


def make_stages(in_channels: int, widths: Sequence[int], blocks_per_stage: Sequence[int], strides: Sequence[int],
                make_block: BlockFactory) -> nn.Sequential:
    """Every block of every stage, in order; each reads what the one before it wrote."""
    blocks, channels = [], in_channels
    for width, count, stride in zip(widths, blocks_per_stage, strides, strict=True):
        for index in range(count):
            block = make_block(channels, width, stride if index == 0 else 1, len(blocks))
            blocks.append(block)
            channels = block.out_channels
    return nn.Sequential(*blocks)


def run_blocks(blocks: nn.Sequential, x: torch.Tensor, checkpoint_activations: bool) -> torch.Tensor:
    """Apply blocks in order; when checkpointing, keep only block inputs and recompute the rest."""
    if not (checkpoint_activations and torch.is_grad_enabled()):
        return blocks(x)
    for block in blocks:
        x = checkpoint(block, x, use_reentrant=False)
    return x
