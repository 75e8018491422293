"""Figure 7: the standard deviation of each 3x3 layer's response (after BN, before ReLU and addition)."""
from __future__ import annotations

from typing import List, Tuple

import torch
from torch import nn

from resdeep.models.blocks import BasicBlock


def response_layers(model: nn.Module) -> List[Tuple[str, nn.BatchNorm2d]]:
    """The BN after every 3x3 conv, in forward order: the stem's, then bn1 and bn2 of each basic block."""
    layers = []
    if isinstance(getattr(model, "bn1", None), nn.BatchNorm2d) and getattr(model.conv1, "kernel_size", None) == (3, 3):
        layers.append(("conv1", model.bn1))
    for index, block in enumerate(getattr(model, "blocks", [])):
        if isinstance(block, BasicBlock) and isinstance(block.bn1, nn.BatchNorm2d):
            layers += [(f"blocks.{index}.bn1", block.bn1), (f"blocks.{index}.bn2", block.bn2)]
    return layers


@torch.no_grad()
def layer_response_stds(model: nn.Module, eval_set) -> List[Tuple[str, float]]:
    """(layer, std of its responses over the whole evaluation set), in layer order."""
    layers = response_layers(model)
    sums = {name: torch.zeros(3, dtype=torch.float64) for name, _ in layers}  # count, sum, sum of squares
    hooks = []
    for name, module in layers:
        def hook(_module, _inputs, output, name=name):
            values = output.detach().double()
            sums[name] += torch.stack([torch.tensor(float(values.numel()), dtype=torch.float64), values.sum().cpu(), (values * values).sum().cpu()])
        hooks.append(module.register_forward_hook(hook))
    model.eval()
    try:
        for images, _ in eval_set:
            model(images)
    finally:
        for handle in hooks:
            handle.remove()
    stds = []
    for name, _ in layers:
        count, total, squares = sums[name].tolist()
        mean = total / count
        stds.append((name, max(squares / count - mean * mean, 0.0) ** 0.5))
    return stds
