"""`resdeep eval RUN [--checkpoint latest|best|N] [data.root=... data.ten_crop=true]`: a checkpoint's test error."""
from __future__ import annotations

from pathlib import Path
from typing import List

from resdeep.args import OneLineParser, check_writable
from resdeep.errors import UserError


def parse_checkpoint(text: str):
    """--checkpoint: latest, best, or an iteration number."""
    if text in ("latest", "best"):
        return text
    if text.isdigit():
        return int(text)
    raise UserError(f"--checkpoint must be latest, best or an iteration number (got '{text}')")


def run_eval_command(args: List[str]) -> int:
    parser = OneLineParser(prog="resdeep eval", description="The test error of a trained run's checkpoint, printed and written as JSON beside the run.")
    parser.add_argument("run", type=Path, help="a run folder (outputs/<name>/<data>/<model>/seed<k>) or a file from resdeep export")
    parser.add_argument("overrides", nargs="*", help="data to test on instead, e.g. data.root=/path/to/cifar10 or data.ten_crop=true (ImageNet)")
    parser.add_argument("--checkpoint", default="latest", help="latest (default), best (lowest validation error) or an iteration")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    parser.add_argument("--out", type=Path, help="where to write the JSON (default: RUN/eval/iter_<n>[-<overrides>].json for a run folder, "
                                                 "<file>.eval[-<overrides>].json beside an exported file)")
    options = parser.parse_intermixed_args(args)  # overrides may come before or after the options
    if options.out is not None:
        check_writable(options.out.parent, f"--out {options.out}")
    import torch  # start-up: torch loads once the arguments are checked, so --help and mistakes answer at once

    from resdeep.atomic_files import write_json
    from resdeep.engine.inference import eval_output, evaluate_run, load_run

    run = load_run(options.run, parse_checkpoint(options.checkpoint), options.overrides)
    out = options.out or eval_output(run, options.overrides)
    check_writable(out.parent, str(out))
    device = "cuda" if options.device == "cuda" or (options.device == "auto" and torch.cuda.is_available()) else "cpu"
    result = evaluate_run(run, device=device)
    result["overrides"] = options.overrides
    write_json(out, result)
    crops = ", 10-crop" if result["ten_crop"] else ""
    print(f"{result['model']} at iteration {result['iteration']}: test error {result['test_error']:.2f}% "
          f"(loss {result['test_loss']:.4f}, {result['test_images']:,} {result['data']} test images{crops}) -> {out}")
    return 0
