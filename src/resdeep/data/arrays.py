"""A data set held as arrays: uint8 images (N, C, H, W) and int64 labels, plus the split helper."""
from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class ImageArrays:
    """Images as uint8 (N, C, H, W) and labels as int64 (N,)."""

    images: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, indices: torch.Tensor) -> "ImageArrays":
        return ImageArrays(self.images[indices], self.labels[indices])


def split_indices(count: int, val_size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A fixed, seeded (train, validation) partition of range(count); the same seed gives the same split."""
    order = torch.randperm(count, generator=torch.Generator().manual_seed(seed))
    return order[: count - val_size].sort().values, order[count - val_size :].sort().values
