"""The optimizer of the papers: SGD with momentum and weight decay, its rate written in place each iteration."""
from __future__ import annotations

import torch

from resdeep.engine.fast_path import FastPath


def parameter_groups(model: torch.nn.Module, scalar_lr_factor: float) -> list[dict]:
    """One group, or two when one-number parameters (Fixup's biases and multipliers) learn at a fraction of the rate."""
    parameters = list(model.parameters())
    scalars = [p for p in parameters if p.numel() == 1]
    if scalar_lr_factor == 1 or not scalars:
        return [{"params": parameters, "lr_factor": 1.0}]
    others = [p for p in parameters if p.numel() != 1]
    return [{"params": others, "lr_factor": 1.0}, {"params": scalars, "lr_factor": scalar_lr_factor}]


def make_optimizer(model: torch.nn.Module, recipe, fast: FastPath) -> torch.optim.SGD:
    """SGD with momentum and weight decay on every parameter, as in the paper (fused kernels on CUDA).

    Under a CUDA graph the rate is a device tensor, so that changing it needs no new capture."""
    extra = {"fused": True} if fast.fused_optimizer or fast.cuda_graphs else {}
    device = next(model.parameters()).device
    groups = parameter_groups(model, getattr(recipe, "scalar_lr_factor", 1.0))
    for group in groups:
        rate = recipe.lr * group["lr_factor"]
        group["lr"] = torch.tensor(rate, device=device) if fast.cuda_graphs else rate
    return torch.optim.SGD(
        groups, lr=recipe.lr, momentum=recipe.momentum, weight_decay=recipe.weight_decay,
        nesterov=recipe.nesterov, **extra,
    )


def set_learning_rate(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """Write the rate, times the group's lr_factor, into every group (in place when a CUDA graph reads it)."""
    for group in optimizer.param_groups:
        rate = lr * group.get("lr_factor", 1.0)
        if isinstance(group["lr"], torch.Tensor):
            group["lr"].fill_(rate)
        else:
            group["lr"] = rate
