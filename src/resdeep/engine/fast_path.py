"""The GPU fast path: each part a named switch, none of which changes the recipe.

On CUDA every switch defaults to on. On the CPU only channels_last does (oneDNN's convolutions run
about 1.35x faster in it on a 2-core x86 machine, see docs/performance.md); bf16 autocast can be turned
on there too. None of them changes batch, schedule, augmentation or weight decay.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch

from resdeep.config import TrainerConfig


@dataclass
class FastPath:
    """The resolved switches for one run."""

    channels_last: bool
    bf16: bool
    compile: bool
    cuda_graphs: bool
    fused_optimizer: bool

    @property
    def memory_format(self) -> torch.memory_format:
        return torch.channels_last if self.channels_last else torch.contiguous_format

    def describe(self) -> str:
        on = [name for name, value in vars(self).items() if value]
        return ", ".join(on) if on else "off (plain fp32 eager)"


def resolve_fast_path(trainer: TrainerConfig, device: torch.device, distributed: bool = False) -> FastPath:
    """Turn null ('auto') switches into on for CUDA, off elsewhere (channels_last: on everywhere).

    CUDA graphs need one process."""
    cuda = device.type == "cuda"

    def pick(value):
        return cuda if value is None else bool(value)

    return FastPath(
        channels_last=True if trainer.channels_last is None else bool(trainer.channels_last),
        bf16=trainer.precision == "bf16" or (trainer.precision == "auto" and cuda),
        compile=pick(trainer.compile),
        cuda_graphs=cuda and not distributed and pick(trainer.cuda_graphs),
        fused_optimizer=cuda and pick(trainer.fused_optimizer),
    )


def autocast_context(fast: FastPath, device: torch.device):
    """A context factory for bf16 autocast (fp32 master weights stay in the optimizer)."""
    if fast.bf16:
        # No weight-cast cache: it is not allowed under CUDA graph capture, and each weight is used once.
        return lambda: torch.autocast(device.type, dtype=torch.bfloat16, cache_enabled=False)
    return contextlib.nullcontext
