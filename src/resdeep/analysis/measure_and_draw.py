"""Each analysis of `resdeep analyze <what>`: load the runs, measure, and return its CSV rows and figure (TensorBoard scalars too)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Dict, List

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from torch.utils.tensorboard import SummaryWriter  # noqa: E402

from resdeep.analysis.gradients import autocorrelation, block_gradient_norms, input_gradient_sweep, layer_gradient_norms  # noqa: E402
from resdeep.analysis.init_stats import activation_stats  # noqa: E402
from resdeep.analysis.landscape import loss_surface  # noqa: E402
from resdeep.analysis.lesion import lesion_errors  # noqa: E402
from resdeep.analysis.responses import layer_response_stds  # noqa: E402
from resdeep.compose import run_folder  # noqa: E402
from resdeep.engine.inference import LoadedRun, load_run  # noqa: E402
from resdeep.errors import UserError  # noqa: E402
from resdeep.models import model_id, network_kind  # noqa: E402
from resdeep.runs import read_run, survey  # noqa: E402
from resdeep.runs.layout import ANALYSIS_DIR, IDENTITY_FILE, TB_DIR  # noqa: E402

ANALYSES = {
    "responses": "std of each 3x3 layer's response on the test set, by layer and sorted (the paper's Figure 7)",
    "gradients": "per-layer and per-block gradient norms at initialisation and trained; shattered gradients along a 1-D input sweep",
    "init": "activation mean/std layer by layer in a deep plain stack: Xavier vs He, ReLU vs tanh",
    "lesion": "test error with each block deleted in turn (Veit et al. 2016)",
    "landscape": "loss along one or two filter-normalised random directions (Li et al. 2018)",
}
HELP = "usage: resdeep analyze <what> [RUN_DIR...] [overrides] [--out DIR] [options]\n\n" + "\n".join(
    f"  {name:<10} {text}" for name, text in ANALYSES.items()
) + """

Runs are given as folders (a run folder, or one holding several, e.g. outputs/demo) or as the overrides
that name a run, as for train (e.g. model=resnet56 data=cifar10). Output: <what>.png and <what>.csv in
RUN_DIR/analysis (or the runs' common folder, or --out), scalars under analysis/ in each run's TensorBoard.
options: --device auto|cpu|cuda  --images N (test images for responses/lesion, default all)
  --batches N (training batches, default 4)  --resolution N (landscape grid,
default 21)  --dims 1|2 (landscape)  --span X (landscape, default 1.0)  --depth N --width N (init)"""


def run_folders(positional: List[str]) -> List[Path]:
    """Run folders from folder arguments and from train-style overrides: every run with a checkpoint to analyse;
    the others (failed before training, not started, unreadable, no checkpoint yet) are named in one line."""
    # A sweep job's folder can hold '=' (…/seed0/recipe.lr=0.05): an existing folder is a folder, not an override.
    is_override = [("=" in p and not Path(p).is_dir()) for p in positional]
    folders = [Path(p) for p, override in zip(positional, is_override) if not override]
    overrides = [p for p, override in zip(positional, is_override) if override]
    missing = [str(f) for f in folders if not f.is_dir()]
    if missing:
        raise UserError(f"analyze: no such folder: {', '.join(missing)}")
    found = [run for folder in folders for run in survey(folder)]
    runs = [run.folder for run in found if run.identity is not None and run.checkpoint is not None]
    passed_over = [f"{run.folder} ({run.state}{', no checkpoint yet' if run.state in ('running', 'interrupted') else ''})"
                   for run in found if run.identity is None or run.checkpoint is None]
    if passed_over:
        print(f"analyze: {len(passed_over)} run(s) with no trained network to analyse, left out: {'; '.join(passed_over[:3])}"
              f"{' ...' if len(passed_over) > 3 else ''} (resdeep status shows why)")
    if overrides:
        folder = run_folder(overrides)
        if not (folder / IDENTITY_FILE).is_file():
            raise UserError(f"analyze: no run at {folder} (from {' '.join(overrides)}); train it first or give its folder")
        runs.append(folder.resolve())
    return runs


def load_trained_run(folder: Path, device: torch.device) -> LoadedRun:
    """The run in folder at its newest readable checkpoint, on `device`, with its data set built for evaluation."""
    return load_run(folder).with_data(device)


def output_folder(runs: List[Path], out: Path | None) -> Path:
    if out is not None:
        return out
    if not runs:
        return Path("outputs") / ANALYSIS_DIR
    if len(runs) == 1:
        return runs[0] / ANALYSIS_DIR
    return Path(os.path.commonpath([str(r) for r in runs])) / ANALYSIS_DIR


def run_labels(runs: List[Path]) -> Dict[Path, Dict]:
    """{folder: the run's CSV columns}: run (its legend label: the network, with the seed when several runs are of
    one network, and the folder's name when that still repeats), model, kind, seed, folder."""
    identities = {folder: read_run(folder).identity or {} for folder in runs}
    columns = {}
    for folder, identity in identities.items():
        model = model_id(identity["model"]) if identity.get("model") else folder.name
        columns[folder] = {"run": model, "model": model, "kind": network_kind(identity["model"]) if identity.get("model") else "",
                           "seed": identity.get("seed", ""), "folder": str(folder)}
    for extra in (lambda c, folder: f" seed {c['seed']}", lambda c, folder: f" ({folder.name})"):
        labels = [c["run"] for c in columns.values()]
        for folder, c in columns.items():
            if labels.count(c["run"]) > 1:
                c["run"] += extra(c, folder)
    return columns


def line_style(columns: Dict) -> str:
    """Plain nets dashed, every other kind solid, in every analysis figure."""
    return "--" if columns["kind"] == "plain" else "-"


def integer_ticks(*axes) -> None:
    """Layers, blocks and lags are counted: no tick at 2.5."""
    for axis in axes:
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))


