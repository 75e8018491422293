"""What a trained network expects of an image, as plain values a checkpoint or an exported file carries.

At test time every data set does the same few things to an image: (ImageNet-style folders only) resize the
shorter side and cut the centre crop, scale the uint8 pixels to [0, 1], subtract a mean (per pixel, the paper's
CIFAR preprocessing, or per channel) and divide by a standard deviation (per channel, or 1). A `Preprocessing`
holds exactly that, taken from the training set when a run starts, so a loaded or exported network predicts on
raw images the way `resdeep eval` evaluates it, with no data set at hand."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import numpy as np
import torch
import torchvision.transforms.functional as TF

from resdeep.errors import UserError


@dataclass
class Preprocessing:
    """Raw images (uint8, channels last as image files hold them) -> the network's input (float, N x C x H x W)."""

    channels: int  # 1 (grey) or 3 (RGB, in that order)
    size: int  # the network's input side
    mean: torch.Tensor  # subtracted from pixels in [0, 1]: (C, H, W) per pixel, (C, 1, 1) per channel, or (1,) zero
    std: torch.Tensor  # then divided by: (C, 1, 1) per channel, or (1,) one
    resize: Optional[int] = None  # ImageNet-style: the shorter side resized to this first, then
    crop: Optional[int] = None  # the centre crop of this side (= size)

    def as_dict(self) -> dict:
        """Tensors and plain values only: torch.load(weights_only=True) reads it back."""
        return {"channels": self.channels, "size": self.size, "mean": self.mean.detach().cpu().float(), "std": self.std.detach().cpu().float(),
                "resize": self.resize, "crop": self.crop, "channel_order": "RGB" if self.channels == 3 else "grey", "pixel_range": "uint8 0..255"}

    @classmethod
    def from_dict(cls, saved: dict) -> "Preprocessing":
        return cls(saved["channels"], saved["size"], saved["mean"], saved["std"], saved.get("resize"), saved.get("crop"))

    def __call__(self, images: Any) -> torch.Tensor:
        """The network's input for raw images: see as_uint8_batch for what `images` may be."""
        batch = as_uint8_batch(images, self.channels)
        if self.resize is not None:
            batch = torch.stack([TF.center_crop(TF.resize(image, self.resize, antialias=True), self.crop) for image in batch])
        if batch.shape[-2:] != (self.size, self.size):
            raise UserError(f"the images are {batch.shape[-2]}x{batch.shape[-1]} pixels; this network takes {self.size}x{self.size}: resize them first")
        return normalize(batch, self.mean.to(batch.device), self.std.to(batch.device))


def normalize(images: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """uint8 (N, C, H, W) -> (x / 255 - mean) / std: the one formula training, evaluation and prediction share."""
    return (images.float() / 255 - mean) / std


def as_uint8_batch(images: Any, channels: int) -> torch.Tensor:
    """uint8 (N, C, H, W) from: a PIL image or a list of them; a uint8 array or tensor in the image-file layout,
    (H, W, C) or (N, H, W, C), or (H, W) / (N, H, W) for grey; or a float array or tensor in torchvision's layout,
    (C, H, W) or (N, C, H, W), with values in [0, 1]."""
    if _is_pil(images) or (isinstance(images, (list, tuple)) and images and all(_is_pil(i) for i in images)):
        pictures = [images] if _is_pil(images) else list(images)
        mode = "RGB" if channels == 3 else "L"
        images = np.stack([np.asarray(picture.convert(mode)) for picture in pictures])
    if isinstance(images, (list, tuple)):
        images = np.stack([np.asarray(image) for image in images])
    tensor = torch.as_tensor(np.asarray(images) if not isinstance(images, torch.Tensor) else images)
    if tensor.dtype == torch.uint8:
        if tensor.dim() == 2:  # one grey image
            tensor = tensor[None, :, :, None]
        elif tensor.dim() == 3:  # one image (H, W, C), or grey images (N, H, W)
            tensor = tensor[None] if tensor.shape[-1] == channels else tensor[..., None]
        if tensor.dim() != 4 or tensor.shape[-1] != channels:
            raise UserError(f"uint8 images must be (N, H, W, {channels}) or (H, W, {channels}) as image files hold them; got {tuple(tensor.shape)}")
        return tensor.permute(0, 3, 1, 2).contiguous()
    if tensor.is_floating_point():
        if tensor.dim() == 3:
            tensor = tensor.unsqueeze(0)
        if tensor.dim() != 4 or tensor.shape[1] != channels:
            raise UserError(f"float images must be (N, {channels}, H, W) or ({channels}, H, W) with values in [0, 1]; got {tuple(tensor.shape)}")
        if tensor.numel() and (tensor.min() < 0 or tensor.max() > 1):
            raise UserError("float images must have values in [0, 1] (uint8 images are taken as they come from an image file)")
        return (tensor * 255).round().to(torch.uint8)
    raise UserError(f"images must be uint8 (0..255) or float (0..1), not {tensor.dtype}")


def _is_pil(value) -> bool:
    return type(value).__module__.startswith("PIL.")
