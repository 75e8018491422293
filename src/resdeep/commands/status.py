"""`resdeep status DIR [--watch [SECONDS]]`: one table for a run or a sweep, read only from its files."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import List

from resdeep.args import one_line_errors
from resdeep.errors import UserError

DESCRIPTION = """Every run under DIR (a run folder, or a sweep's): network, seed, state (queued, running,
interrupted, finished, diverged, failed), iteration/total, last training and test error, images/s,
time left, and a summary line. Reads only files, so it works on a shared file system while the jobs
run elsewhere. Exit code 1 when a run failed or diverged."""


def run_status_command(args: List[str]) -> int:
    """Print the table once, or keep refreshing it in place with --watch."""
    from resdeep.engine.status import find_runs, format_table, run_status

    parser = one_line_errors(argparse.ArgumentParser(prog="resdeep status", description=DESCRIPTION), "resdeep status")
    parser.add_argument("folder", type=Path, help="a run folder or a sweep folder, e.g. outputs/figure6")
    parser.add_argument("--watch", nargs="?", type=float, const=10.0, metavar="SECONDS", help="refresh every SECONDS (10) until Ctrl-C")
    parsed = parser.parse_args(args)
    if not parsed.folder.is_dir():
        raise UserError(f"{parsed.folder} is not a folder; name a run or sweep folder, e.g. outputs/figure6")
    if parsed.watch is not None and parsed.watch <= 0:
        raise UserError(f"--watch {parsed.watch:g} must be a positive number of seconds")
    while True:
        rows = [run_status(run) for run in find_runs(parsed.folder)]
        table = format_table(rows, parsed.folder) if rows else f"no runs under {parsed.folder} yet"
        if parsed.watch is None:
            print(table)
            return 1 if any(row["state"] in ("failed", "diverged") for row in rows) else 0
        sys.stdout.write("\033[H\033[2J" + table + "\n")  # clear the screen, then the table in place
        sys.stdout.flush()
        time.sleep(parsed.watch)
