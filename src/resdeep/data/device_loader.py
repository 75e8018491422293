"""A loader for data sets that fit in device memory: batches are sampled and augmented on the device.

The uint8 images live on the training device. Each batch is a slice of a seeded per-epoch
permutation; crops and flips are drawn for the whole global batch from one generator, so every
DDP rank sees the same draws and takes its own share, and the generator's state in a checkpoint
resumes the exact order of batches. No worker processes, no per-sample Python.
"""
from __future__ import annotations

from typing import Iterator, Tuple

import torch
import torch.nn.functional as F

from resdeep.data.arrays import ImageArrays


class Normalizer:
    """Maps uint8 images to floats: x/255 minus the per-pixel mean (paper), or per-channel standardised."""

    def __init__(self, train_images: torch.Tensor, mode: str):
        self.mode = mode
        scaled = train_images.double() / 255
        if mode == "pixel_mean":
            self.mean, self.std = scaled.mean(0).float(), torch.ones(1)
        elif mode == "channel_std":
            self.mean = scaled.mean((0, 2, 3)).float()[:, None, None]
            self.std = scaled.std((0, 2, 3)).float()[:, None, None]
        else:
            self.mean, self.std = torch.zeros(1), torch.ones(1)

    def to(self, device) -> "Normalizer":
        self.mean, self.std = self.mean.to(device), self.std.to(device)
        return self

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        return (images.float() / 255 - self.mean) / self.std


def crop_and_flip(images: torch.Tensor, offsets: torch.Tensor, flips: torch.Tensor, pad: int) -> torch.Tensor:
    """Zero-pad by `pad`, cut each image at its (row, col) offset in [0, 2*pad], mirror where flips is set."""
    batch, _, height, width = images.shape
    padded = F.pad(images, (pad, pad, pad, pad))
    rows = offsets[:, 0, None] + torch.arange(height, device=images.device)
    cols = offsets[:, 1, None] + torch.arange(width, device=images.device)
    index = torch.arange(batch, device=images.device)[:, None, None]
    cropped = padded[index, :, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)  # (B, C, H, W)
    return torch.where(flips[:, None, None, None], cropped.flip(3), cropped)


class DeviceLoader:
    """Endless training batches from device-resident arrays, with the paper's augmentation."""

    def __init__(
        self,
        data: ImageArrays,
        batch_size: int,
        normalizer: Normalizer,
        device: torch.device,
        seed: int,
        augment: bool = True,
        pad: int = 4,
        rank: int = 0,
        world_size: int = 1,
    ):
        if batch_size > len(data):
            raise ValueError(f"batch {batch_size} is larger than the {len(data)} training images")
        self.images = data.images.to(device)
        self.labels = data.labels.to(device)
        self.batch_size, self.augment, self.pad = batch_size, augment, pad
        self.normalizer = normalizer.to(device)
        self.rank, self.world_size = rank, world_size
        self.local_batch = batch_size // world_size
        self.generator = torch.Generator(device=device).manual_seed(seed)
        self.epoch, self.position = 0, 0
        self.order = self._new_order()

    def _new_order(self) -> torch.Tensor:
        return torch.randperm(len(self.labels), generator=self.generator, device=self.labels.device)

    def next_batch(self) -> Tuple[torch.Tensor, torch.Tensor]:
        """This rank's share of the next global batch, augmented and normalised on the device."""
        if self.position + self.batch_size > len(self.order):
            self.epoch, self.position, self.order = self.epoch + 1, 0, self._new_order()
        indices = self.order[self.position : self.position + self.batch_size]
        self.position += self.batch_size
        device = self.labels.device
        offsets = torch.randint(0, 2 * self.pad + 1, (self.batch_size, 2), generator=self.generator, device=device)
        flips = torch.rand(self.batch_size, generator=self.generator, device=device) < 0.5
        share = slice(self.rank * self.local_batch, (self.rank + 1) * self.local_batch)
        images = self.normalizer(self.images[indices[share]])
        if self.augment:
            images = crop_and_flip(images, offsets[share], flips[share], self.pad)
        return images, self.labels[indices[share]]

    def state_dict(self) -> dict:
        """Everything needed to continue the same sequence of batches."""
        return {"generator": self.generator.get_state(), "epoch": self.epoch, "position": self.position, "order": self.order.cpu()}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])
        self.epoch, self.position = state["epoch"], state["position"]
        self.order = state["order"].to(self.labels.device)


class DeviceEvalSet:
    """Test or validation images in fixed order, normalised on the device, the single original view."""

    def __init__(self, data: ImageArrays, normalizer: Normalizer, device: torch.device, batch_size: int):
        self.images, self.labels = data.images.to(device), data.labels.to(device)
        self.normalizer, self.batch_size = normalizer.to(device), batch_size

    def __len__(self) -> int:
        return len(self.labels)

    def __iter__(self) -> Iterator[Tuple[torch.Tensor, torch.Tensor]]:
        for start in range(0, len(self.labels), self.batch_size):
            stop = start + self.batch_size
            yield self.normalizer(self.images[start:stop]), self.labels[start:stop]
