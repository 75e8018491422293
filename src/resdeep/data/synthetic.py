"""The built-in data set: CIFAR-shaped textures generated from a seed, no files, no network.

Each of the 10 classes is a mixture of oriented colour gratings. An image draws its class's gratings
with random phases (so position carries no information), random amplitudes, a weaker grating borrowed
from another class, a random colour cast and pixel noise. A convnet learns it within a few hundred
iterations, but not trivially: deep plain nets visibly lag shallow ones, which is the effect resdeep
exists to show. It is synthetic: it says nothing about CIFAR-10 accuracy.
"""
from __future__ import annotations

import math

import torch

from resdeep.data.arrays import ImageArrays

NUM_CLASSES, SIZE, GRATINGS_PER_CLASS = 10, 32, 3


def class_textures(generator: torch.Generator):
    """Per class: spatial frequencies (cycles per image), orientations and RGB colours of its gratings."""
    frequency = 2.0 + 6.0 * torch.rand(NUM_CLASSES, GRATINGS_PER_CLASS, generator=generator)
    angle = math.pi * torch.rand(NUM_CLASSES, GRATINGS_PER_CLASS, generator=generator)
    colour = torch.rand(NUM_CLASSES, GRATINGS_PER_CLASS, 3, generator=generator) * 2 - 1
    return frequency, angle, colour


def render(frequency, angle, colour, phase, amplitude) -> torch.Tensor:
    """Sum of gratings: every argument has a leading (N, G) shape; returns (N, 3, H, W) floats."""
    coords = torch.arange(SIZE, dtype=torch.float32) / SIZE
    y, x = coords[:, None], coords[None, :]
    direction = torch.cos(angle)[..., None, None] * x + torch.sin(angle)[..., None, None] * y
    wave = torch.sin(2 * math.pi * frequency[..., None, None] * direction + phase[..., None, None])
    weighted = amplitude[..., None, None] * wave  # (N, G, H, W)
    return torch.einsum("nghw,ngc->nchw", weighted, colour)


def make_synthetic(count: int, seed: int, split: str) -> ImageArrays:
    """count images of the built-in set; the class textures depend on seed only, the samples on split too."""
    textures = class_textures(torch.Generator().manual_seed(seed))
    generator = torch.Generator().manual_seed(seed * 1000 + (1 if split == "train" else 2))
    labels = torch.randint(0, NUM_CLASSES, (count,), generator=generator)
    other = (labels + torch.randint(1, NUM_CLASSES, (count,), generator=generator)) % NUM_CLASSES
    frequency, angle, colour = (t[labels] for t in textures)
    distractor = [t[other][:, :1] for t in textures]
    phase = 2 * math.pi * torch.rand(count, GRATINGS_PER_CLASS + 1, generator=generator)
    amplitude = 0.5 + torch.rand(count, GRATINGS_PER_CLASS, generator=generator)
    distractor_amplitude = 0.4 + 0.6 * torch.rand(count, 1, generator=generator)
    image = render(frequency, angle, colour, phase[:, :GRATINGS_PER_CLASS], amplitude)
    image += render(*distractor, phase[:, GRATINGS_PER_CLASS:], distractor_amplitude)
    image += 0.4 * torch.randn(count, 3, 1, 1, generator=generator)  # colour cast
    image += 0.5 * torch.randn(count, 3, SIZE, SIZE, generator=generator)  # pixel noise
    pixels = (128 + 40 * image).round().clamp(0, 255).to(torch.uint8)
    return ImageArrays(pixels, labels)


def load_synthetic(train_size: int, test_size: int, seed: int) -> tuple[ImageArrays, ImageArrays]:
    """(train, test) of the built-in set."""
    return make_synthetic(train_size, seed, "train"), make_synthetic(test_size, seed, "test")
