"""MNIST on a CPU: the highway paper's fully connected nets, the teaching ResNet, and error against depth."""
import csv
import json
import re

import pytest
import torch

from conftest import copy_shared, in_process
from resdeep.analysis.gradients import block_gradient_norms
from resdeep.compose import load_config
from resdeep.config import Config, DataConfig, RecipeConfig
from resdeep.engine.job import run_identity
from resdeep.errors import UserError
from resdeep.models import build_model, model_config, model_id
from resdeep.models.fully_connected import HighwayLayer, ResidualLayer
from resdeep.models.summary import count_params, summarize
from resdeep.report.depth_figure import _draw, depth_groups, family_points
from resdeep.report.groups import group_runs
from resdeep.report.runs import scan_runs
from resdeep.report.write import write_report

# Fleuret's teaching ResNet for MNIST (shared docs/FAMILIES.md): exact counts with and without BatchNorm, with the
# lecture net's 1x1 stem (the 30-block variant's 55,930 too; its preset now has the gradient-study code's stem).
PUBLISHED_PARAMS = {"mnist_resnet": 117_802, "mnist_resnet62_w10": 55_930}
WITHOUT_BN = {"mnist_resnet": 116_202}


def preset(name, *overrides):
    return load_config([f"model={name}", "data=mnist", *overrides]).model


@pytest.mark.parametrize("name", sorted(PUBLISHED_PARAMS))
def test_teaching_resnets_have_their_published_parameter_counts(name):
    lecture_stem = "model.stem=conv1x1"
    assert count_params(build_model(preset(name, lecture_stem), 1, 10)) == PUBLISHED_PARAMS[name]
    if name in WITHOUT_BN:
        assert count_params(build_model(preset(name, lecture_stem, "model.norm=none"), 1, 10)) == WITHOUT_BN[name]
    # Skips add no parameters.
    assert count_params(build_model(preset(name, lecture_stem, "model.shortcut=none"), 1, 10)) == PUBLISHED_PARAMS[name]


def test_the_gradient_study_net_has_the_course_codes_3x3_stem_with_batchnorm_even_without_bn_in_the_blocks():
    # Fleuret's gradient-study code: conv 3x3 (bias) + BN + ReLU before 30 blocks of 10 channels, where the lecture
    # net has a 1x1 conv + ReLU: 55,930 - (10 + 10) + (9 * 10 + 10) + 2 * 10 = 56,030 parameters on MNIST.
    study = build_model(preset("mnist_resnet62_w10"), 1, 10)
    assert study.conv0.kernel_size == (3, 3) and study.conv0.padding == (1, 1) and isinstance(study.bn0, torch.nn.BatchNorm2d)
    assert count_params(study) == 55_930 - 20 + 100 + 20 == 56_030
    without_bn = build_model(preset("mnist_resnet62_w10", "model.norm=none"), 1, 10)  # the blocks lose theirs, not the stem
    assert isinstance(without_bn.bn0, torch.nn.BatchNorm2d) and count_params(without_bn) == 56_030 - 30 * 2 * 20
    x = torch.randn(2, 1, 28, 28)
    with torch.no_grad():
        study.eval()
        stem = torch.relu(study.bn0(study.conv0(x)))
        assert torch.allclose(study(x), study.fc(torch.relu(study.blocks(stem).mean((2, 3)))), atol=1e-6)
    lecture = build_model(preset("mnist_resnet62_w10", "model.stem=conv1x1"), 1, 10)
    assert lecture.conv0.kernel_size == (1, 1) and lecture.bn0 is None


def test_summary_counts_the_teaching_resnets_macs():
    rows = summarize(build_model(preset("mnist_resnet"), 1, 10), (1, 28, 28))
    # 1x1 conv0 (1->16) at 28x28, 50 3x3 convs 16->16 at 28x28, fc 16->10.
    assert sum(row.macs for row in rows) == 28 * 28 * 16 + 50 * 28 * 28 * 16 * 16 * 9 + 16 * 10


