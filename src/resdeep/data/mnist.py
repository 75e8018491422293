"""MNIST read from the standard IDX files, gzipped or not."""
from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import torch

from resdeep.data.arrays import ImageArrays, check_labels
from resdeep.data.download import download_or_explain
from resdeep.data.shapes import DATASET_SHAPES
from resdeep.errors import UserError

FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
IMAGES_MAGIC, LABELS_MAGIC = 2051, 2049


def find_file(root: Path, name: str) -> Path | None:
    """name or name.gz in root, root/raw or root/MNIST/raw (torchvision's layout)."""
    for folder in (root, root / "raw", root / "MNIST" / "raw"):
        for candidate in (folder / name, folder / f"{name}.gz"):
            if candidate.is_file():
                return candidate
    return None


def read_idx(path: Path, expected_magic: int) -> np.ndarray:
    """An IDX array: big-endian magic, dimension sizes, then uint8 data."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as handle:
            raw = handle.read()
        magic = struct.unpack(">I", raw[:4])[0]
        if magic != expected_magic:
            raise ValueError(f"magic number {magic}, expected {expected_magic}")
        dims = struct.unpack(f">{magic & 0xFF}I", raw[4 : 4 + 4 * (magic & 0xFF)])
        data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * len(dims))
        return data[: int(np.prod(dims))].reshape(dims)
    except (OSError, ValueError, struct.error, EOFError) as error:
        raise UserError(f"{path} is not a readable MNIST IDX file ({error})") from None


def read_split(root: Path, images_key: str, labels_key: str) -> ImageArrays:
    images = read_idx(find_file(root, FILES[images_key]), IMAGES_MAGIC)
    labels_path = find_file(root, FILES[labels_key])
    labels = read_idx(labels_path, LABELS_MAGIC)
    if len(images) != len(labels):
        raise UserError(f"MNIST under {root}: {len(images)} {images_key.replace('_', ' ')} but {len(labels)} labels")
    labels = torch.from_numpy(labels.astype(np.int64))
    check_labels(labels, DATASET_SHAPES["mnist"].num_classes, str(labels_path))
    return ImageArrays(torch.from_numpy(images.copy()).unsqueeze(1), labels)


def load_mnist(root: str, download: bool = True) -> tuple[ImageArrays, ImageArrays]:
    """(train, test) arrays of MNIST, 1x28x28, downloading through torchvision when allowed and needed."""
    root_path = Path(root).expanduser()
    if any(find_file(root_path, name) is None for name in FILES.values()):
        expected = f"{root_path}/MNIST/raw/ with {', '.join(n + '[.gz]' for n in FILES.values())}"
        download_or_explain("MNIST", root_path, expected, download, lambda: _torchvision_download(root_path))
    return read_split(root_path, "train_images", "train_labels"), read_split(root_path, "test_images", "test_labels")


def _torchvision_download(root: Path) -> None:
    from torchvision.datasets import MNIST  # only when downloading

    MNIST(str(root), train=True, download=True)
