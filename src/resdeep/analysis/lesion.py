"""Veit et al. 2016: delete one block at test time and measure the test error.

Deleting a residual block leaves its shortcut (the input, subsampled and padded where the block
changes the shape). A plain block has no shortcut: it is replaced by the same identity mapping,
which is the only way to keep the shapes, so the comparison is like for like.
"""
from __future__ import annotations

from typing import Dict, List

import torch
from torch import nn

from resdeep.engine.evaluate import evaluate
from resdeep.errors import UserError
from resdeep.models.blocks import PadShortcut


class DeletedBlock(nn.Module):
    """What is left of a block once its residual branch is removed: the shortcut alone."""

    def __init__(self, block: nn.Module):
        super().__init__()
        shortcut = getattr(block, "shortcut", None)
        if shortcut is None:
            conv = block.conv1
            out_channels = getattr(block, "out_channels", None) or (block.conv3.out_channels if hasattr(block, "conv3") else block.conv2.out_channels)
            shortcut = PadShortcut(conv.in_channels, out_channels, conv.stride[0] if conv.stride[0] > 1 else getattr(block, "conv2").stride[0])
        self.shortcut = shortcut

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shortcut(x)


@torch.no_grad()
def lesion_errors(model: nn.Module, eval_set) -> List[Dict[str, float]]:
    """Test error with no block deleted (block -1), then with each block deleted in turn."""
    if not isinstance(getattr(model, "blocks", None), (nn.Sequential, nn.ModuleList)):  # e.g. your own network (model._target_)
        raise UserError(f"analyze lesion: {type(model).__name__} has no `blocks` (an nn.Sequential of blocks to delete one at a time)")
    rows = [{"deleted_block": -1, "test_error": evaluate(model, eval_set)[0]}]
    for index in range(len(model.blocks)):
        original = model.blocks[index]
        model.blocks[index] = DeletedBlock(original)
        try:
            rows.append({"deleted_block": index, "test_error": evaluate(model, eval_set)[0]})
        finally:
            model.blocks[index] = original
    return rows