class FirstImages:
    """The first `limit` images of an evaluation set (all of them when limit is None)."""

    def __init__(self, eval_set, limit):
        self.eval_set, self.limit = eval_set, limit

    def __iter__(self):
        seen = 0
        for images, labels in self.eval_set:
            if self.limit is not None and seen >= self.limit:
                return
            keep = len(labels) if self.limit is None else min(len(labels), self.limit - seen)
            seen += keep
            yield images[:keep], labels[:keep]


def test_images(run, options):
    return FirstImages(run.data.eval_sets["test"], options.images)


def tensorboard_scalars(run_folder: Path, tag: str, values: List[float]) -> None:
    """values[i] as tag at step i in the run's TensorBoard log, plus their histogram."""
    writer = SummaryWriter(str(run_folder / TB_DIR))
    for step, value in enumerate(values):
        writer.add_scalar(tag, value, step)
    writer.add_histogram(tag + "_histogram", torch.tensor(values), 0)
    writer.close()


def analyze_responses(runs, options, device) -> List[Dict]:

    rows, figure = [], plt.figure(figsize=(10, 4))
    by_index, by_rank = figure.add_subplot(1, 2, 1), figure.add_subplot(1, 2, 2)
    labels = run_labels(runs)
    for folder in runs:
        run, columns = load_trained_run(folder, device), labels[folder]
        stds = layer_response_stds(run.model, test_images(run, options))
        if not stds:
            raise UserError(f"analyze responses: {run.label} has no basic 3x3 blocks to measure (CIFAR nets with block=basic)")
        values = [std for _, std in stds]
        by_index.plot(range(1, len(values) + 1), values, line_style(columns), label=columns["run"])
        by_rank.plot(range(1, len(values) + 1), sorted(values, reverse=True), line_style(columns), label=columns["run"])
        rows += [{**columns, "layer_index": i + 1, "layer": name, "std": std} for i, (name, std) in enumerate(stds)]
        tensorboard_scalars(folder, "analysis/response_std", values)
    by_index.set(title="layer responses", xlabel="layer index (original)", ylabel="std")
    by_rank.set(title="sorted by magnitude", xlabel="layer index (sorted)", ylabel="std")
    integer_ticks(by_index, by_rank)
    for axis in (by_index, by_rank):
        axis.legend(fontsize=8), axis.grid(alpha=0.3)
    return rows, figure


def analyze_gradients(runs, options, device) -> List[Dict]:

    rows, (figure, axes) = [], plt.subplots(1, 4, figsize=(20, 4))
    labels = run_labels(runs)
    for folder in runs:
        run, columns = load_trained_run(folder, device), labels[folder]
        batches = [run.data.train.next_batch() for _ in range(options.batches)]
        initial = run.fresh_model(run.config.seed)
        style, label = line_style(columns), columns["run"]
        for when, model in (("init", initial), ("trained", run.model)):
            norms = layer_gradient_norms(model, batches)
            axes[0].semilogy([r["layer"] for r in norms], [r["grad_norm"] for r in norms], style, alpha=1.0 if when == "init" else 0.5, label=f"{label} ({when})")
            rows += [{**columns, "measure": f"grad_norm_{when}", "x": r["layer"], "value": r["grad_norm"]} for r in norms]
            if norms:  # a fully connected net has no conv layer
                tensorboard_scalars(folder, f"analysis/grad_norm_{when}", [r["grad_norm"] for r in norms])
            blocks = block_gradient_norms(model, batches)
            if blocks:
                tensorboard_scalars(folder, f"analysis/block_grad_norm_{when}", [r["grad_norm"] for r in blocks])
            axes[3].semilogy([r["block"] for r in blocks], [r["grad_norm"] for r in blocks], style, marker=".", alpha=1.0 if when == "init" else 0.5, label=f"{label} ({when})")
            rows += [{**columns, "measure": f"block_grad_norm_{when}", "x": r["block"], "value": r["grad_norm"]} for r in blocks]
        image = next(iter(run.data.eval_sets["test"]))[0][0]
        signal = input_gradient_sweep(initial, image)
        scale = max(abs(v) for v in signal) or 1.0
        axes[1].plot([v / scale for v in signal], style, linewidth=0.8, label=label)
        correlation = autocorrelation(signal)
        axes[2].plot(correlation, style, marker=".", label=label)
        rows += [{**columns, "measure": "input_gradient", "x": i, "value": v} for i, v in enumerate(signal)]
        rows += [{**columns, "measure": "autocorrelation", "x": lag, "value": v} for lag, v in enumerate(correlation)]
        tensorboard_scalars(folder, "analysis/gradient_autocorrelation", correlation)
    axes[0].set(title="weight-gradient norm by layer", xlabel="conv layer", ylabel="norm")
    axes[1].set(title="d logit / d input along a line (init)", xlabel="position along the line", ylabel="gradient (scaled)")
    axes[2].set(title="autocorrelation of that gradient", xlabel="lag", ylabel="correlation")
    axes[3].set(title="gradient norm of each block's parameters", xlabel="block", ylabel="norm")
    integer_ticks(*axes)
    for axis in axes:
        axis.legend(fontsize=7), axis.grid(alpha=0.3)
    return rows, figure


