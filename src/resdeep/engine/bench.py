"""What `resdeep bench` measures: training images/s of resdeep's engine against a conventional PyTorch loop.

Both run in one invocation, on the same device, data and network. The reference loop is written
plainly below, the way popular CIFAR reproductions train: a Dataset yielding PIL images, torchvision
transforms in DataLoader workers, fp32, eager, and `.item()` on the loss every iteration.
"""
from __future__ import annotations

import resource
import time
import torch
import torch.nn.functional as F
from PIL import Image
from torchvision import transforms

from resdeep.config import Config
from resdeep.data import load_arrays
from resdeep.data.shapes import DATASET_SHAPES
from resdeep.engine.distributed import World
from resdeep.engine.train import build_training, local_batch_shape
from resdeep.engine.train_step import make_train_step
from resdeep.errors import UserError
from resdeep.models import build_model

HELP = """usage: resdeep bench [--iters N] [--warmup N] [--json FILE] [--no-reference] [--workers N (default 4)] [overrides]
e.g. resdeep bench model=resnet56 data=synthetic --json bench.json
Trains for --iters iterations after --warmup (compilation and cudnn tuning happen there) and reports
images/s, ms per iteration and peak memory for resdeep's engine, the conventional reference loop,
and resdeep's data loader alone; then the ratios."""


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def reset_peak_memory(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def peak_memory_mb(device: torch.device) -> float:
    """Peak GPU memory allocated, or the process's peak resident memory on the CPU."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(run_one, iterations: int, warmup: int, batch: int, device: torch.device) -> dict:
    """Run warmup iterations untimed, then time `iterations` of them (peak memory counts from set-up)."""
    for _ in range(warmup):
        run_one()
    synchronize(device)
    start = time.perf_counter()
    for _ in range(iterations):
        run_one()
    synchronize(device)
    seconds = time.perf_counter() - start
    return {"images_per_s": iterations * batch / seconds, "ms_per_iter": 1000 * seconds / iterations, "peak_memory_mb": peak_memory_mb(device)}


def bench_engine(cfg: Config, device: torch.device, iterations: int, warmup: int) -> tuple[dict, dict]:
    """resdeep's own path: device-resident loader, fast-path switches, TrainStep. Also the loader alone."""
    reset_peak_memory(device)
    fast, data, model, optimizer = build_training(cfg, device, World())
    step = make_train_step(model, optimizer, fast, device, local_batch_shape(cfg, data, World()))
    totals = torch.zeros(2, device=device, dtype=torch.float64)

    def train_one():
        loss_sum, wrong = step(*data.train.next_batch())
        totals[0] += loss_sum
        totals[1] += wrong

    engine = timed(train_one, iterations, warmup, cfg.recipe.batch_size, device)
    engine["fast_path"] = fast.describe()
    loader = timed(lambda: data.train.next_batch(), max(iterations, 50), 5, cfg.recipe.batch_size, device)
    return engine, loader


class PILImages(torch.utils.data.Dataset):
    """Like torchvision.datasets.CIFAR10: a uint8 array served one PIL image at a time."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, transform):
        self.images = images.permute(0, 2, 3, 1).numpy()  # HWC, as PIL wants
        self.labels, self.transform = labels.tolist(), transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index):
        array = self.images[index]
        image = Image.fromarray(array[:, :, 0] if array.shape[2] == 1 else array)
        return self.transform(image), self.labels[index]


def bench_reference(cfg: Config, device: torch.device, iterations: int, warmup: int, workers: int) -> dict:
    """The conventional loop: DataLoader + torchvision transforms, fp32, eager, .item() per iteration."""

    if cfg.data.name == "imagenet":
        raise UserError("bench's reference loop covers the small data sets (synthetic, cifar10, mnist); pass --no-reference")
    train, _ = load_arrays(cfg.data)
    shape = DATASET_SHAPES[cfg.data.name]
    mean = (train.images.float() / 255).mean((0, 2, 3)).tolist()
    std = (train.images.float() / 255).std((0, 2, 3)).tolist()
    transform = transforms.Compose([
        transforms.RandomCrop(shape.size, padding=4, padding_mode="reflect" if cfg.data.pad_mode == "reflect" else "constant"), transforms.RandomHorizontalFlip(),
        transforms.ToTensor(), transforms.Normalize(mean, std),
    ])
    loader = torch.utils.data.DataLoader(
        PILImages(train.images, train.labels, transform), batch_size=cfg.recipe.batch_size, shuffle=True,
        num_workers=workers, pin_memory=device.type == "cuda", drop_last=True, persistent_workers=workers > 0,
    )
    reset_peak_memory(device)
    model = build_model(cfg.model, shape.channels, shape.num_classes).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=cfg.recipe.lr, momentum=cfg.recipe.momentum, nesterov=cfg.recipe.nesterov, weight_decay=cfg.recipe.weight_decay)
    batches = iter(loader)
    running = {"loss": 0.0, "correct": 0}

    def train_one():
        nonlocal batches
        try:
            inputs, targets = next(batches)
        except StopIteration:
            batches = iter(loader)
            inputs, targets = next(batches)
        inputs, targets = inputs.to(device), targets.to(device)
        optimizer.zero_grad()
        outputs = model(inputs)
        loss = F.cross_entropy(outputs, targets)
        loss.backward()
        optimizer.step()
        running["loss"] += loss.item()
        running["correct"] += outputs.argmax(1).eq(targets).sum().item()

    result = timed(train_one, iterations, warmup, cfg.recipe.batch_size, device)
    result["workers"] = workers
    return result
