"""`resdeep summary model=... data=...`: the network's layer table, params and multiply-adds."""
from __future__ import annotations

from typing import List

from resdeep.args import split_config_dir
from resdeep.compose import load_config

HELP = """usage: resdeep summary [overrides]   e.g. resdeep summary model=resnet56 data=cifar10
Prints every layer with its output shape, parameters and multiply-adds, then
`params: <exact integer>` and `macs: <exact integer>` for one image at the data's input size."""


def run_summary_command(args: List[str]) -> int:
    """Build the configured network on the CPU and print its table."""
    if "--help" in args or "-h" in args:
        print(HELP)
        return 0
    overrides, extra_dir = split_config_dir(args)
    cfg = load_config(overrides, extra_dir)
    from resdeep.config import model_id
    from resdeep.data.shapes import DATASET_SHAPES
    from resdeep.models import build_model
    from resdeep.models.summary import count_params, format_summary, summarize

    shape = DATASET_SHAPES[cfg.data.name]
    model = build_model(cfg.model, shape.channels, shape.num_classes)
    rows = summarize(model, (shape.channels, shape.size, shape.size))
    print(f"{model_id(cfg.model)} on {cfg.data.name} ({shape.channels}x{shape.size}x{shape.size}, {shape.num_classes} classes)")
    print(format_summary(rows, count_params(model)))
    return 0