def analyze_init(runs, options, device) -> List[Dict]:

    rows, figure = [], plt.figure(figsize=(6, 4))
    axis = figure.add_subplot(1, 1, 1)
    for scheme in ("xavier", "he"):
        for activation in ("relu", "tanh"):
            stats = activation_stats(options.depth, options.width, scheme, activation)
            rows += [{"seed": 0, **r} for r in stats]  # activation_stats' default seed: the stack's weights and input
            axis.semilogy([r["layer"] for r in stats], [r["std"] for r in stats], "-" if scheme == "he" else "--", label=f"{scheme}, {activation}")
    axis.set(title=f"activation std in a {options.depth}-layer plain stack (no BN)", xlabel="layer", ylabel="std")
    integer_ticks(axis)
    axis.legend(), axis.grid(alpha=0.3)
    return rows, figure


def analyze_lesion(runs, options, device) -> List[Dict]:

    rows, figure = [], plt.figure(figsize=(7, 4))
    axis = figure.add_subplot(1, 1, 1)
    labels = run_labels(runs)
    for folder in runs:
        run, columns = load_trained_run(folder, device), labels[folder]
        errors = lesion_errors(run.model, test_images(run, options))
        baseline, lesions = errors[0]["test_error"], errors[1:]
        line = axis.plot([r["deleted_block"] for r in lesions], [r["test_error"] for r in lesions], line_style(columns), marker=".", label=columns["run"])
        axis.axhline(baseline, color=line[0].get_color(), linewidth=0.8, alpha=0.5)
        rows += [{**columns, **r} for r in errors]
        tensorboard_scalars(folder, "analysis/lesion_test_error", [r["test_error"] for r in lesions])
    axis.set(title="deleting one block at test time (thin lines: nothing deleted)", xlabel="deleted block", ylabel="test error (%)")
    integer_ticks(axis)
    axis.legend(fontsize=8), axis.grid(alpha=0.3)
    return rows, figure


def analyze_landscape(runs, options, device) -> List[Dict]:

    rows = []
    figure, axes = plt.subplots(1, len(runs), figsize=(5 * len(runs), 4), squeeze=False)
    labels = run_labels(runs)
    for axis, folder in zip(axes[0], runs):
        run, columns = load_trained_run(folder, device), labels[folder]
        batches = [run.data.train.next_batch() for _ in range(options.batches)]
        surface = loss_surface(run.model, batches, options.resolution, options.dims, options.span)
        rows += [{**columns, **r} for r in surface]
        losses = [r["loss"] for r in surface]
        if options.dims == 1:
            axis.plot([r["alpha"] for r in surface], losses)
            axis.set(xlabel="alpha", ylabel="training loss")
        else:
            grid = torch.tensor(losses).view(options.resolution, options.resolution)
            steps = torch.linspace(-options.span, options.span, options.resolution)
            contour = axis.contour(steps, steps, grid.log10(), levels=20)
            figure.colorbar(contour, ax=axis, label="log10 loss")
            axis.set(xlabel="alpha", ylabel="beta")
        axis.set_title(f"{columns['run']}: loss landscape")
        axis.grid(alpha=0.3)
        tensorboard_scalars(folder, "analysis/landscape_loss", losses)
    return rows, figure


HANDLERS = {"responses": analyze_responses, "gradients": analyze_gradients, "init": analyze_init,
            "lesion": analyze_lesion, "landscape": analyze_landscape}
