"""`resdeep <command> [args]`: a thin dispatcher; each command's entry lives in resdeep.commands."""
from __future__ import annotations

import importlib
import sys
from typing import Dict, List

from resdeep.errors import USAGE_EXIT_CODE, UserError

USAGE = "usage: resdeep <command> [arguments]   (resdeep <command> --help for more)"


def run_command(name: str, args: List[str]) -> int:
    """Import resdeep.commands.<name> only now (torch and Hydra load with it) and run its entry."""
    module = importlib.import_module(f"resdeep.commands.{name}")
    return getattr(module, f"run_{name}_command")(args)


# Each command's entry is run_<name>_command in resdeep.commands.<name>.
COMMANDS: Dict[str, str] = {
    "train": "train networks; Hydra overrides, -m for a sweep (e.g. -m +experiment=figure6)",
    "summary": "print a network's layer table, exact parameter count and multiply-adds",
    "report": "turn run folders into the paper's Figure 6 and Table 6 (report.md, curves.csv, figure.png)",
    "bench": "measure training images/s against a conventional PyTorch loop on the same device",
    "analyze": "look inside trained runs: responses, gradients, init, lesion, landscape (figure + CSV each)",
    "demo": "plain vs residual nets on the built-in data set, then the report (offline, CPU, minutes)",
    "eval": "test error of a run's checkpoint (latest, best on validation, or an iteration), printed and saved as JSON",
    "export": "a run's trained weights and config in one file for torch.load(weights_only=True) or resdeep.load_run",
    "status": "one table for a run or a sweep from its files: state, iteration, errors, images/s, time left",
}


def version_text() -> str:
    """`resdeep --version`: resdeep's version, then what it runs on."""
    import platform
    from importlib.metadata import version  # not `import torch`: a version should answer at once

    from resdeep import __version__

    return f"resdeep {__version__} (Hydra {version('hydra-core')}, PyTorch {version('torch')}, Python {platform.python_version()})"


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
        from resdeep.commands.complete import run_completion

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
