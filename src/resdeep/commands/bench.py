"""`resdeep bench`: the command line; the measuring lives in resdeep.engine.bench."""
from __future__ import annotations

import time
from pathlib import Path
from typing import List

import numpy as np
import torch

from resdeep.args import OneLineParser, check_writable, split_config_dir
from resdeep.compose import load_config
from resdeep.models import model_id
from resdeep.engine.bench import HELP, bench_engine, bench_reference
from resdeep.atomic_files import write_json
from resdeep.engine.distributed import World
from resdeep.engine.train import pick_device
from resdeep.errors import UserError


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
