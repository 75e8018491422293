"""Writing a report: report.md, curves.csv and the figures (PNG, PDF, SVG) from the runs under some folders."""
from __future__ import annotations

from pathlib import Path
from typing import List

from resdeep.atomic_files import atomic_write_text
from resdeep.errors import UserError
from resdeep.report.curves import write_curves_csv
from resdeep.report.depth_figure import draw_depth_figures
from resdeep.report.figure import DPI, draw_figures
from resdeep.report.groups import group_runs, setup_text
from resdeep.report.runs import scan_runs
from resdeep.report.side_by_side import draw_side_by_side, side_by_side_sets, side_by_side_table
from resdeep.report.table import degradation_findings, markdown_table


def file_lines(files: List[Path]) -> List[str]:
    """One line per written file, a figure's formats together: 'out/figure.png, figure.pdf, figure.svg'."""
    by_stem: dict = {}
    for path in files:
        by_stem.setdefault((path.parent, path.stem), []).append(path)
    return [", ".join([str(paths[0]), *(path.name for path in paths[1:])]) for paths in by_stem.values()]


def write_report(folders: List[Path], out: Path) -> dict:
    """Find the runs, group them once, write every file into out; returns their paths and the run count."""
    runs, problems = scan_runs(folders)
    if not runs:
        looked = ", ".join(str(f) for f in folders)
        found = f" ({'; '.join(problems)})" if problems else ""
        raise UserError(f"no runs found under {looked}{found}; a run folder holds run.json (train one with: resdeep train ...)")
    groups = group_runs(runs)
    out.mkdir(parents=True, exist_ok=True)
    csv_path = out / "curves.csv"
    write_curves_csv(groups, csv_path)
    figures, figure_notes = draw_figures(groups, out)
    depth_figures = draw_depth_figures(groups, out)  # only where a config's runs differ in depth
    side_by_side = side_by_side_sets(groups)  # an experiment whose networks bring their own recipes
    side_figures = draw_side_by_side(side_by_side, out)
    findings = degradation_findings(groups)
    experiments = sorted({g.experiment for g in groups})
    text = [
        "# resdeep report", "",
        f"{len(runs)} run(s) of {len(experiments)} experiment(s) ({', '.join(experiments)}) in {len(groups)} config(s), "
        f"from {', '.join(str(f) for f in folders)}. Only seeds are averaged: runs of different experiments, "
        "recipes or lengths are never pooled.", "",
        *(f"- {group.title}: {setup_text(group.setup)}" for group in groups), "",
        "## Test error (Table 6 layout)", "",
        "Final test error of each network; with several seeds, the best and the mean ± std. `paper` is the published "
        "number (CIFAR-10: He et al. 2016 Table 6 and the successors' papers; ImageNet: Table 2, 10-crop top-1), shown "
        "only for runs that followed the paper's schedule; plain nets have no paper row on CIFAR-10.", "",
        *(part for group in groups for part in (markdown_table(group), "")),
        *(part for configs in side_by_side for part in (side_by_side_table(configs), "")),
        *(f"![{path.stem}]({path.name})" for path in side_figures if path.suffix == ".png"),
        *([""] if side_figures else []),
        "## Depth and training error (Figure 6 layout)", "",
        "Final training error of each family's deepest network against its shallowest, over the finished seeds. "
        "A line claims that depth made training worse or better only when the gap is larger than the spread between "
        "seeds: two or more seeds a side and a 95% interval of the gap (Welch's t-test) that excludes zero.", "",
        *(findings or ["- no family has finished runs at two depths in one config: nothing to compare yet"]), "",
        *(f"![{path.stem}]({path.name})" for path in figures if path.suffix == ".png"),
        *([] if figures else ["No evaluation recorded yet: no figure."]), "",
        *(f"- {note}" for note in figure_notes),
        *(["", "## Error against depth", "", "Final training error (thin, dashed) and test error (bold, solid) of each family, "
           "as in every figure of the report; bands: the range over seeds; hollow diamonds: the published test error.", "",
           *(f"![{path.stem}]({path.name})" for path in depth_figures if path.suffix == ".png")] if depth_figures else []),
        *(["", "## Not included", "", *(f"- {problem}" for problem in problems)] if problems else []), "",
        f"Curves: `{csv_path.name}` (every logged point of every run). Figures as PNG ({DPI} dpi), PDF and SVG. "
        f"Full curves in TensorBoard: `tensorboard --logdir {folders[0]}`", "",
    ]
    report = out / "report.md"
    atomic_write_text(report, "\n".join(text))
    files = [report, csv_path, *figures, *depth_figures, *side_figures]
    return {"runs": len(runs), "report": report, "csv": csv_path, "figures": figures, "depth_figures": depth_figures,
            "side_by_side_figures": side_figures,
            "files": files, "findings": findings, "problems": problems}
