"""Tab completion: `eval "$(resdeep train -sc install=bash)"` installs Hydra's script, which calls back here."""
from __future__ import annotations

import os
from typing import List

from resdeep.commands import COMMANDS

# Commands whose arguments are config overrides, which Hydra's completion knows how to complete.
OVERRIDE_COMMANDS = ("train", "summary", "bench", "demo")


def run_completion(args: List[str]) -> int:
    """`resdeep -sc query=bash`: command names after `resdeep`, config groups and values after a command."""
    from resdeep.commands.train import run_train_command  # Hydra's completion plugin, through @hydra.main

    line = os.environ.get("COMP_LINE", "")
    if not any(arg.startswith("query=") for arg in args) or not line.strip():
        return run_train_command(args)  # install=bash, uninstall=bash
    parts = line.split(None, 2)  # the program, the command, the rest (trailing space kept)
    if len(parts) == 1 or (len(parts) == 2 and not line.endswith(" ")):  # still typing the command
        typed = parts[1] if len(parts) == 2 else ""
        print(" ".join(name for name in COMMANDS if name.startswith(typed)))
        return 0
    if parts[1] not in OVERRIDE_COMMANDS:
        print()  # nothing to offer: the shell falls back to file names (-o default)
        return 0
    # Hydra's completion reads `program overrides...`: take the command word out of the line.
    os.environ["COMP_LINE"] = f"{parts[0]} {parts[2] if len(parts) > 2 else ''}"
    os.environ["COMP_POINT"] = str(len(os.environ["COMP_LINE"]))
    return run_train_command(args)
