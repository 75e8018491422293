"""Error against depth, the one picture of the subject: final training error thin and dashed, test error bold and
solid (as in every figure of a report), one line per kind of network, the spread over seeds as a band, the
published test error as a hollow diamond."""
from __future__ import annotations

import math
import statistics
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from matplotlib.ticker import FuncFormatter, NullLocator  # noqa: E402

from resdeep.report.figure import STYLE, TEST_LINE, TRAIN_LINE, config_title, error_key, figure_stem, save_figure  # noqa: E402
from resdeep.report.groups import ConfigGroup, Network  # noqa: E402
from resdeep.report.paper import paper_error  # noqa: E402
from resdeep.report.schedules import schedule_differences  # noqa: E402

# (depth, mean, lowest, highest) of one family's final errors, one tuple per depth.
Points = List[Tuple[int, float, float, float]]


def final_errors(network: Network, key: str) -> List[float]:
    """The seeds' last recorded train_error or test_error (diverged runs have none worth plotting)."""
    values = [run.records[-1].get(key) for run in network.runs if run.records and run.status != "diverged"]
    return [v for v in values if v is not None and math.isfinite(v)]


def family_points(networks: List[Network], key: str) -> Points:
    """Mean and range over seeds of a family's final error at each depth it has."""
    points = []
    for network in sorted(networks, key=lambda n: n.depth):
        values = final_errors(network, key)
        if values:
            points.append((network.depth, statistics.mean(values), min(values), max(values)))
    return points


def depth_groups(groups: List[ConfigGroup]) -> List[ConfigGroup]:
    """The configs whose runs differ in depth and have a final error: those get a depth figure."""
    return [g for g in groups if len({n.depth for n in g.networks if final_errors(n, "test_error")}) > 1]


def draw_depth_figures(groups: List[ConfigGroup], out: Path) -> List[Path]:
    """One error-against-depth figure (.png, .pdf, .svg) per config whose runs differ in depth; PNG paths first."""
    drawable = depth_groups(groups)
    paths: List[Path] = []
    for group in drawable:
        stem = out / figure_stem(group, len(drawable) == 1).replace("figure", "depth", 1)
        with plt.rc_context(STYLE):
            paths += save_figure(_draw(group), stem)
    return sorted(paths, key=lambda p: p.suffix != ".png")


def _draw(group: ConfigGroup):
    """A new figure: per family, training (dashed) and test (solid) error against depth with bands and paper marks."""
    figure, axis = plt.subplots(figsize=(7.6, 4.4), layout="constrained")  # room for the legends on the right
    compare = not schedule_differences(group.setup)
    lows: List[float] = []
    shown = {"band": False, "published": False, "diverged": False}  # the key lists only what the figure has
    labels = group.family_labels
    families_key = []
    for index, (family, networks) in enumerate(group.families.items()):
        colour = plt.get_cmap("tab10")(index % 10)
        families_key.append(Line2D([], [], color=colour, linewidth=2.2, label=labels[family]))
        for key, style in (("train_error", TRAIN_LINE), ("test_error", TEST_LINE)):
            points = family_points(networks, key)
            if not points:
                continue
            depths, means, low, high = zip(*points)
            axis.plot(depths, means, color=colour, marker="o", markersize=4, **style)
            if any(h > l for l, h in zip(low, high)):
                axis.fill_between(depths, low, high, color=colour, alpha=0.15, linewidth=0)
                shown["band"] = True
            lows += list(low)
        for network in networks:
            if network.runs and all(run.status == "diverged" for run in network.runs):
                axis.plot([network.depth], [100.0], "x", color=colour, markersize=9, markeredgewidth=2, clip_on=False)
                shown["diverged"] = True
        published = _published(group, networks) if compare else {}
        for depth, error in published.items():
            axis.plot([depth], [error], "D", markerfacecolor="none", markeredgecolor=colour, markersize=7)
            shown["published"] = True
    _scale_axes(axis, group, lows)
    axis.set_xlabel("depth (layers)")
    axis.set_ylabel("final error (%)")
    axis.set_title(f"{config_title(group)}\nerror against depth", fontsize=10)
    axis.grid(alpha=0.3, which="both")
    families = axis.legend(handles=families_key, loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8, title="network", title_fontsize=8)
    axis.add_artist(families)
    key = error_key()
    key += [Patch(color="grey", alpha=0.15, label="range over seeds")] if shown["band"] else []
    key += [Line2D([], [], color="grey", marker="D", markerfacecolor="none", linestyle="none", label="published test error")] if shown["published"] else []
    key += [Line2D([], [], color="grey", marker="x", markeredgewidth=2, linestyle="none", label="diverged (every seed)")] if shown["diverged"] else []
    axis.legend(handles=key, loc="lower left", bbox_to_anchor=(1.02, 0.0), fontsize=8)
    return figure


def _published(group: ConfigGroup, networks: List[Network]) -> Dict[int, float]:
    """{depth: the paper's test error} for the family's networks that have one."""
    found = {n.depth: paper_error(group.data, n.model) for n in networks}
    return {depth: error for depth, error in found.items() if error is not None}


def _scale_axes(axis, group: ConfigGroup, lows: List[float]) -> None:
    """Log depth when depths span a decade; log error above 1% when errors span more than 20x."""
    depths = sorted({n.depth for n in group.networks})
    if depths[-1] >= 8 * depths[0]:
        axis.set_xscale("log")
    axis.xaxis.set_minor_locator(NullLocator())  # only the depths that were run are marked
    axis.set_xticks(depths)
    axis.set_xticklabels([str(d) for d in depths])
    top = max(max(line.get_ydata()) for line in axis.get_lines()) if axis.get_lines() else 100.0
    bottom: Optional[float] = min((v for v in lows if v > 0), default=None)
    if bottom is not None and top / bottom > 20:
        # Linear below 1%, logarithmic above: 0.1% and 80% both read, and a zero error stays on the axis.
        axis.set_yscale("symlog", linthresh=1.0, linscale=0.6)
        axis.set_ylim(0, 100.0 if top > 40 else top * 1.5)
        axis.yaxis.set_minor_locator(NullLocator())
        axis.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))  # 0, 1, 10, 100 rather than 10^k
    else:
        axis.set_ylim(0, min(100.0, top * 1.1 + 1))
