"""`resdeep status DIR [--watch [SECONDS]]`: one table for a run or a sweep, read only from its files."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import List

from resdeep.args import one_line_errors
from resdeep.errors import UserError
from resdeep.runs import survey
from resdeep.runs.survey import unplaced_jobs
from resdeep.runs.table import format_table, has_problems

DESCRIPTION = """Every run under DIR (a run folder, or a sweep's), and every job its sweeps were given: network,
seed, state (not started, running, interrupted, failed, diverged, finished, unreadable), iteration/total (for
an interrupted or failed run, where a rerun resumes), last training and test error, images/s, time left, why a
run failed, and a line counting the states. Reads only files, so it works on a shared file system while the
jobs run elsewhere. Exit code 1 when a run failed, diverged or cannot be read."""


def run_status_command(args: List[str]) -> int:
    """Print the table once, or keep refreshing it in place with --watch."""
    parser = one_line_errors(argparse.ArgumentParser(prog="resdeep status", description=DESCRIPTION), "resdeep status")
    parser.add_argument("folder", type=Path, help="a run folder or a sweep folder, e.g. outputs/figure6")
    parser.add_argument("--watch", nargs="?", type=float, const=10.0, metavar="SECONDS", help="refresh every SECONDS (10) until Ctrl-C")
    parsed = parser.parse_args(args)
    if not parsed.folder.is_dir():
        raise UserError(f"{parsed.folder} is not a folder; name a run or sweep folder, e.g. outputs/figure6")
    if parsed.watch is not None and parsed.watch <= 0:
        raise UserError(f"--watch {parsed.watch:g} must be a positive number of seconds")
    while True:
        runs = survey(parsed.folder)
        table = format_table(runs, parsed.folder, unplaced_jobs(parsed.folder)) if runs else f"no runs under {parsed.folder} yet"
        if parsed.watch is None:
            print(table)
            return 1 if has_problems(runs) else 0
        sys.stdout.write("\033[H\033[2J" + table + "\n")  # clear the screen, then the table in place
        sys.stdout.flush()
        time.sleep(parsed.watch)