@pytest.mark.parametrize("shortcut, width, per_layer", [("none", 71, 71 * 71 + 71), ("highway", 50, 2 * (50 * 50 + 50)), ("residual", 71, 71 * 71 + 71)])
@pytest.mark.parametrize("depth", [10, 100])
def test_fc_nets_have_about_5000_parameters_a_layer(shortcut, width, per_layer, depth):
    model = build_model(model_config("fc", depth=depth, shortcut=shortcut), 1, 10)
    # One plain layer from the 784 pixels, depth-1 layers of the kind, the 10-way classifier (Srivastava et al. Fig. 1).
    assert count_params(model) == (784 * width + width) + (depth - 1) * per_layer + (width * 10 + 10)
    assert abs(per_layer - 5000) < 150
    assert len(model.blocks) == depth - 1
    assert model(torch.zeros(3, 1, 28, 28)).shape == (3, 10)


def test_highway_and_residual_layers_compute_their_formulas():
    torch.manual_seed(0)
    x = torch.randn(4, 50)
    highway = build_model(model_config("fc", depth=2, shortcut="highway"), 1, 10).blocks[0]
    assert isinstance(highway, HighwayLayer) and torch.all(highway.gate.bias == -4.0)  # the fc family's default
    gate = torch.sigmoid(x @ highway.gate.weight.T - 4.0)
    transform = torch.relu(x @ highway.transform.weight.T)
    assert torch.allclose(highway(x), transform * gate + x * (1 - gate), atol=1e-6)
    tanh_gate = build_model(model_config("fc", depth=2, shortcut="highway", gate_bias=-1.0, activation="tanh"), 1, 10).blocks[0]
    assert torch.all(tanh_gate.gate.bias == -1.0)
    residual = build_model(model_config("fc", depth=2, shortcut="residual", width=50), 1, 10).blocks[0]
    assert isinstance(residual, ResidualLayer)
    assert torch.allclose(residual(x), x + torch.relu(x @ residual.linear.weight.T + residual.linear.bias), atol=1e-6)


def test_run_names_say_the_kind_and_depth():
    assert model_id(model_config("fc", depth=50, shortcut="none")) == "plain-fc50"
    assert model_id(model_config("fc", depth=100, shortcut="highway", gate_bias=-2.0, activation="tanh")) == "highway-fc100-tanh-gate-2"
    assert model_id(model_config("fc", depth=20, shortcut="residual", init="he")) == "residual-fc20-he"
    assert model_id(preset("mnist_resnet")) == "mnist-resnet52"
    assert model_id(preset("mnist_resnet62_w10", "model.shortcut=none", "model.norm=none")) == "mnist-plain62-nobn-w10-stem3x3"
    assert model_id(preset("mnist_resnet62_w10", "model.stem=conv1x1")) == "mnist-resnet62-w10"


def test_without_skips_and_batchnorm_the_gradient_vanishes_toward_the_input():
    torch.manual_seed(0)
    batch = [(torch.randn(16, 1, 28, 28), torch.randint(0, 10, (16,)))]
    ratios = {}
    for shortcut in ("identity", "none"):
        torch.manual_seed(0)
        model = build_model(model_config("mnist_resnet", depth=22, width=4, shortcut=shortcut, norm="none"), 1, 10)
        norms = [r["grad_norm"] for r in block_gradient_norms(model, batch)]
        assert len(norms) == 10
        ratios[shortcut] = norms[0] / norms[-1]
    assert ratios["identity"] > 0.1 and ratios["none"] < 1e-3  # Fleuret's course: skips keep the first blocks learning


def test_a_gate_bias_without_highway_layers_stops_at_start_up(tmp_path):
    done = in_process("train", "model=fc_plain", "model.gate_bias=-2", "data=mnist", f"out_dir={tmp_path}/out")
    assert done.returncode == 2 and done.stderr.strip().splitlines() == [done.stderr.strip()], done.stderr
    assert done.stderr.startswith("resdeep: error: model.gate_bias=-2 needs highway layers") and "Traceback" not in done.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("overrides, says", [
    (["model=fc_plain", "model.activation=sigmoid"], "model.activation='sigmoid' is not valid for the fc family; choose one of: relu, tanh"),
    (["model=fc_residual", "model.depth=0"], "model.depth=0 must be at least 1"),
    (["model=mnist_resnet", "model.depth=51"], "model.depth=51 is not 2*blocks+2"),
    (["model=mnist_resnet", "model.norm=group"], "model.norm='group' is not valid for mnist_resnet; choose one of: batch, none"),
])
def test_impossible_options_are_named_with_what_is_allowed(overrides, says):
    with pytest.raises(UserError, match=re.escape(says)):
        load_config([*overrides, "data=mnist"])


