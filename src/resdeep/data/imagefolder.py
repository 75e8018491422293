"""An ImageNet-style folder (train/<class>/*, val/<class>/*) with the paper's augmentation.

Decoding runs in DataLoader workers; images travel as uint8 and are normalised (and lit, with
AlexNet's PCA colour noise) on the training device. A corrupt image is skipped with a warning and
counted (result.json, train.log); it never stops a long run, but a folder of which nothing can be read does.
"""
from __future__ import annotations

import random
from pathlib import Path
from typing import Iterator, List, Tuple

import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision.transforms import v2 as T

from resdeep.data.arrays import split_indices
from resdeep.data.preprocessing import normalize
from resdeep.errors import UserError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp"}
IMAGENET_MEAN = torch.tensor([0.485, 0.456, 0.406])
IMAGENET_STD = torch.tensor([0.229, 0.224, 0.225])
# AlexNet's PCA of ImageNet RGB pixels (in [0, 1] units), as used by fb.resnet.torch.
PCA_EIGVAL = torch.tensor([0.2175, 0.0188, 0.0045])
PCA_EIGVEC = torch.tensor([[-0.5675, 0.7192, 0.4009], [-0.5808, -0.0045, -0.8140], [-0.5836, -0.6948, 0.4203]])


def scan_folder(folder: Path, classes: List[str] | None = None) -> Tuple[List[str], List[Tuple[str, int]]]:
    """(class names, [(file, label)]) of an ImageFolder layout, with one clear error per problem."""
    if not folder.is_dir():
        raise UserError(f"image folder {folder} does not exist; data.root must hold train/<class>/ and val/<class>/")
    found = sorted(entry.name for entry in folder.iterdir() if entry.is_dir())
    if not found:
        raise UserError(f"image folder {folder} has no class folders; expected {folder}/<class>/<image files>")
    classes = classes or found
    unknown = sorted(set(found) - set(classes))
    if unknown:
        raise UserError(f"{folder} has class folders that train/ lacks: {', '.join(unknown[:5])}")
    samples = []
    for label, name in enumerate(classes):
        class_dir = folder / name
        if not class_dir.is_dir():
            continue
        files = sorted(p for p in class_dir.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise UserError(f"class folder {class_dir} has no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
        samples += [(str(path), label) for path in files]
    return classes, samples


class ShorterSideResize:
    """Resize so the shorter side is a random integer in [low, high] (the paper's scale augmentation)."""

    def __init__(self, low: int, high: int):
        self.low, self.high = low, high

    def __call__(self, image):
        return T.functional.resize(image, random.randint(self.low, self.high), antialias=True)


class ImageFiles(Dataset):
    """Decoded, transformed uint8 images; an unreadable file yields None and why (skipped by collate, named by the loader)."""

    def __init__(self, samples: List[Tuple[str, int]], transform):
        self.samples, self.transform = samples, transform

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int):
        path, label = self.samples[index]
        try:
            with Image.open(path) as image:
                return self.transform(image.convert("RGB")), label, None
        except Exception as error:  # noqa: BLE001 - a corrupt image must not stop a long run
            return None, label, f"{path} ({str(error).splitlines()[0] if str(error) else type(error).__name__})"


def collate_skipping(batch):
    """Stack the readable images; also return each skipped one's path and why."""
    good = [(image, label) for image, label, _ in batch if image is not None]
    skipped = [why for image, _, why in batch if image is None]
    if not good:
        return None, None, skipped
    return torch.stack([g[0] for g in good]), torch.tensor([g[1] for g in good]), skipped


class RankBatchSampler:
    """This rank's share of each global batch of a seeded per-epoch permutation, from a resume point."""

    def __init__(self, count, batch_size, seed, epoch, start_batch, rank, world_size):
        self.count, self.batch_size, self.seed = count, batch_size, seed
        self.epoch, self.start_batch, self.rank, self.local = epoch, start_batch, rank, batch_size // world_size

    def __len__(self) -> int:
        return self.count // self.batch_size - self.start_batch

    def __iter__(self) -> Iterator[List[int]]:
        order = torch.randperm(self.count, generator=torch.Generator().manual_seed(self.seed * 100003 + self.epoch))
        for batch in range(self.start_batch, self.count // self.batch_size):
            start = batch * self.batch_size + self.rank * self.local
            yield order[start : start + self.local].tolist()


class FolderLoader:
    """Endless training batches from an image folder, with a resumable position."""

    def __init__(self, samples, transform, batch_size, seed, device, workers, rank=0, world_size=1, lighting=False):
        if len(samples) < batch_size:
            raise UserError(f"the image folder has {len(samples)} training images, fewer than one batch of {batch_size}")
        self.dataset = ImageFiles(samples, transform)
        self.batch_size, self.seed, self.device, self.workers = batch_size, seed, device, workers
        self.rank, self.world_size, self.lighting = rank, world_size, lighting
        self.epoch, self.position, self.skipped = 0, 0, 0
        self.unnamed: List[str] = []  # skipped images not yet handed to the run's log (take_skipped)
        self.unreadable_batches = 0  # in a row: a whole epoch of them means no image can be read at all
        self.generator = torch.Generator().manual_seed(seed)
        self.mean, self.std = IMAGENET_MEAN.to(device)[:, None, None], IMAGENET_STD.to(device)[:, None, None]
        self._iterator = None

    def _start_epoch(self):
        sampler = RankBatchSampler(len(self.dataset), self.batch_size, self.seed, self.epoch, self.position, self.rank, self.world_size)
        loader = DataLoader(
            self.dataset, batch_sampler=sampler, num_workers=self.workers, collate_fn=collate_skipping,
            pin_memory=self.device.type == "cuda", persistent_workers=False,
        )
        self._iterator = iter(loader)

    def next_batch(self):
        """The next batch on the device, normalised (and lit), skipping corrupt images."""
        while True:
            if self._iterator is None:
                self._start_epoch()
            try:
                images, labels, skipped = next(self._iterator)
            except StopIteration:
                self.epoch, self.position, self._iterator = self.epoch + 1, 0, None
                continue
            self.position += 1
            self.skipped += len(skipped)
            self.unnamed += skipped
            if images is not None:
                self.unreadable_batches = 0
                return self._finish(images, labels)
            self.unreadable_batches += 1
            if self.unreadable_batches >= len(self.dataset) // self.batch_size:  # else this loop would never end
                folder = Path(self.dataset.samples[0][0]).parent.parent
                raise UserError(
                    f"no training image under {folder} could be read in {self.unreadable_batches} batches in a row "
                    f"(an epoch's worth, {self.skipped} images skipped, e.g. {'; '.join(self.unnamed[:3])}); the files are damaged or not images"
                )

    def take_skipped(self) -> List[str]:
        """The images skipped since the last call ('path (why)'), for the run's log."""
        taken, self.unnamed = self.unnamed, []
        return taken

    def _finish(self, images, labels):
        images = images.to(self.device, non_blocking=True).float() / 255
        if self.lighting:
            alpha = torch.randn(len(images), 3, generator=self.generator) * 0.1
            shift = (alpha * PCA_EIGVAL) @ PCA_EIGVEC.T  # (B, 3)
            images = images + shift.to(self.device)[:, :, None, None]
        return (images - self.mean) / self.std, labels.to(self.device, non_blocking=True)

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "position": self.position, "skipped": self.skipped, "generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.epoch, self.position, self.skipped = state["epoch"], state["position"], state["skipped"]
        self.generator.set_state(state["generator"])
        self._iterator = None


class FolderEvalSet:
    """Validation images: resize, centre crop (or 10 crops), normalised on the device."""

    def __init__(self, samples, transform, batch_size, device, workers):
        self.dataset = ImageFiles(samples, transform)
        self.device, self.batch_size, self.workers = device, batch_size, workers
        self.mean, self.std = IMAGENET_MEAN.to(device)[:, None, None], IMAGENET_STD.to(device)[:, None, None]

    def __len__(self) -> int:
        return len(self.dataset)

    def __iter__(self):
        loader = DataLoader(self.dataset, batch_size=self.batch_size, num_workers=self.workers, collate_fn=collate_skipping)
        for images, labels, _ in loader:
            if images is not None:
                images = normalize(images.to(self.device), self.mean, self.std)
                yield images, labels.to(self.device)


def stack_crops(crops):
    """TenCrop's tuple as one (10, C, H, W) tensor."""
    return torch.stack(crops)


def train_transform(cfg):
    """Shorter side random in [scale_min, scale_max], random crop, flip; uint8 out."""
    steps = [ShorterSideResize(cfg.scale_min, cfg.scale_max), T.RandomCrop(cfg.crop_size), T.RandomHorizontalFlip()]
    if not cfg.augment:
        steps = [T.Resize(cfg.test_resize, antialias=True), T.CenterCrop(cfg.crop_size)]
    return T.Compose([T.PILToTensor(), *steps])


def test_transform(cfg):
    """Resize the shorter side to test_resize, then the centre crop (or the ten crops) of crop_size."""
    if cfg.ten_crop:
        return T.Compose([T.PILToTensor(), T.Resize(cfg.test_resize, antialias=True), T.TenCrop(cfg.crop_size), stack_crops])
    return T.Compose([T.PILToTensor(), T.Resize(cfg.test_resize, antialias=True), T.CenterCrop(cfg.crop_size)])


def build_imagefolder(cfg, batch_size, eval_batch_size, device, seed, rank, world_size):
    """(train loader, {name: eval set}, number of classes) for data=imagenet."""
    root = Path(cfg.root).expanduser()
    classes, train_samples = scan_folder(root / "train")
    _, val_samples = scan_folder(root / "val", classes)
    workers = cfg.workers if cfg.workers is not None else (torch.multiprocessing.cpu_count() or 1)
    eval_sets = {}
    if cfg.val_size:
        train_index, held_index = split_indices(len(train_samples), cfg.val_size, cfg.seed)
        held = [train_samples[i] for i in held_index.tolist()]
        train_samples = [train_samples[i] for i in train_index.tolist()]
        eval_sets["val"] = FolderEvalSet(held, test_transform(cfg), eval_batch_size, device, workers)
    eval_sets["test"] = FolderEvalSet(val_samples, test_transform(cfg), eval_batch_size, device, workers)
    train = FolderLoader(train_samples, train_transform(cfg), batch_size, seed, device, workers, rank, world_size, cfg.pca_lighting and cfg.augment)
    return train, eval_sets, len(classes)
