"""Gradient flow: per-layer gradient norms, and the shattered-gradients view (Balduzzi et al. 2017)."""
from __future__ import annotations

from typing import Dict, List

import torch
import torch.nn.functional as F
from torch import nn


def conv_layers(model: nn.Module) -> List[tuple]:
    return [(name, module) for name, module in model.named_modules() if isinstance(module, nn.Conv2d)]


def layer_gradient_norms(model: nn.Module, batches) -> List[Dict[str, float]]:
    """The norm of each conv layer's weight gradient of the training loss, averaged over batches."""
    layers = conv_layers(model)
    if not layers:  # a fully connected net: its blocks tell the story (block_gradient_norms)
        return []
    totals = torch.zeros(len(layers))
    count = 0
    was_training = model.training
    model.train()
    for images, labels in batches:
        model.zero_grad(set_to_none=True)
        F.cross_entropy(model(images), labels).backward()
        totals += torch.stack([module.weight.grad.norm().cpu() for _, module in layers])
        count += 1
    model.zero_grad(set_to_none=True)
    model.train(was_training)
    return [{"layer": index, "name": name, "grad_norm": (totals[index] / count).item()} for index, (name, _) in enumerate(layers)]


def input_gradient_sweep(model: nn.Module, image: torch.Tensor, points: int = 256, span: float = 1.0, seed: int = 0) -> List[float]:
    """d(logit 0)/d(t) along x(t) = image + t * direction, for t in [-span, span]: a 1-D gradient signal."""
    generator = torch.Generator().manual_seed(seed)
    direction = torch.randn(image.shape, generator=generator).to(image.device)
    direction = direction / direction.norm()
    t = torch.linspace(-span, span, points, device=image.device)
    inputs = (image[None] + t[:, None, None, None] * direction[None]).requires_grad_(True)
    was_training = model.training
    model.eval()
    model(inputs)[:, 0].sum().backward()
    model.train(was_training)
    return (inputs.grad.flatten(1) @ direction.flatten()).tolist()


def autocorrelation(signal: List[float], max_lag: int = 32) -> List[float]:
    """Normalised autocorrelation of a 1-D signal at lags 0..max_lag (white noise drops to about 0 at lag 1)."""
    x = torch.tensor(signal, dtype=torch.float64)
    x = x - x.mean()
    variance = (x * x).sum()
    if variance == 0:
        return [1.0] + [0.0] * max_lag
    return [((x[: len(x) - lag] * x[lag:]).sum() / variance).item() for lag in range(max_lag + 1)]


def block_gradient_norms(model: nn.Module, batches) -> List[Dict[str, float]]:
    """The norm of the training loss's gradient over all of each block's parameters, averaged over batches.

    Blocks are model.blocks (every family's sequence of residual, plain or highway blocks); [] without them."""
    blocks = [block for block in getattr(model, "blocks", []) if any(True for _ in block.parameters())]
    if not blocks:
        return []
    totals = torch.zeros(len(blocks), dtype=torch.float64)
    was_training = model.training
    model.train()
    for images, labels in batches:
        model.zero_grad(set_to_none=True)
        F.cross_entropy(model(images), labels).backward()
        totals += torch.stack([_gradient_norm(block) for block in blocks]).cpu()
    model.zero_grad(set_to_none=True)
    model.train(was_training)
    return [{"block": index + 1, "grad_norm": (totals[index] / len(batches)).item()} for index in range(len(blocks))]


def _gradient_norm(module: nn.Module) -> torch.Tensor:
    """The norm of all of a module's parameter gradients taken together."""
    squares = [p.grad.double().pow(2).sum() for p in module.parameters() if p.grad is not None]
    return torch.stack(squares).sum().sqrt() if squares else torch.zeros((), dtype=torch.float64)
