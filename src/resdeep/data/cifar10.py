"""CIFAR-10 read straight from the standard python-batches folder (cifar-10-batches-py)."""
from __future__ import annotations

import hashlib
import pickle
from pathlib import Path

import numpy as np
import torch

from resdeep.data.arrays import ImageArrays, check_labels
from resdeep.data.download import download_or_explain
from resdeep.data.shapes import DATASET_SHAPES
from resdeep.errors import UserError

FOLDER = "cifar-10-batches-py"
TRAIN_FILES = [f"data_batch_{i}" for i in range(1, 6)]
TEST_FILE = "test_batch"
OFFICIAL_MD5 = {
    "data_batch_1": "c99cafc152244af753f735de768cd75f",
    "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
    "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
    "data_batch_4": "634d18415352ddfa80567beed471001a",
    "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
    "test_batch": "40351d587109b95175f43aff81a1287e",
}


def find_batches_folder(root: Path) -> Path | None:
    """root itself or root/cifar-10-batches-py, whichever holds every batch file."""
    for folder in (root / FOLDER, root):
        if all((folder / name).is_file() for name in TRAIN_FILES + [TEST_FILE]):
            return folder
    return None


def read_batch(path: Path) -> ImageArrays:
    """One pickled batch: a dict with `data` (N x 3072 uint8, channel-major) and `labels`."""
    try:
        with open(path, "rb") as handle:
            batch = pickle.load(handle, encoding="latin1")
        data = np.asarray(batch["data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
        labels = np.asarray(batch.get("labels", batch.get("fine_labels")), dtype=np.int64)
    except Exception as error:  # noqa: BLE001 - any unreadable file gets the same clear message
        raise UserError(f"{path} is not a readable CIFAR-10 python batch ({type(error).__name__}: {error})") from None
    if len(data) != len(labels):
        raise UserError(f"{path} has {len(data)} images but {len(labels)} labels")
    labels = torch.from_numpy(labels)
    check_labels(labels, DATASET_SHAPES["cifar10"].num_classes, str(path))
    return ImageArrays(torch.from_numpy(data.copy()), labels)


def verify_md5(folder: Path) -> None:
    """Compare each batch with the official CIFAR-10 release (subsets will not match)."""
    for name, expected in OFFICIAL_MD5.items():
        actual = hashlib.md5((folder / name).read_bytes()).hexdigest()
        if actual != expected:
            raise UserError(f"{folder / name} does not match the official CIFAR-10 md5 ({actual} != {expected}); set data.verify=false for a subset or a prepared copy")


def load_cifar10(root: str, download: bool = True, verify: bool = False) -> tuple[ImageArrays, ImageArrays]:
    """(train, test) arrays of CIFAR-10, downloading through torchvision when allowed and needed."""
    root_path = Path(root).expanduser()
    folder = find_batches_folder(root_path)
    if folder is None:
        expected = f"{root_path / FOLDER} with {', '.join(TRAIN_FILES)}, {TEST_FILE}"
        download_or_explain("CIFAR-10", root_path, expected, download, lambda: _torchvision_download(root_path))
        folder = find_batches_folder(root_path)
    if verify:
        verify_md5(folder)
    parts = [read_batch(folder / name) for name in TRAIN_FILES]
    train = ImageArrays(torch.cat([p.images for p in parts]), torch.cat([p.labels for p in parts]))
    return train, read_batch(folder / TEST_FILE)


def _torchvision_download(root: Path) -> None:
    from torchvision.datasets import CIFAR10  # only when downloading

    CIFAR10(str(root), train=True, download=True)
