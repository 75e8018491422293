"""`resdeep analyze <what> ...`: the command line; each analysis lives in resdeep.analysis."""
from __future__ import annotations

from pathlib import Path
from typing import List

from resdeep.analysis.measure_and_draw import HANDLERS, HELP, output_folder, run_folders  # first: it selects the Agg backend

import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from resdeep.args import OneLineParser, check_writable  # noqa: E402
from resdeep.atomic_files import write_csv  # noqa: E402
from resdeep.errors import UserError  # noqa: E402


def run_analyze_command(args: List[str]) -> int:
    if not args or args[0] in ("-h", "--help"):
        print(HELP)
        return 0 if args else 2
    what = args[0]
    if what not in HANDLERS:
        raise UserError(f"analyze: unknown analysis '{what}'; choose one of: {', '.join(HANDLERS)}")
    parser = OneLineParser(prog=f"resdeep analyze {what}", add_help=False)
    parser.add_argument("items", nargs="*")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--batches", type=int, default=4)
    parser.add_argument("--resolution", type=int, default=21)
    parser.add_argument("--dims", type=int, default=1, choices=[1, 2])
    parser.add_argument("--span", type=float, default=1.0)
    parser.add_argument("--images", type=int, default=None)
    parser.add_argument("--depth", type=int, default=30)
    parser.add_argument("--width", type=int, default=64)
    options = parser.parse_args(args[1:])
    for flag in ("images", "batches", "resolution", "depth", "width"):
        value = getattr(options, flag)  # --images may be left out (None: each analysis picks its own)
        if value is not None and value < 1:
            raise UserError(f"analyze: --{flag} must be at least 1 (got {value})")
    if options.out is not None:
        check_writable(options.out, f"--out {options.out}")
    runs = run_folders(options.items)
    if what != "init" and not runs:
        raise UserError(f"analyze {what}: no runs found; give run folders (e.g. outputs/demo) or overrides naming a run")
    device = torch.device("cuda" if options.device == "cuda" or (options.device == "auto" and torch.cuda.is_available()) else "cpu")
    rows, figure = HANDLERS[what](runs, options, device)
    out = output_folder(runs, options.out)
    out.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(out / f"{what}.png", dpi=120)
    plt.close(figure)
    write_csv(out / f"{what}.csv", rows)
    print(f"analyze {what}: {len(runs)} run(s) -> {out / f'{what}.png'}, {out / f'{what}.csv'}")
    return 0
