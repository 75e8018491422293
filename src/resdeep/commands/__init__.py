"""Every subcommand's thin entry: parse the command line, then call the package that does the work.

Each command's entry is run_<name>_command in resdeep.commands.<name>; this table names them for `resdeep --help`
and tab completion."""
from typing import Dict

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