def test_highway_mnist_experiment_is_the_papers_grid():
    cfg = load_config(["+experiment=highway_mnist", "model=fc_highway"])
    assert cfg.data.name == "mnist" and cfg.recipe.name == "highway_mnist" and cfg.model.init == "he"
    # Exponential decay as a staircase: x0.8 after every epoch.
    assert cfg.recipe.lr_factor == 0.8 and cfg.recipe.milestone_epochs == list(range(1, int(cfg.recipe.epochs)))
    from hydra import compose, initialize_config_dir
    from resdeep.presets import config_dir

    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        sweep = compose("config", overrides=["+experiment=highway_mnist"], return_hydra_config=True).hydra.sweeper.params
    assert sweep["model"] == "fc_plain,fc_highway,fc_residual" and sweep["model.depth"] == "10,20,50,100"


def tiny_mnist(root, out, *extra, iters=20):
    return ["train", "data=mnist", f"data.root={root}", "recipe=highway_mnist", "recipe.epochs=null", "recipe.milestone_epochs=[]",
            f"recipe.max_iters={iters}", "recipe.milestones=[10]", "recipe.batch_size=16", "trainer.log_every=5",
            "trainer.eval_every=10", "trainer.checkpoint_every=10", "trainer.eval_batch_size=5000", "trainer.device=cpu",
            "trainer.progress=off", f"out_dir={out}", *extra]


def test_both_mnist_families_train_resume_bitwise_and_show_each_blocks_gradient(tmp_path):
    root = copy_shared(tmp_path, "mnist")
    nets = ["model=fc_highway,mnist_resnet", "model.depth=4", "model.width=4"]
    for out, iters in (("straight", 20), ("resumed", 10), ("resumed", 20)):
        done = in_process("train", "-m", *tiny_mnist(root, tmp_path / out, *nets, iters=iters)[1:])
        assert done.returncode == 0, done.stderr
    for name in ("highway-fc4-w4", "mnist-resnet4-w4"):
        folders = [tmp_path / out / "default" / "mnist" / name / "seed0" for out in ("straight", "resumed")]
        weights = [torch.load(f / "checkpoints" / "iter_00000020.pt", weights_only=False)["model"] for f in folders]
        assert all(torch.equal(weights[0][key], weights[1][key]) for key in weights[0]), f"{name}: resumed weights must be bitwise equal"
        assert json.loads((folders[0] / "result.json").read_text())["status"] == "finished"
    assert json.loads((folders[0].parent.parent / "highway-fc4-w4" / "seed0" / "result.json").read_text())["final_test_error"] < 90
    from resdeep.commands.analyze import run_analyze_command  # in-process: the same command, without a second start-up

    assert run_analyze_command(["gradients", str(tmp_path / "straight" / "default"), "--batches", "1"]) == 0
    with open(tmp_path / "straight" / "default" / "mnist" / "analysis" / "gradients.csv") as handle:
        rows = [r for r in csv.DictReader(handle) if r["measure"].startswith("block_grad_norm")]
    blocks = {(r["run"], r["measure"]): [] for r in rows}
    for r in rows:
        blocks[(r["run"], r["measure"])].append(int(r["x"]))
    # One row per block: 3 highway layers after the first plain one; 1 residual block in a 4-layer teaching ResNet.
    expected = {("highway-fc4-w4", 3), ("mnist-resnet4-w4", 1)}
    assert blocks == {(run, f"block_grad_norm_{when}"): list(range(1, count + 1)) for run, count in expected for when in ("init", "trained")}
    assert all(float(r["value"]) > 0 for r in rows)


