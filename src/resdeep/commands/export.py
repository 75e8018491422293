"""`resdeep export RUN --out FILE [--format pt|torchscript|onnx] [--checkpoint latest|best|N]`: a trained net in one file."""
from __future__ import annotations

from pathlib import Path
from typing import List

from resdeep.args import OneLineParser, check_writable
from resdeep.commands.eval import parse_checkpoint
from resdeep.errors import UserError

FORMATS = ("pt", "torchscript", "onnx")  # engine/export.py writes each
HOW_TO_LOAD = {
    "pt": "resdeep.load_run('{out}').predict(images), or torch.load('{out}', weights_only=True) for the weights, config and preprocessing",
    "torchscript": "torch.jit.load('{out}')(uint8 images (N, H, W, C)) -> class probabilities; no resdeep needed",
    "onnx": "onnxruntime.InferenceSession('{out}').run(None, {{'images': uint8 images (N, H, W, C)}}) -> class probabilities",
}


def run_export_command(args: List[str]) -> int:
    parser = OneLineParser(prog="resdeep export", description="Write a run's trained network with its preprocessing to one file: "
                           "for resdeep.load_run (pt: weights, config, preprocessing), or self-contained (torchscript, onnx: "
                           "uint8 images in, class probabilities out).")
    parser.add_argument("run", type=Path, help="a run folder (outputs/<name>/<data>/<model>/seed<k>)")
    parser.add_argument("--out", type=Path, required=True, help="the file to write, e.g. resnet56.pt, resnet56.ts, resnet56.onnx")
    parser.add_argument("--format", choices=FORMATS, default=None, help="pt (default; onnx for an --out ending in .onnx), torchscript, onnx")
    parser.add_argument("--checkpoint", default="latest", help="latest (default), best (lowest validation error) or an iteration")
    options = parser.parse_args(args)
    if options.out.is_dir():
        raise UserError(f"export: --out {options.out} is a folder; give a file name, e.g. --out {options.out / 'model.pt'}")
    check_writable(options.out.parent, f"--out {options.out}")
    file_format = options.format or ("onnx" if options.out.suffix == ".onnx" else "pt")
    from resdeep.engine.export import export_run  # start-up: torch loads once the arguments are checked
    from resdeep.engine.inference import load_run

    run = load_run(options.run, parse_checkpoint(options.checkpoint))
    export_run(run, options.out, file_format)
    print(f"{run.name} at iteration {run.iteration} ({run.source}) -> {options.out} ({file_format})")
    print("use it with: " + HOW_TO_LOAD[file_format].format(out=options.out))
    return 0
