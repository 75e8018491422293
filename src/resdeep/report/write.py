"""Writing a report: report.md, curves.csv, figure.png and figure.svg from the runs under some folders."""
from __future__ import annotations

from pathlib import Path
from typing import List

from resdeep.engine.files import atomic_write_text
from resdeep.errors import UserError
from resdeep.report.curves import write_curves_csv
from resdeep.report.figure import draw_figure
from resdeep.report.runs import find_runs
from resdeep.report.table import degradation_findings, markdown_table


def write_report(folders: List[Path], out: Path) -> dict:
    """Find the runs, write the four files into out; returns their paths and the run count."""
    runs = find_runs(folders)
    if not runs:
        looked = ", ".join(str(f) for f in folders)
        raise UserError(f"no runs found under {looked}; a run folder holds run.json (train one with: resdeep train ...)")
    out.mkdir(parents=True, exist_ok=True)
    csv_path = out / "curves.csv"
    write_curves_csv(runs, csv_path)
    figures = draw_figure(runs, out / "figure")
    findings = degradation_findings(runs)
    text = [
        "# resdeep report", "",
        f"{len(runs)} run(s) from {', '.join(str(f) for f in folders)}.", "",
        "## Test error (Table 6 layout)", "",
        "Final test error of each network; with several seeds, the best and the mean ± std. "
        "`paper` is He et al. 2016 (CIFAR-10: Table 6; ImageNet: Table 2, 10-crop top-1); plain nets have no paper row on CIFAR-10.",
        "", markdown_table(runs), "",
        "## Depth and training error (Figure 6 layout)", "",
        *(findings or ["- fewer than two depths of one family: nothing to compare yet"]), "",
        f"![figure]({figures[0].name})" if figures else "No evaluation recorded yet: no figure.", "",
        f"Curves: `{csv_path.name}`. Full curves in TensorBoard: `tensorboard --logdir {folders[0]}`", "",
    ]
    report = out / "report.md"
    atomic_write_text(report, "\n".join(text))
    return {"runs": len(runs), "report": report, "csv": csv_path, "figures": figures, "findings": findings}