def fake_fc_run(root, shortcut, depth, seed, train, test):
    """A finished run folder of the highway_mnist experiment, as the engine writes it."""
    recipe = RecipeConfig(name="highway_mnist", max_iters=100, milestones=[])
    config = Config(model=model_config("fc", depth=depth, shortcut=shortcut), data=DataConfig(name="mnist", root="data/mnist"), recipe=recipe, seed=seed)
    folder = root / "highway_mnist" / "mnist" / model_id(config.model) / f"seed{seed}"
    (folder / ".hydra").mkdir(parents=True)
    (folder / "run.json").write_text(json.dumps(run_identity(config)))
    (folder / ".hydra" / "config.yaml").write_text("name: highway_mnist\nrecipe:\n  name: highway_mnist\n  max_iters: 100\n")
    record = {"iteration": 100, "train_error": train, "test_error": test, "train_loss": 1.0, "test_loss": 1.0, "lr": 0.01}
    (folder / "metrics.jsonl").write_text(json.dumps(record) + "\n")
    (folder / "result.json").write_text(json.dumps({"status": "finished", "diverged": False, "iterations": 100, "max_iters": 100,
                                                    "params": 0, "final_test_error": test}))


def test_report_draws_error_against_depth_one_line_per_family_with_the_seed_range(tmp_path):
    errors = {("none", 10): [(2.0, 3.0), (4.0, 5.0)], ("none", 50): [(60.0, 61.0), (80.0, 81.0)],
              ("highway", 10): [(1.0, 2.0), (1.0, 2.0)], ("highway", 50): [(1.5, 2.5), (2.5, 3.5)]}
    for (shortcut, depth), seeds in errors.items():
        for seed, (train, test) in enumerate(seeds):
            fake_fc_run(tmp_path / "runs", shortcut, depth, seed, train, test)
    written = write_report([tmp_path / "runs"], tmp_path / "report")
    assert [p.name for p in written["depth_figures"]] == ["depth.png", "depth.pdf", "depth.svg"]
    assert all(p.stat().st_size > 0 for p in written["depth_figures"])
    assert "## Error against depth" in written["report"].read_text() and "![depth](depth.png)" in written["report"].read_text()
    group = depth_groups(group_runs(scan_runs([tmp_path / "runs"])[0]))[0]
    assert set(group.families) == {"plain-fc", "highway-fc"}
    # Mean and range over the two seeds, worked by hand.
    assert family_points(group.families["plain-fc"], "train_error") == [(10, 3.0, 2.0, 4.0), (50, 70.0, 60.0, 80.0)]
    assert family_points(group.families["highway-fc"], "test_error") == [(10, 2.0, 2.0, 2.0), (50, 3.0, 2.5, 3.5)]
    svg = (tmp_path / "report" / "depth.svg").read_text()
    # The legend names the kind of network (network_kind), not the family's folder name.
    assert ">plain</text>" in svg and ">highway</text>" in svg and "range over seeds" in svg and "depth (layers)" in svg
    assert "published test error" not in svg  # MNIST has no paper number: the key lists only what is drawn


def test_no_depth_figure_when_runs_share_one_depth(tmp_path):
    fake_fc_run(tmp_path / "runs", "none", 10, 0, 2.0, 3.0)
    fake_fc_run(tmp_path / "runs", "highway", 10, 0, 1.0, 2.0)
    written = write_report([tmp_path / "runs"], tmp_path / "report")
    assert written["depth_figures"] == [] and "Error against depth" not in written["report"].read_text()


def test_published_errors_are_marked_where_runs_follow_the_papers_schedule(tmp_path):
    from test_report import fake_run

    for depth, final in ((20, (9.0, 9.5)), (56, (6.0, 7.5))):
        fake_run(tmp_path, "cifar10", depth, "A", 0, [(20, 22), final], max_iters=64000)
    group = depth_groups(group_runs(scan_runs([tmp_path])[0]))[0]
    figure = _draw(group)
    diamonds = sorted((line.get_xdata()[0], line.get_ydata()[0]) for line in figure.axes[0].get_lines() if line.get_marker() == "D" and len(line.get_xdata()))
    assert diamonds == [(20, 8.75), (56, 6.97)]  # He et al. Table 6
