"""The few flags shared by commands that take Hydra-style overrides but are not Hydra jobs."""
from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path
from typing import List, Optional, Tuple

from resdeep.errors import UserError


class OneLineParser(argparse.ArgumentParser):
    """argparse whose errors are one line (a UserError: exit 2, no usage block, no traceback)."""

    def error(self, message):
        raise UserError(f"{self.prog.removeprefix('resdeep ')}: {message} (--help shows the options)")


def one_line_errors(parser: argparse.ArgumentParser, prog: str) -> argparse.ArgumentParser:
    """Make an existing parser (Hydra's) report errors as OneLineParser does."""
    parser.prog = prog
    parser.error = OneLineParser.error.__get__(parser)
    return parser


def split_config_dir(args: List[str]) -> Tuple[List[str], Optional[str]]:
    """Take `--config-dir DIR` (or `-cd DIR`, `--config-dir=DIR`) out of args; return (overrides, dir)."""
    overrides, extra_dir, index = [], None, 0
    while index < len(args):
        arg = args[index]
        if arg in ("--config-dir", "-cd"):
            if index + 1 >= len(args):
                raise UserError(f"{arg} needs a folder: {arg} path/to/my_conf")
            extra_dir, index = args[index + 1], index + 2
            continue
        if arg.startswith("--config-dir="):
            extra_dir = arg.split("=", 1)[1]
        elif arg.startswith("-") and arg not in ("-", "--"):
            raise UserError(f"unknown option '{arg}'; give config overrides like model=resnet56 data=cifar10")
        else:
            overrides.append(arg)
        index += 1
    return overrides, extra_dir


def check_writable(folder, named: str) -> None:
    """`folder`, or the nearest folder above it that exists, must accept new files; `named` says which
    setting gave it (e.g. 'out_dir=runs', '--out figures'), for the one-line error."""
    path = Path(folder).expanduser().resolve()
    existing = next(p for p in (path, *path.parents) if p.exists())
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK) or not _can_create_in(existing):
        raise UserError(f"cannot write to {named} ({existing} is not a writable folder); choose another folder")


def _can_create_in(folder: Path) -> bool:
    """Try it: os.access says yes to root everywhere, even in /proc, where the write fails only at the end."""
    try:
        with tempfile.TemporaryFile(dir=folder):
            return True
    except OSError:
        return False
