"""`resdeep <command> [args]`: a thin dispatcher; each command's entry lives in resdeep.commands."""
from __future__ import annotations

import importlib
import sys
from typing import List

from resdeep.commands import COMMANDS
from resdeep.errors import USAGE_EXIT_CODE, UserError
from resdeep.version import version_text

USAGE = "usage: resdeep <command> [arguments]   (resdeep <command> --help for more)"


def run_command(name: str, args: List[str]) -> int:
    """Import resdeep.commands.<name> only now (torch and Hydra load with it) and run its entry."""
    module = importlib.import_module(f"resdeep.commands.{name}")
    return getattr(module, f"run_{name}_command")(args)


def help_text() -> str:
    """The top-level help: one line per command."""
    lines = ["resdeep: plain vs residual networks by depth (He et al. 2016), from one command line.", "", USAGE, "", "commands:"]
    lines += [f"  {name:<9} {description}" for name, description in COMMANDS.items()]
    lines += ["", "examples:", "  resdeep train model=resnet56 data=cifar10", "  resdeep train -m model=plain20,plain56,resnet20,resnet56",
              "  resdeep summary model=resnet110 data=cifar10", "  resdeep report outputs/figure6",
              "", "resdeep --version; tab completion: eval \"$(resdeep train -sc install=bash)\""]
    return "\n".join(lines)


def main(argv: List[str] | None = None) -> None:
    """Entry point of the `resdeep` console script and `python -m resdeep`."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(help_text())
        sys.exit(0 if args else USAGE_EXIT_CODE)
    if args[0] in ("-V", "--version"):
        print(version_text())
        sys.exit(0)
    if args[0] in ("-sc", "--shell-completion"):  # the completion script calls `resdeep -sc query=bash`
        from resdeep.commands.complete import run_completion  # start-up: Hydra and torch load only when completing

        sys.exit(run_completion(args))
    command, rest = args[0], args[1:]
    if command not in COMMANDS:
        print(f"resdeep: error: unknown command '{command}'; choose one of: {', '.join(COMMANDS)}", file=sys.stderr)
        sys.exit(USAGE_EXIT_CODE)
    try:
        code = run_command(command, rest)
    except UserError as error:
        print(f"resdeep: error: {error}", file=sys.stderr)
        code = USAGE_EXIT_CODE
    except KeyboardInterrupt:
        print("resdeep: interrupted", file=sys.stderr)
        code = 130
    sys.exit(code or 0)
