"""`resdeep bench`: training images/s of resdeep's engine against a conventional PyTorch loop.

Both run in one invocation, on the same device, data and network. The reference loop is written
plainly below, the way popular CIFAR reproductions train: a Dataset yielding PIL images, torchvision
transforms in DataLoader workers, fp32, eager, and `.item()` on the loss every iteration.
"""
from __future__ import annotations

import resource
import time
from pathlib import Path
from typing import List

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from resdeep.args import OneLineParser, check_writable, split_config_dir
from resdeep.compose import load_config
from resdeep.config import Config, model_id
from resdeep.engine.files import write_json
from resdeep.errors import UserError

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
    from resdeep.engine.distributed import World
    from resdeep.engine.fastpath import make_train_step
    from resdeep.engine.train import build_training, local_batch_shape

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
    from torchvision import transforms

    from resdeep.data import load_arrays
    from resdeep.data.shapes import DATASET_SHAPES
    from resdeep.models import build_model

    if cfg.data.name == "imagenet":
        raise UserError("bench's reference loop covers the small data sets (synthetic, cifar10, mnist); pass --no-reference")
    train, _ = load_arrays(cfg.data)
    shape = DATASET_SHAPES[cfg.data.name]
    mean = (train.images.float() / 255).mean((0, 2, 3)).tolist()
    std = (train.images.float() / 255).std((0, 2, 3)).tolist()
    transform = transforms.Compose([
        transforms.RandomCrop(shape.size, padding=4), transforms.RandomHorizontalFlip(),
        transforms.ToTensor(), transforms.Normalize(mean, std),
    ])
    loader = torch.utils.data.DataLoader(
        PILImages(train.images, train.labels, transform), batch_size=cfg.recipe.batch_size, shuffle=True,
        num_workers=workers, pin_memory=device.type == "cuda", drop_last=True, persistent_workers=workers > 0,
    )
    reset_peak_memory(device)
    model = build_model(cfg.model, shape.channels, shape.num_classes).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=cfg.recipe.lr, momentum=cfg.recipe.momentum, weight_decay=cfg.recipe.weight_decay)
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


def run_bench_command(args: List[str]) -> int:
    if "--help" in args or "-h" in args:
        print(HELP)
        return 0
    parser = OneLineParser(prog="resdeep bench", add_help=False)
    parser.add_argument("--iters", type=int)
    parser.add_argument("--warmup", type=int)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--no-reference", action="store_true")
    parser.add_argument("--workers", type=int, default=4)
    options, rest = parser.parse_known_args(args)
    if options.json is not None:
        if options.json.is_dir():
            raise UserError(f"bench: --json {options.json} is a folder; give a file name, e.g. --json {options.json / 'bench.json'}")
        check_writable(options.json.parent, f"--json {options.json}")
    overrides, extra_dir = split_config_dir(rest)
    cfg = load_config(["data=synthetic", "model=resnet56", *overrides], extra_dir)
    from resdeep.engine.train import pick_device
    from resdeep.engine.distributed import World

    device = pick_device(cfg.trainer.device, World())
    torch.backends.cudnn.benchmark = cfg.trainer.cudnn_benchmark
    torch.manual_seed(cfg.seed), np.random.seed(cfg.seed)
    cuda = device.type == "cuda"
    iterations = options.iters if options.iters is not None else (200 if cuda else 10)
    warmup = options.warmup if options.warmup is not None else (30 if cuda else 2)
    if iterations <= 0:
        raise UserError(f"bench: --iters must be at least 1 (got {iterations})")
    if warmup < 0 or options.workers < 0:
        raise UserError(f"bench: --warmup and --workers must each be at least 0 (got --warmup {warmup}, --workers {options.workers})")
    name = torch.cuda.get_device_name(device) if cuda else f"CPU ({torch.get_num_threads()} threads)"
    print(f"bench: {model_id(cfg.model)} on {cfg.data.name}, batch {cfg.recipe.batch_size}, {iterations} timed iterations after {warmup} warm-up, {name}")
    engine, loader = bench_engine(cfg, device, iterations, warmup)
    report = {"model": model_id(cfg.model), "data": cfg.data.name, "batch_size": cfg.recipe.batch_size, "device": name,
              "torch": torch.__version__, "date": time.strftime("%Y-%m-%d"), "iterations": iterations, "warmup": warmup,
              "resdeep": engine, "loader_only": loader}
    rows = [("resdeep engine", engine), ("resdeep loader alone", loader)]
    if not options.no_reference:
        reference = bench_reference(cfg, device, iterations, warmup, options.workers)
        report["reference"] = reference
        report["speedup_vs_reference"] = engine["images_per_s"] / reference["images_per_s"]
        rows.append((f"reference loop ({options.workers} workers)", reference))
    report["loader_to_training_ratio"] = loader["images_per_s"] / engine["images_per_s"]
    print(f"{'':<28} {'images/s':>12} {'ms/iter':>10} {'peak MB':>10}")
    for label, row in rows:
        print(f"{label:<28} {row['images_per_s']:>12,.0f} {row['ms_per_iter']:>10.2f} {row['peak_memory_mb']:>10,.0f}")
    print(f"fast path: {engine['fast_path']}")
    if "speedup_vs_reference" in report:
        print(f"speed-up over the reference loop: {report['speedup_vs_reference']:.2f}x")
    print(f"loader delivers {report['loader_to_training_ratio']:.1f}x the images/s that training consumes")
    if options.json:
        write_json(options.json, report)
        print(f"written to {options.json}")
    return 0
