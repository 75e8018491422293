"""`resdeep report DIR... [--out DIR]`: the command line; the report is written by resdeep.report.write."""
from __future__ import annotations

from pathlib import Path
from typing import List

from resdeep.args import OneLineParser, check_writable
from resdeep.errors import UserError
from resdeep.report.write import file_lines, write_report


def run_report_command(args: List[str]) -> int:
    parser = OneLineParser(prog="resdeep report", description="Figure 6 and Table 6 from run folders.")
    parser.add_argument("folders", nargs="+", type=Path, help="run folders or folders holding runs (e.g. outputs/figure6)")
    parser.add_argument("--out", type=Path, help="where to write (default: the first folder)")
    options = parser.parse_args(args)
    missing = [str(f) for f in options.folders if not f.is_dir()]
    if missing:
        raise UserError(f"report: no such folder: {', '.join(missing)}")
    if options.out is not None:
        check_writable(options.out, f"--out {options.out}")
    written = write_report(options.folders, options.out or options.folders[0])
    print(f"{written['runs']} run(s); wrote:")
    for line in file_lines(written["files"]):
        print(f"  {line}")
    return 0
