"""CIFAR-10 from lossless WebP mosaics, written out as the standard python-batches folder.

    python -m resdeep.data.cifar10_mosaic SRC DEST    # writes DEST/cifar-10-batches-py/, then data=cifar10 data.root=DEST

SRC holds, for each of data_batch_1..5 and test_batch, `<batch>.webp` (a square RGB mosaic of 32x32 images,
row-major) and `<batch>.labels` (one uint8 label per image). The grid follows the label count: 10,000
labels make a 100x100 mosaic of 3200x3200 pixels (the full set), 100 labels a 10x10 one of 320x320.
The files written are byte for byte those of the data set's own unpack.py (shared/data/cifar10-full):
each batch a pickle (protocol 4) of {batch_label, labels, data (N x 3072 uint8, channel-major), filenames},
and batches.meta. Every part is checked before anything is written; a missing or malformed part is one
line naming it (exit 2), and a half-written folder is never left behind.
"""
from __future__ import annotations

import math
import pickle
import shutil
import sys
from pathlib import Path
from typing import List

import numpy as np
from PIL import Image, UnidentifiedImageError

from resdeep.errors import USAGE_EXIT_CODE, UserError

FOLDER = "cifar-10-batches-py"
BATCHES = [f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]
NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
SIZE = 32  # pixels per image side
CLASSES = len(NAMES)


def mosaic_files(src: Path) -> List[Path]:
    """Every file a complete set of mosaics has, in order."""
    return [Path(src) / f"{name}{suffix}" for name in BATCHES for suffix in (".webp", ".labels")]


def read_labels(path: Path) -> np.ndarray:
    """A batch's labels, checked: a square number of them (the grid), each a class 0..9."""
    labels = np.fromfile(path, dtype=np.uint8)
    side = math.isqrt(len(labels))
    if len(labels) == 0 or side * side != len(labels):
        raise UserError(f"{path} holds {len(labels)} labels; a mosaic needs a square number of them (10,000 for a 100x100 grid)")
    if labels.max() >= CLASSES:
        raise UserError(f"{path} has label {int(labels.max())}; CIFAR-10 labels are 0..{CLASSES - 1}")
    return labels


def check_mosaic(path: Path, count: int) -> None:
    """The image's header (no decoding): a readable RGB image of the grid's size."""
    side = math.isqrt(count)
    try:
        with Image.open(path) as image:
            size, mode = image.size, image.mode
    except (OSError, UnidentifiedImageError) as error:
        raise UserError(f"{path} is not a readable image ({type(error).__name__}: {error})") from None
    expected = (side * SIZE, side * SIZE)
    if size != expected or mode not in ("RGB", "RGBA"):
        raise UserError(f"{path} is a {size[0]}x{size[1]} {mode} image; its {count} labels need a {side}x{side} RGB mosaic "
                        f"of {SIZE}x{SIZE} images, {expected[0]}x{expected[1]} pixels")


def from_mosaic(path: Path, count: int) -> np.ndarray:
    """The images of a mosaic as CIFAR's rows: N x 3072 uint8, each image's R, G, B planes one after another."""
    side = math.isqrt(count)
    try:
        with Image.open(path) as image:
            pixels = np.asarray(image.convert("RGB"))
    except OSError as error:  # a truncated or damaged file fails only when decoded
        raise UserError(f"{path} cannot be decoded ({type(error).__name__}: {error})") from None
    return pixels.reshape(side, SIZE, side, SIZE, 3).transpose(0, 2, 4, 1, 3).reshape(count, 3 * SIZE * SIZE)


def batch_bytes(name: str, data: np.ndarray, labels: np.ndarray) -> bytes:
    """One batch file, exactly as unpack.py pickles it."""
    batch = {"batch_label": name, "labels": labels.tolist(), "data": data, "filenames": [""] * len(labels)}
    return pickle.dumps(batch, protocol=4)


def meta_bytes(per_batch: int) -> bytes:
    return pickle.dumps({"num_cases_per_batch": per_batch, "label_names": NAMES, "num_vis": 3 * SIZE * SIZE}, protocol=4)


def unpack(src: Path, dest: Path) -> Path:
    """Write dest/cifar-10-batches-py from the mosaics in src; returns that folder.

    Everything is checked (files present, label counts, image sizes) before a byte is written, and the folder
    is assembled beside its final name and renamed into place, so an error leaves any earlier copy as it was."""
    src, dest = Path(src), Path(dest)
    if not src.is_dir():
        raise UserError(f"{src} is not a folder; give the folder holding data_batch_1.webp ... test_batch.labels")
    missing = [path for path in mosaic_files(src) if not path.is_file()]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise UserError(f"{missing[0]} is missing{more}: a CIFAR-10 mosaic folder holds {', '.join(BATCHES)}, each as .webp and .labels")
    labels = {name: read_labels(src / f"{name}.labels") for name in BATCHES}
    for name in BATCHES:
        check_mosaic(src / f"{name}.webp", len(labels[name]))
    final = dest / FOLDER
    building = dest / f".{FOLDER}.partial"
    shutil.rmtree(building, ignore_errors=True)
    building.mkdir(parents=True)
    try:
        for name in BATCHES:
            data = from_mosaic(src / f"{name}.webp", len(labels[name]))
            (building / name).write_bytes(batch_bytes(name, data, labels[name]))
        (building / "batches.meta").write_bytes(meta_bytes(len(labels[BATCHES[0]])))
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    if final.exists():
        shutil.rmtree(final)
    building.rename(final)
    return final


def main(argv: List[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args in (["-h"], ["--help"]):
        print(__doc__.strip())
        return 0
    if len(args) != 2:
        print("usage: python -m resdeep.data.cifar10_mosaic SRC DEST   (--help for more)", file=sys.stderr)
        return USAGE_EXIT_CODE
    try:
        folder = unpack(Path(args[0]), Path(args[1]))
    except UserError as error:
        print(f"resdeep: error: {error}", file=sys.stderr)
        return USAGE_EXIT_CODE
    print(f"unpacked {len(BATCHES)} batches from {args[0]} to {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
