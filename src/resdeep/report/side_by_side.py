"""An experiment whose networks bring their own recipes (experiment=remedies56: Fixup with Fixup's recipe,
stochastic depth with Huang et al.'s) in one table and one figure, each network labelled with its recipe.

The per-config tables and figures keep every recipe apart; this view puts them beside each other and says so.
Nothing is pooled: each line is one network under one recipe, its seeds averaged as everywhere else."""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import List, Tuple

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from resdeep.models import network_kind  # noqa: E402
from resdeep.report.curves import mean_curve, test_points, train_points  # noqa: E402
from resdeep.report.figure import STYLE, TEST_LINE, TRAIN_LINE, file_stem, iteration_axis, save_figure  # noqa: E402
from resdeep.report.groups import ConfigGroup, Network, length_text  # noqa: E402
from resdeep.report.table import error_cells, fmt  # noqa: E402

HEADER = ["| network | kind | recipe | length | train error % | test error % (best) | mean ± std | runs |",
          "|---|---|---|---|---:|---:|---:|---|"]


def side_by_side_sets(groups: List[ConfigGroup]) -> List[List[ConfigGroup]]:
    """Each experiment's configs on one data set where they follow more than one recipe (in the groups' reading
    order); configs of one recipe that differ in length or a setting are compared in their own tables only."""
    sets = defaultdict(list)
    for group in groups:
        sets[(group.experiment, group.data)].append(group)
    return [configs for configs in sets.values() if len({g.setup["recipe"].get("name") for g in configs}) > 1]


def _entries(configs: List[ConfigGroup]) -> List[Tuple[ConfigGroup, Network]]:
    return [(group, network) for group in configs for network in group.networks]


def _name(group: ConfigGroup, network: Network) -> str:
    return f"{network.model} (recipe {group.setup['recipe'].get('name')})"


def side_by_side_table(configs: List[ConfigGroup]) -> str:
    """Every network of the experiment in one table: its kind, recipe and length, final training and test error."""
    first = configs[0]
    lines = [f"### {first.experiment} · {first.data}: every network side by side", "",
             "Each network with its own recipe (the configs above); a difference between two rows is the network's "
             "and its recipe's together.", "", *HEADER]
    for group, network in _entries(configs):
        _, best_cell, spread, state = error_cells(network.runs)
        trains = [r.final_train_error for r in network.runs if r.status == "finished" and r.final_train_error is not None]
        train = fmt(sum(trains) / len(trains)) if trains else "—"
        kind = network_kind(network.runs[0].model_config)
        lines.append(f"| {network.model} | {kind} | {group.setup['recipe'].get('name')} | {length_text(group.setup['recipe'])} "
                     f"| {train} | {best_cell} | {spread} | {state} |")
    return "\n".join(lines)


def draw_side_by_side(sets: List[List[ConfigGroup]], out: Path) -> List[Path]:
    """One figure per set (PNG, PDF, SVG), for the sets with curves."""
    paths = []
    for configs in sets:
        entries = [(g, n) for g, n in _entries(configs) if any(r.records or r.train_curve() for r in n.runs)]
        if entries:
            with plt.rc_context(STYLE):
                paths += save_figure(_draw(configs[0], entries), out / file_stem(f"side_by_side-{configs[0].experiment}-{configs[0].data}"))
    return paths


def _draw(first: ConfigGroup, entries: List[Tuple[ConfigGroup, Network]]):
    """Training error (thin, dashed) left, test error (bold, solid) right, a colour per network."""
    figure, axes = plt.subplots(1, 2, figsize=(11, 4.4), sharey=True)
    top = 0.0
    for index, (group, network) in enumerate(entries):
        colour = plt.get_cmap("tab10")(index % 10)
        seeds = f", {len(network.runs)} seeds" if len(network.runs) > 1 else ""
        for axis, points, style in ((axes[0], train_points, TRAIN_LINE), (axes[1], test_points, TEST_LINE)):
            iterations, values, _ = mean_curve(network.runs, points)
            if iterations:
                axis.plot(iterations, values, color=colour, marker="o" if len(iterations) == 1 else None,
                          label=_name(group, network) + seeds, **style)
                top = max(top, max(values))
    for axis, what in zip(axes, ("training error (thin, dashed)", "test error (bold, solid)")):
        axis.set_title(what)
        iteration_axis(axis)
        axis.legend(loc="best", fontsize=7, title="network (its recipe)", title_fontsize=7)
    axes[0].set_ylabel("error (%)")
    axes[0].set_ylim(0, min(100, top * 1.08 + 1))
    figure.suptitle(f"{first.experiment} · {first.data}: every network side by side, each with its own recipe", fontsize=10)
    figure.tight_layout()
    return figure
