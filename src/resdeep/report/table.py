"""The Table 6 layout: final test error per network, mean and spread over seeds, beside the paper where comparable."""
from __future__ import annotations

import math
import statistics
from typing import List, Optional, Tuple

from resdeep.data.shapes import DATASET_SHAPES
from resdeep.models import build_model
from resdeep.models.summary import count_params
from resdeep.report.evidence import compare
from resdeep.report.groups import ConfigGroup, Network, length_text
from resdeep.report.paper import PAPER_NUMBERS, paper_error
from resdeep.report.runs import Run
from resdeep.report.schedules import schedule_differences


def parameter_count(run: Run) -> int:
    """From result.json, or by building the network when the run has not finished."""
    if run.result and run.result.get("params"):
        return run.result["params"]
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
    """Per experiment, config and family: the final training error of the deepest network against the shallowest,
    over their finished seeds, and a claim that depth made it worse or better only when the gap is larger than
    the spread between seeds (Welch's t-test, two or more seeds a side)."""
    findings = []
    for group in groups:
        labels = group.family_labels
        for family, networks in group.families.items():
            finished = [(n, [r.final_train_error for r in n.runs if r.status == "finished" and r.final_train_error is not None]) for n in networks]
            finished = sorted(((n, errors) for n, errors in finished if errors), key=lambda pair: pair[0].depth)
            if len(finished) < 2 or finished[0][0].depth == finished[-1][0].depth:
                continue
            (shallow, shallow_errors), (deep, deep_errors) = finished[0], finished[-1]
            findings.append(f"- {group.title}, {labels[family]}: " + depth_claim(labels[family], deep.model, deep_errors, shallow.model, shallow_errors, group.setup["recipe"]))
    return findings


def depth_claim(kind: str, deep: str, deep_errors: List[float], shallow: str, shallow_errors: List[float], recipe: dict) -> str:
    """One line: the gap, the seeds each side, and a claim only where the gap is larger than the seed spread."""
    test = compare(deep_errors, shallow_errors)
    seeds = f"{test.deep_seeds} vs {test.shallow_seeds} seed{'s' if test.shallow_seeds > 1 else ''}"

    def side(mean, std):
        return f"{mean:.2f}%" if std is None else f"{mean:.2f} ± {std:.2f}%"

    numbers = (f"{deep} {side(test.deep_mean, test.deep_std)} vs {shallow} {side(test.shallow_mean, test.shallow_std)} "
               f"final training error after {length_text(recipe)} ({seeds}); gap {test.gap:+.1f} points")
    if not test.tested:
        return f"no claim (one seed: depth cannot be told from seed noise; train seed=0,1,2 to test it): {numbers}"
    welch = f"Welch t = {test.t:.2f}, df = {test.df:.1f}, p = {test.p:.2g}" if math.isfinite(test.t) else "every seed alike"
    interval = f"95% interval {test.low:+.1f} to {test.high:+.1f}"
    if not test.beyond_seed_spread:
        return f"no claim (the gap is within the spread between seeds): {numbers}, {interval} ({welch})"
    trend = "deeper trains worse" if test.gap > 0 else "deeper trains better"
    if test.gap > 0 and kind == "plain":
        trend += " (the degradation problem)"
    return f"{trend}: {numbers}, {interval}, larger than the spread between seeds ({welch})"
