"""A data set held as arrays: uint8 images (N, C, H, W) and int64 labels, plus the split helper."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from resdeep.errors import UserError


@dataclass
class ImageArrays:
    """Images as uint8 (N, C, H, W) and labels as int64 (N,)."""

    images: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, indices: torch.Tensor) -> "ImageArrays":
        return ImageArrays(self.images[indices], self.labels[indices])


def check_labels(labels: torch.Tensor, num_classes: int, source: str) -> None:
    """Every label in 0..num_classes-1, or one UserError naming the file (a bad one trains silently or crashes later)."""
    bad = (labels < 0) | (labels >= num_classes)
    if bad.any():
        first = int(bad.nonzero()[0, 0])
        raise UserError(
            f"{source} has {int(bad.sum())} label(s) outside 0..{num_classes - 1} (the first: {int(labels[first])} at position {first}); "
            "the file is damaged or not this data set"
        )


def split_indices(count: int, val_size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A fixed, seeded (train, validation) partition of range(count); the same seed gives the same split."""
    order = torch.randperm(count, generator=torch.Generator().manual_seed(seed))
    return order[: count - val_size].sort().values, order[count - val_size :].sort().values
