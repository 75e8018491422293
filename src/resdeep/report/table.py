"""The Table 6 layout: final test error per network, mean and spread over seeds, beside the paper where comparable."""
from __future__ import annotations

import statistics
from typing import List, Optional, Tuple

from resdeep.data.shapes import DATASET_SHAPES
from resdeep.report.groups import ConfigGroup, Network
from resdeep.report.paper import PAPER_NUMBERS, paper_error
from resdeep.report.runs import Run
from resdeep.report.schedules import schedule_differences


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


def error_cells(runs: List[Run]) -> Tuple[Optional[float], str, str, str]:
    """(best final test error of finished seeds, its cell, mean ± std over seeds, what state each run is in)."""
    finished = [r for r in runs if r.status == "finished" and r.final_test_error is not None]
    in_progress = [r for r in runs if r.status in ("running", "interrupted")]
    diverged = [r for r in runs if r.status == "diverged"]
    failed = [r for r in runs if r.status == "failed"]
    state = [f"{len(finished)} finished"] if finished else []
    if diverged:
        state.append(f"{len(diverged)} diverged (seed {', '.join(str(r.seed) for r in diverged)})")
    state += [f"seed {r.seed} failed: {r.failure}" for r in failed]
    state += [f"seed {r.seed} {r.status} (iter {r.iteration}/{r.max_iters if r.max_iters is not None else '?'})" for r in in_progress]
    if not finished:
        if diverged and not in_progress:
            return None, "diverged", "—", "; ".join(state)
        latest = [r.final_test_error for r in in_progress if r.final_test_error is not None]
        return None, (f"({min(latest):.2f})" if latest else "—"), "—", "; ".join(state)
    errors = [r.final_test_error for r in finished]
    spread = f"{statistics.mean(errors):.2f} ± {statistics.stdev(errors):.2f}" if len(errors) > 1 else "—"
    return min(errors), f"{min(errors):.2f}", spread, "; ".join(state)


def _row(network: Network, data: str, compare: bool) -> str:
    best, best_cell, spread, state = error_cells(network.runs)
    paper = paper_error(data, network.model) if compare else None
    difference = f"{best - paper:+.2f}" if paper is not None and best is not None else "—"
    params = f"{parameter_count(network.runs[0]):,}"
    return f"| {network.model} | {network.depth} | {params} | {best_cell} | {spread} | {fmt(paper)} | {difference} | {state} |"


def markdown_table(group: ConfigGroup) -> str:
    """One group's table: network, depth, params, our error, the paper's (when comparable), the difference."""
    lines = [f"### {group.title}", ""]
    differences = schedule_differences(group.setup)
    has_paper_numbers = any(paper_error(group.data, n.model) is not None for n in group.networks)
    compare = has_paper_numbers and not differences
    if has_paper_numbers and differences:
        lines += [f"Not compared with the paper: this config is not the paper's schedule ({'; '.join(differences)}).", ""]
    elif group.data not in PAPER_NUMBERS:
        lines += [f"The papers report no numbers on {group.data}.", ""]
    lines += [
        "| network | depth | params | test error % (best) | mean ± std | paper % | difference | runs |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    lines += [_row(network, group.data, compare) for network in group.networks]
    return "\n".join(lines)


def degradation_findings(groups: List[ConfigGroup]) -> List[str]:
    """Per experiment, config and family: does the final training error rise or fall with depth?"""
    findings = []
    for group in groups:
        for family, networks in group.families.items():
            by_depth = sorted(
                (n.depth, statistics.mean(r.final_train_error for r in n.runs if r.final_train_error is not None))
                for n in networks if any(r.final_train_error is not None for r in n.runs)
            )
            if len(by_depth) < 2:
                continue
            (shallow, shallow_error), (deep, deep_error) = by_depth[0], by_depth[-1]
            gap = deep_error - shallow_error
            trend = f"deeper trains worse by {gap:.1f} points" if gap > 0 else f"deeper trains better by {-gap:.1f} points"
            if gap > 0 and family == "plain":
                trend += " (the degradation problem)"
            findings.append(
                f"- {group.title}, {family}: {trend}: final training error {family}-{deep} {deep_error:.2f}% vs {family}-{shallow} {shallow_error:.2f}%"
            )
    return findings
