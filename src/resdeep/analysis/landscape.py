"""Li et al. 2018: the loss along filter-normalised random directions around trained weights."""
from __future__ import annotations

import copy
from typing import Dict, List

import torch
import torch.nn.functional as F
from torch import nn


def filter_normalised_direction(model: nn.Module, generator: torch.Generator) -> List[torch.Tensor]:
    """A Gaussian direction, each filter rescaled to the norm of the matching weight filter; zero for BN and biases."""
    direction = []
    for parameter in model.parameters():
        if parameter.dim() <= 1:
            direction.append(torch.zeros_like(parameter))
            continue
        d = torch.randn(parameter.shape, generator=generator).to(parameter.device)
        weight_norms = parameter.detach().flatten(1).norm(dim=1)
        d_norms = d.flatten(1).norm(dim=1)
        d = d * (weight_norms / (d_norms + 1e-10)).view(-1, *([1] * (parameter.dim() - 1)))
        direction.append(d)
    return direction


@torch.no_grad()
def loss_surface(model: nn.Module, batches, resolution: int = 21, dims: int = 1, span: float = 1.0, seed: int = 0) -> List[Dict[str, float]]:
    """Loss and error at theta + a*d1 (+ b*d2) on a grid of a, b in [-span, span].

    BN uses each batch's statistics, as in training, without touching the saved running statistics."""
    probe = copy.deepcopy(model)
    for module in probe.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.train()
            module.momentum = 0.0  # running statistics stay as trained
    generator = torch.Generator().manual_seed(seed)
    directions = [filter_normalised_direction(model, generator) for _ in range(dims)]
    origin = [p.detach().clone() for p in model.parameters()]
    steps = torch.linspace(-span, span, resolution).tolist()
    grid = [(a, 0.0) for a in steps] if dims == 1 else [(a, b) for b in steps for a in steps]
    rows = []
    for a, b in grid:
        for parameter, theta, d1, *rest in zip(probe.parameters(), origin, *directions):
            parameter.copy_(theta + a * d1 + (b * rest[0] if rest else 0))
        loss_sum, wrong, count = 0.0, 0, 0
        for images, labels in batches:
            logits = probe(images).float()
            loss_sum += F.cross_entropy(logits, labels, reduction="sum").item()
            wrong += (logits.argmax(1) != labels).sum().item()
            count += len(labels)
        rows.append({"alpha": a, "beta": b, "loss": loss_sum / count, "error": 100.0 * wrong / count})
    return rows
