"""The GPU fast path: each part a named switch, none of which changes the recipe.

On CUDA every switch defaults to on; on the CPU to off (bf16 autocast and channels_last can be
turned on there too). None of them changes batch, schedule, augmentation or weight decay.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from resdeep.config import TrainerConfig


@dataclass
class FastPath:
    """The resolved switches for one run."""

    channels_last: bool
    bf16: bool
    compile: bool
    cuda_graphs: bool
    fused_optimizer: bool

    def describe(self) -> str:
        on = [name for name, value in vars(self).items() if value]
        return ", ".join(on) if on else "off (plain fp32 eager)"


def resolve_fast_path(trainer: TrainerConfig, device: torch.device) -> FastPath:
    """Turn null ('auto') switches into on for CUDA, off elsewhere."""
    cuda = device.type == "cuda"

    def pick(value):
        return cuda if value is None else bool(value)

    compile_on = pick(trainer.compile)
    return FastPath(
        channels_last=pick(trainer.channels_last),
        bf16=trainer.precision == "bf16" or (trainer.precision == "auto" and cuda),
        compile=compile_on,
        cuda_graphs=cuda and compile_on and pick(trainer.cuda_graphs),
        fused_optimizer=cuda and pick(trainer.fused_optimizer),
    )


def autocast_context(fast: FastPath, device: torch.device):
    """A context factory for bf16 autocast (fp32 master weights stay in the optimizer)."""
    if fast.bf16:
        return lambda: torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext


def make_optimizer(model: torch.nn.Module, recipe, fast: FastPath) -> torch.optim.SGD:
    """SGD with momentum and weight decay on every parameter, as in the paper (fused kernels on CUDA)."""
    extra = {"fused": True} if fast.fused_optimizer else {}
    return torch.optim.SGD(
        model.parameters(), lr=recipe.lr, momentum=recipe.momentum, weight_decay=recipe.weight_decay,
        nesterov=recipe.nesterov, **extra,
    )


class TrainStep:
    """forward, loss, backward, step; returns the batch's summed loss and error count as device tensors."""

    def __init__(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer, fast: FastPath, device: torch.device):
        self.optimizer, self.fast = optimizer, fast
        self.autocast = autocast_context(fast, device)
        self.forward = model
        if fast.compile:
            self.forward = torch.compile(model, mode="max-autotune-no-cudagraphs" if not fast.cuda_graphs else "reduce-overhead")

    def prepare(self, images: torch.Tensor) -> torch.Tensor:
        return images.contiguous(memory_format=torch.channels_last) if self.fast.channels_last else images.contiguous()

    def __call__(self, images: torch.Tensor, labels: torch.Tensor):
        with self.autocast():
            logits = self.forward(self.prepare(images))
        loss = F.cross_entropy(logits.float(), labels)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        with torch.no_grad():
            return loss.detach() * len(labels), (logits.argmax(1) != labels).sum()
