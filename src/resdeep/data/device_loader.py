"""A loader for data sets that fit in device memory: batches are sampled and augmented on the device.

The uint8 images live on the training device. At each epoch's start one seeded generator draws
the sample order, every image's crop offset and its flip; a batch is a slice of those tables, so
every DDP rank sees the same draws and takes its own share, and the generator's state at the
epoch's start (in a checkpoint) resumes the exact sequence of batches. A batch is gathered,
normalised, cropped and flipped in one pass (one fused kernel when compiled on CUDA). No worker
processes, no per-sample Python.
"""
from __future__ import annotations

from typing import Iterator, Tuple

import torch

from resdeep.data.arrays import ImageArrays
from resdeep.data.preprocessing import normalize


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
        return normalize(images, self.mean, self.std)


def reflect(index: torch.Tensor, size: int) -> torch.Tensor:
    """Source index of a reflection-padded position, the edge not repeated (F.pad's 'reflect': -1 -> 1)."""
    index = index.abs()
    return torch.where(index >= size, 2 * (size - 1) - index, index)


def augment_batch(images, indices, offsets, flips, mean, std, pad: int, reflect_pad: bool = False):
    """Gather, normalise, pad by `pad`, crop at (row, col) offsets in [0, 2*pad] and mirror, in one pass.

    images: uint8 (N, C, H, W); indices (B,); offsets (B, 2); flips (B,) bool; mean (C, H, W); std broadcastable.
    Zero padding is applied after normalisation, so padded pixels are zeros of the normalised image;
    reflection padding reads the mirrored source pixels instead.
    """
    _, _, height, width = images.shape
    rows = offsets[:, 0, None] - pad + torch.arange(height, device=images.device)  # source rows (B, H)
    cols = offsets[:, 1, None] - pad + torch.arange(width, device=images.device)  # source cols (B, W)
    if reflect_pad:
        rows, cols = reflect(rows, height), reflect(cols, width)
    cols = torch.where(flips[:, None], cols.flip(1), cols)
    inside = ((rows >= 0) & (rows < height))[:, :, None] & ((cols >= 0) & (cols < width))[:, None, :]
    rows, cols = rows.clamp(0, height - 1)[:, :, None], cols.clamp(0, width - 1)[:, None, :]
    pixels = images[indices[:, None, None], :, rows, cols].permute(0, 3, 1, 2)  # (B, C, H, W)
    pixel_mean = mean[:, rows, cols].permute(1, 0, 2, 3)
    return (pixels.float() / 255 - pixel_mean) / std * inside[:, None]


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
        pad_mode: str = "zeros",
        rank: int = 0,
        world_size: int = 1,
        compile_augmentation: bool = False,
    ):
        if batch_size > len(data):
            raise ValueError(f"batch {batch_size} is larger than the {len(data)} training images")
        self.images = data.images.to(device)
        self.labels = data.labels.to(device)
        self.batch_size, self.augment, self.pad = batch_size, augment, pad
        self.reflect_pad = pad_mode == "reflect"
        self.normalizer = normalizer.to(device)
        self.full_mean = self.normalizer.mean.expand(self.images.shape[1:]).contiguous()
        self.rank, self.world_size = rank, world_size
        self.local_batch = batch_size // world_size
        self.augment_batch = torch.compile(augment_batch, dynamic=False) if compile_augmentation else augment_batch
        self.generator = torch.Generator(device=device).manual_seed(seed)
        self.epoch, self.position = 0, 0
        self._draw_epoch()

    def _draw_epoch(self) -> None:
        """The whole epoch's randomness at once: sample order, crop offsets, flips."""
        self.epoch_start_state = self.generator.get_state()
        count, device = len(self.labels), self.labels.device
        self.order = torch.randperm(count, generator=self.generator, device=device)
        self.offsets = torch.randint(0, 2 * self.pad + 1, (count, 2), generator=self.generator, device=device)
        self.flips = torch.rand(count, generator=self.generator, device=device) < 0.5

    def next_batch(self) -> Tuple[torch.Tensor, torch.Tensor]:
        """This rank's share of the next global batch, augmented and normalised on the device."""
        if self.position + self.batch_size > len(self.order):
            self.epoch, self.position = self.epoch + 1, 0
            self._draw_epoch()
        start = self.position + self.rank * self.local_batch
        share = slice(start, start + self.local_batch)
        self.position += self.batch_size
        indices = self.order[share]
        if self.augment:
            images = self.augment_batch(self.images, indices, self.offsets[share], self.flips[share], self.full_mean, self.normalizer.std, self.pad, self.reflect_pad)
        else:
            images = self.normalizer(self.images[indices])
        return images, self.labels[indices]

    def state_dict(self) -> dict:
        """Enough to redraw this epoch and continue the same sequence of batches."""
        return {"epoch_generator": self.epoch_start_state, "epoch": self.epoch, "position": self.position}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["epoch_generator"])
        self._draw_epoch()
        self.epoch, self.position = state["epoch"], state["position"]


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
