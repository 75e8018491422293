"""The Figure 6 layout, one figure per experiment and config: a panel per kind of network, training error thin and
dashed, test error bold and solid (the line styles every figure of a report shares). PNG (200 dpi), PDF and SVG
(real text), byte-identical for the same runs."""
from __future__ import annotations

import re
from pathlib import Path
from typing import List, Tuple

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from resdeep.report.curves import mean_curve, test_points, train_points  # noqa: E402
from resdeep.report.groups import ConfigGroup, length_text  # noqa: E402

# He et al.'s Figure 6, in every figure of a report: training error thin and dashed, test error bold and solid.
TRAIN_LINE = {"linestyle": "--", "linewidth": 1.0}
TEST_LINE = {"linestyle": "-", "linewidth": 2.2}
DPI = 200
# Text stays text in the SVG (editable, searchable), ids do not change from run to run, and no file carries a date.
STYLE = {"svg.fonttype": "none", "svg.hashsalt": "resdeep", "pdf.fonttype": 42}
METADATA = {".png": {}, ".pdf": {"CreationDate": None, "ModDate": None}, ".svg": {"Date": None}}


def error_key() -> List[Line2D]:
    """The legend entries that say which line is which error."""
    return [Line2D([], [], color="grey", label="training error (thin, dashed)", **TRAIN_LINE),
            Line2D([], [], color="grey", label="test error (bold, solid)", **TEST_LINE)]


def config_title(group: ConfigGroup) -> str:
    """The group's title with its recipe and length, which a one-config report would otherwise never show."""
    return f"{group.title}: recipe {group.setup['recipe'].get('name')}, {length_text(group.setup['recipe'])}"


def file_stem(text: str) -> str:
    """A file name of letters, digits, _ = and - only; no dot, which would read as a suffix."""
    return re.sub(r"[^A-Za-z0-9_=-]+", "_", text.replace(" · ", "-")).strip("_")[:120]


def figure_stem(group: ConfigGroup, alone: bool) -> str:
    """figure, or figure-<experiment>[-<data>-<config>] when a report holds several."""
    return "figure" if alone else "figure-" + file_stem(group.title)


def save_figure(figure, stem: Path) -> List[Path]:
    """Write the figure as PNG (DPI), PDF and SVG, the same bytes for the same curves, and close it."""
    paths = []
    for suffix, metadata in METADATA.items():
        figure.savefig(stem.with_suffix(suffix), dpi=DPI, metadata=metadata)
        paths.append(stem.with_suffix(suffix))
    plt.close(figure)
    return paths


def iteration_axis(axis) -> None:
    """An axis of iterations from 0 (as in Figure 6; a lone point still spans whole iterations), whole-number ticks."""
    axis.set_xlabel("iterations")
    axis.set_xlim(left=0)
    axis.xaxis.set_major_locator(MaxNLocator(integer=True))
    axis.grid(alpha=0.3)


def draw_figures(groups: List[ConfigGroup], out: Path) -> Tuple[List[Path], List[str]]:
    """Write one figure (.png, .pdf, .svg) per group that has curves; returns the paths (PNG first) and notes."""
    paths, notes = [], []
    drawable = [g for g in groups if any(r.records or r.train_curve() for n in g.networks for r in n.runs)]
    for group in drawable:
        stem = out / figure_stem(group, len(drawable) == 1)
        with plt.rc_context(STYLE):
            notes += _draw(group, stem)
            paths += save_figure(plt.gcf(), stem)
    return paths, notes


def _draw(group: ConfigGroup, stem: Path) -> List[str]:
    """Draw the group's panels on a new current figure; returns notes on curves cut short."""
    families = {name: networks for name, networks in group.families.items() if any(r.records or r.train_curve() for n in networks for r in n.runs)}
    labels = group.family_labels
    depths = sorted({network.depth for networks in families.values() for network in networks})
    colours = {depth: plt.get_cmap("tab10")(index % 10) for index, depth in enumerate(depths)}
    figure, axes = plt.subplots(1, len(families), figsize=(5.2 * len(families), 4.2), squeeze=False, sharey=True)
    top, notes = 0.0, []
    for axis, (family, networks) in zip(axes[0], families.items()):
        networks_key = []
        for network in networks:
            seeds = f" ({len(network.runs)} seeds)" if len(network.runs) > 1 else ""
            for points, style in ((train_points, TRAIN_LINE), (test_points, TEST_LINE)):
                iterations, values, reached = mean_curve(network.runs, points)
                if iterations:
                    # A curve of one point (a single evaluation) is a dot, so it shows.
                    axis.plot(iterations, values, color=colours[network.depth], marker="o" if len(iterations) == 1 else None, **style)
                    top = max(top, max(values))
                if len(network.runs) > 1 and reached > (iterations[-1] if iterations else 0):
                    notes.append(f"{stem.name}: {network.model}'s mean {points.__name__.split('_')[0]} curve ends at iteration "
                                 f"{iterations[-1] if iterations else 0}, the last one all {len(network.runs)} seeds reached (one went on to {reached})")
            networks_key.append(Line2D([], [], color=colours[network.depth], linewidth=2.2, label=f"{network.model}{seeds}"))
        axis.set_title(f"{labels[family]} networks")
        iteration_axis(axis)
        axis.legend(handles=networks_key, loc="best", fontsize=8, title="network", title_fontsize=8)
    axes[0][0].set_ylabel("error (%)")
    axes[0][0].set_ylim(0, min(100, top * 1.08 + 1))
    figure.suptitle(config_title(group), fontsize=10)
    figure.legend(handles=error_key(), loc="lower center", ncol=2, fontsize=9, frameon=False)
    figure.tight_layout(rect=(0, 0.06, 1, 1))
    return notes
