"""The Table 6 layout: final test error per network, mean and spread over seeds, beside the paper."""
from __future__ import annotations

import statistics
from typing import List, Optional

from resdeep.data.shapes import DATASET_SHAPES
from resdeep.report.curves import group_runs
from resdeep.report.paper import paper_error
from resdeep.report.runs import Run


def parameter_count(run: Run) -> int:
    """From result.json, or by building the network when the run has not finished."""
    if run.result and run.result.get("params"):
        return run.result["params"]
    from resdeep.models import build_model
    from resdeep.models.summary import count_params

    shape = DATASET_SHAPES[run.data]
    return count_params(build_model(run.model_config, shape.channels, shape.num_classes))


def fmt(value: Optional[float]) -> str:
    return "—" if value is None else f"{value:.2f}"


def error_cells(runs: List[Run]) -> tuple[str, str, str]:
    """(best final test error, mean ± std over seeds, state) of one network's runs."""
    finished = [r for r in runs if r.status == "finished" and r.final_test_error is not None]
    in_progress = [r for r in runs if r.status == "in progress"]
    diverged = [r for r in runs if r.status == "diverged"]
    state = []
    if diverged:
        state.append(f"{len(diverged)} diverged")
    for run in in_progress:
        state.append(f"seed {run.seed} in progress (iter {run.iteration}/{run.max_iters})")
    if not finished:
        if diverged and not in_progress:
            return "diverged", "—", "; ".join(state)
        latest = [r.final_test_error for r in in_progress if r.final_test_error is not None]
        return (f"({min(latest):.2f})" if latest else "—"), "—", "; ".join(state)
    errors = [r.final_test_error for r in finished]
    spread = f"{statistics.mean(errors):.2f} ± {statistics.stdev(errors):.2f}" if len(errors) > 1 else "—"
    return f"{min(errors):.2f}", spread, "; ".join(state) or f"{len(finished)} finished"


def markdown_table(runs: List[Run]) -> str:
    """One table per data set: network, depth, params, our error, the paper's, the difference."""
    sections = []
    for data in sorted({r.data for r in runs}):
        lines = [
            f"### {data}", "",
            "| network | depth | params | test error % (best) | mean ± std | paper % | difference | runs |",
            "|---|---:|---:|---:|---:|---:|---:|---|",
        ]
        for (group_data, family), models in group_runs(runs).items():
            if group_data != data:
                continue
            for model, model_runs in models.items():
                best, spread, state = error_cells(model_runs)
                paper = paper_error(data, model)
                difference = f"{float(best) - paper:+.2f}" if paper is not None and best.replace(".", "").isdigit() else "—"
                params = f"{parameter_count(model_runs[0]):,}"
                lines.append(f"| {model} | {model_runs[0].depth} | {params} | {best} | {spread} | {fmt(paper)} | {difference} | {state} |")
        sections.append("\n".join(lines))
    return "\n\n".join(sections)


def degradation_findings(runs: List[Run]) -> List[str]:
    """Per family: does the final training error rise or fall with depth?"""
    findings = []
    for (data, family), models in group_runs(runs).items():
        by_depth = sorted(
            (ms[0].depth, statistics.mean(r.final_train_error for r in ms if r.final_train_error is not None))
            for ms in models.values() if any(r.final_train_error is not None for r in ms)
        )
        if len(by_depth) < 2:
            continue
        (shallow, shallow_error), (deep, deep_error) = by_depth[0], by_depth[-1]
        gap = deep_error - shallow_error
        trend = f"deeper trains worse by {gap:.1f} points" if gap > 0 else f"deeper trains better by {-gap:.1f} points"
        if gap > 0 and family == "plain":
            trend += " (the degradation problem)"
        findings.append(
            f"- {data}, {family}: {trend}: final training error {family}-{deep} {deep_error:.2f}% vs {family}-{shallow} {shallow_error:.2f}%"
        )
    return findings
