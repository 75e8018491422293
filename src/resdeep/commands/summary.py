"""`resdeep summary model=... data=...`: the network's layer table, params and multiply-adds."""
from __future__ import annotations

import os
from typing import List

import torch

from resdeep.args import split_config_dir
from resdeep.compose import load_config
from resdeep.data.shapes import DATASET_SHAPES
from resdeep.errors import UserError
from resdeep.models import build_model, model_id
from resdeep.models.summary import count_params, format_summary, summarize

HELP = """usage: resdeep summary [overrides]   e.g. resdeep summary model=resnet56 data=cifar10
Prints every layer with its output shape, parameters and multiply-adds, then
`params: <exact integer>` and `macs: <exact integer>` for one image at the data's input size."""


def check_fits_in_memory(model_cfg, shape) -> None:
    """Count the weights on the meta device (nothing allocated); refuse a network larger than the machine's memory."""
    try:
        with torch.device("meta"):
            params = sum(p.numel() for p in build_model(model_cfg, shape.channels, shape.num_classes).parameters())
    except UserError:
        raise
    except Exception:  # noqa: BLE001 - a user's own network that cannot be built on meta: the real build decides
        return
    needed, memory = 4 * params, os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    if needed > memory:
        raise UserError(
            f"{model_id(model_cfg)} has {params:,} parameters ({needed / 1e9:,.0f} GB as float32), more than this machine's "
            f"{memory / 1e9:,.0f} GB of memory; choose a smaller model.width or model.depth"
        )


def run_summary_command(args: List[str]) -> int:
    """Build the configured network on the CPU and print its table."""
    if "--help" in args or "-h" in args:
        print(HELP)
        return 0
    overrides, extra_dir = split_config_dir(args)
    cfg = load_config(overrides, extra_dir)
    shape = DATASET_SHAPES[cfg.data.name]
    check_fits_in_memory(cfg.model, shape)
    model = build_model(cfg.model, shape.channels, shape.num_classes)
    rows = summarize(model, (shape.channels, shape.size, shape.size))
    print(f"{model_id(cfg.model)} on {cfg.data.name} ({shape.channels}x{shape.size}x{shape.size}, {shape.num_classes} classes)")
    print(format_summary(rows, count_params(model)))
    return 0
