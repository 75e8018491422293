"""Layer table, exact parameter count and multiply-adds of one forward pass."""
from __future__ import annotations

from dataclasses import dataclass
from typing import List

import torch
from torch import nn


@dataclass
class LayerRow:
    name: str
    kind: str
    output_shape: tuple
    params: int
    macs: int


def layer_macs(module: nn.Module, output: torch.Tensor) -> int:
    """Multiply-adds of a conv or fc layer for a batch of one (BN, ReLU and pooling count as zero)."""
    if isinstance(module, nn.Conv2d):
        kernel = module.kernel_size[0] * module.kernel_size[1] * module.in_channels // module.groups
        return output[0].numel() * kernel
    if isinstance(module, nn.Linear):
        return module.in_features * module.out_features
    return 0


def summarize(model: nn.Module, input_shape: tuple) -> List[LayerRow]:
    """One row per leaf layer, from a forward pass of one image of input_shape (C, H, W)."""
    rows: List[LayerRow] = []
    hooks = []
    for name, module in model.named_modules():
        if len(list(module.children())) == 0 and not isinstance(module, nn.Identity):

            def hook(mod, _inputs, output, name=name):
                params = sum(p.numel() for p in mod.parameters(recurse=False))
                rows.append(LayerRow(name, type(mod).__name__, tuple(output.shape[1:]), params, layer_macs(mod, output)))

            hooks.append(module.register_forward_hook(hook))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(1, *input_shape))
    finally:
        model.train(was_training)
        for handle in hooks:
            handle.remove()
    return rows


def count_params(model: nn.Module) -> int:
    """Every trainable parameter, BN affine and fc bias included."""
    return sum(p.numel() for p in model.parameters())


def format_summary(rows: List[LayerRow], params: int) -> str:
    """The layer table, then `params:` and `macs:` lines with exact integers."""
    lines = [f"{'layer':<28} {'type':<20} {'output':<16} {'params':>10} {'macs':>14}"]
    for row in rows:
        if row.params or row.macs:
            shape = "x".join(map(str, row.output_shape))
            lines.append(f"{row.name:<28} {row.kind:<20} {shape:<16} {row.params:>10,} {row.macs:>14,}")
    lines.append(f"params: {params}")
    lines.append(f"macs: {sum(row.macs for row in rows)}")
    return "\n".join(lines)
