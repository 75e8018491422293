"""`resdeep export RUN --out model.pt [--checkpoint latest|best|N]`: the trained weights and config in one file."""
from __future__ import annotations

from pathlib import Path
from typing import List

from resdeep.args import OneLineParser, check_writable
from resdeep.commands.eval import parse_checkpoint
from resdeep.errors import UserError


def run_export_command(args: List[str]) -> int:
    parser = OneLineParser(prog="resdeep export", description="Write a run's trained weights and config to one file, "
                           "readable with torch.load(path, weights_only=True) or resdeep.load_run(path).")
    parser.add_argument("run", type=Path, help="a run folder (outputs/<name>/<data>/<model>/seed<k>)")
    parser.add_argument("--out", type=Path, required=True, help="the file to write, e.g. resnet56.pt")
    parser.add_argument("--checkpoint", default="latest", help="latest (default), best (lowest validation error) or an iteration")
    options = parser.parse_args(args)
    if options.out.is_dir():
        raise UserError(f"export: --out {options.out} is a folder; give a file name, e.g. --out {options.out / 'model.pt'}")
    check_writable(options.out.parent, f"--out {options.out}")
    from resdeep.engine.inference import export_run, load_run

    run = load_run(options.run, parse_checkpoint(options.checkpoint))
    export_run(run, options.out)
    print(f"{run.name} at iteration {run.iteration} ({run.source}) -> {options.out}")
    print(f"load it with: torch.load('{options.out}', weights_only=True)['model'], or resdeep.load_run('{options.out}')")
    return 0
