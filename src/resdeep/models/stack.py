"""Running a sequence of blocks, optionally with activation checkpointing to save memory."""
import torch
from torch import nn
from torch.utils.checkpoint import checkpoint


def run_blocks(blocks: nn.Sequential, x: torch.Tensor, checkpoint_activations: bool) -> torch.Tensor:
    """Apply blocks in order; when checkpointing, keep only block inputs and recompute the rest."""
    if not (checkpoint_activations and torch.is_grad_enabled()):
        return blocks(x)
    for block in blocks:
        x = checkpoint(block, x, use_reentrant=False)
    return x
