"""The Figure 6 layout: one panel per family, train error dashed and thin, test error solid and bold."""
from __future__ import annotations

from pathlib import Path
from typing import List

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

from resdeep.report.curves import group_runs, mean_curve  # noqa: E402
from resdeep.report.runs import Run  # noqa: E402

FAMILY_TITLES = {"plain": "plain networks", "resnet": "ResNets (residual)"}


def draw_figure(runs: List[Run], out_stem: Path) -> List[Path]:
    """Write <stem>.png and <stem>.svg; returns their paths."""
    groups = group_runs([run for run in runs if run.records])
    if not groups:
        return []
    depths = sorted({run.depth for run in runs})
    colours = {depth: plt.get_cmap("tab10")(index % 10) for index, depth in enumerate(depths)}
    several_datasets = len({data for data, _ in groups}) > 1
    figure, axes = plt.subplots(1, len(groups), figsize=(5.2 * len(groups), 4.2), squeeze=False, sharey=True)
    top = 0.0
    for axis, ((data, family), models) in zip(axes[0], groups.items()):
        for model, model_runs in models.items():
            depth = model_runs[0].depth
            seeds = f" ({len(model_runs)} seeds)" if len(model_runs) > 1 else ""
            label = f"{family}-{depth}{seeds}"
            for key, style, width in (("train_error", "--", 1.0), ("test_error", "-", 2.2)):
                iterations, values = mean_curve(model_runs, key)
                if iterations:
                    axis.plot(iterations, values, style, color=colours[depth], linewidth=width, label=label if key == "test_error" else None)
                    top = max(top, max(values))
        title = FAMILY_TITLES.get(family, family)
        axis.set_title(f"{data}: {title}" if several_datasets or data != "cifar10" else title)
        axis.set_xlabel("iterations")
        axis.grid(alpha=0.3)
        if axis.get_legend_handles_labels()[0]:
            axis.legend(loc="best", fontsize=8, title="depth (bold: test)", title_fontsize=8)
    axes[0][0].set_ylabel("error (%)")
    axes[0][0].set_ylim(0, min(100, top * 1.08 + 1))
    style_key = [Line2D([], [], color="grey", linestyle="--", linewidth=1.0, label="train error"),
                 Line2D([], [], color="grey", linestyle="-", linewidth=2.2, label="test error")]
    figure.legend(handles=style_key, loc="lower center", ncol=2, fontsize=9, frameon=False)
    figure.tight_layout(rect=(0, 0.06, 1, 1))
    paths = [out_stem.with_suffix(".png"), out_stem.with_suffix(".svg")]
    for path in paths:
        figure.savefig(path, dpi=130)
    plt.close(figure)
    return paths
