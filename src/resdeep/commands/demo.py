"""`resdeep demo`: plain vs residual nets at 20 and 56 layers on the built-in set, then the report."""
from __future__ import annotations

from pathlib import Path
from typing import List

from resdeep.compose import load_config
from resdeep.commands.train import run_train_command
from resdeep.errors import UserError
from resdeep.report.write import file_lines, write_report

HELP = """usage: resdeep demo [overrides]
Trains plain-20, plain-56, ResNet-20 and ResNet-56 for 300 iterations on the built-in synthetic
set (offline, a few minutes on 2 CPU cores), then writes the report and prints its findings and files.
Overrides go to every run, e.g. resdeep demo trainer.device=cuda; resdeep demo seed=0,1,2 trains three
seeds of each, so that a finding can test a gap against the spread between seeds (one seed allows no
claim). Re-running resumes or skips finished runs."""


def run_demo_command(args: List[str]) -> int:
    if "--help" in args or "-h" in args:
        print(HELP)
        return 0
    options = [arg for arg in args if arg.startswith("-")]
    if options:
        raise UserError(f"demo: unknown option '{options[0]}'; the demo takes config overrides only, e.g. resdeep demo trainer.device=cuda")

    # The demo prints its training lines and its findings: not which jobs Hydra launches (its folders say it).
    overrides = ["+experiment=demo", "hydra.hydra_logging.loggers.hydra.level=WARNING", *args]
    cfg = load_config(["+experiment=demo", *(a for a in args if a.startswith(("out_dir=", "name=")))])
    code = run_train_command(["-m", *overrides], table_when_all_finish=False)  # its findings below say what happened
    if code:
        raise UserError("a demo run failed (see above); fix it and run the demo again: finished runs are kept")
    folder = Path(cfg.out_dir) / cfg.name
    written = write_report([folder], folder)
    print()
    print("Demo finished, on the built-in synthetic data set (it shows optimisation, not CIFAR-10 accuracy):")
    for finding in written["findings"]:
        print(" ", finding.lstrip("- "))
    if any("no claim (one seed" in finding for finding in written["findings"]):
        print("  To test a gap against the spread between seeds: resdeep demo seed=0,1,2 (three seeds of each net, 3x as long)")
    print("  files:")
    for line in file_lines(written["files"]):
        print(f"    {line}")
    print(f"  TensorBoard: tensorboard --logdir {folder}")
    return 0
