"""The Figure 6 layout, one figure per experiment and config: a panel per family, train error dashed and thin,
test error solid and bold. PNG (200 dpi), PDF and SVG (real text), byte-identical for the same runs."""
from __future__ import annotations

import re
from pathlib import Path
from typing import List, Tuple

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

from resdeep.report.curves import mean_curve, test_points, train_points  # noqa: E402
from resdeep.report.groups import ConfigGroup  # noqa: E402

FAMILY_TITLES = {"plain": "plain networks", "resnet": "ResNets (residual)"}
DPI = 200
# Text stays text in the SVG (editable, searchable), ids do not change from run to run, and no file carries a date.
STYLE = {"svg.fonttype": "none", "svg.hashsalt": "resdeep", "pdf.fonttype": 42}
METADATA = {".png": {}, ".pdf": {"CreationDate": None, "ModDate": None}, ".svg": {"Date": None}}


def figure_stem(group: ConfigGroup, alone: bool) -> str:
    """figure, or figure-<experiment>[-<data>-<config>] when a report holds several."""
    if alone:
        return "figure"
    return "figure-" + re.sub(r"[^A-Za-z0-9_=-]+", "_", group.title.replace(" · ", "-")).strip("_")[:120]  # no dot: it would read as a suffix


def draw_figures(groups: List[ConfigGroup], out: Path) -> Tuple[List[Path], List[str]]:
    """Write one figure (.png, .pdf, .svg) per group that has curves; returns the paths (PNG first) and notes."""
    paths, notes = [], []
    drawable = [g for g in groups if any(r.records or r.train_curve() for n in g.networks for r in n.runs)]
    for group in drawable:
        stem = out / figure_stem(group, len(drawable) == 1)
        with plt.rc_context(STYLE):
            notes += _draw(group, stem)
            figure = plt.gcf()
            for suffix, metadata in METADATA.items():
                figure.savefig(stem.with_suffix(suffix), dpi=DPI, metadata=metadata)
                paths.append(stem.with_suffix(suffix))
            plt.close(figure)
    return paths, notes


def _draw(group: ConfigGroup, stem: Path) -> List[str]:
    """Draw the group's panels on a new current figure; returns notes on curves cut short."""
    families = {name: networks for name, networks in group.families.items() if any(r.records or r.train_curve() for n in networks for r in n.runs)}
    depths = sorted({network.depth for networks in families.values() for network in networks})
    colours = {depth: plt.get_cmap("tab10")(index % 10) for index, depth in enumerate(depths)}
    figure, axes = plt.subplots(1, len(families), figsize=(5.2 * len(families), 4.2), squeeze=False, sharey=True)
    top, notes = 0.0, []
    for axis, (family, networks) in zip(axes[0], families.items()):
        for network in networks:
            seeds = f" ({len(network.runs)} seeds)" if len(network.runs) > 1 else ""
            for points, style, width in ((train_points, "--", 1.0), (test_points, "-", 2.2)):
                iterations, values, reached = mean_curve(network.runs, points)
                if iterations:
                    label = f"{family}-{network.depth}{seeds}" if points is test_points else None
                    axis.plot(iterations, values, style, color=colours[network.depth], linewidth=width, label=label)
                    top = max(top, max(values))
                if len(network.runs) > 1 and reached > (iterations[-1] if iterations else 0):
                    notes.append(f"{stem.name}: {network.model}'s mean {points.__name__.split('_')[0]} curve ends at iteration "
                                 f"{iterations[-1] if iterations else 0}, the last one all {len(network.runs)} seeds reached (one went on to {reached})")
        axis.set_title(FAMILY_TITLES.get(family, family))
        axis.set_xlabel("iterations")
        axis.grid(alpha=0.3)
        if axis.get_legend_handles_labels()[0]:
            axis.legend(loc="best", fontsize=8, title="depth (bold: test)", title_fontsize=8)
    axes[0][0].set_ylabel("error (%)")
    axes[0][0].set_ylim(0, min(100, top * 1.08 + 1))
    figure.suptitle(group.title, fontsize=10)
    style_key = [Line2D([], [], color="grey", linestyle="--", linewidth=1.0, label="train error"),
                 Line2D([], [], color="grey", linestyle="-", linewidth=2.2, label="test error")]
    figure.legend(handles=style_key, loc="lower center", ncol=2, fontsize=9, frameon=False)
    figure.tight_layout(rect=(0, 0.06, 1, 1))
    return notes
