"""The analyses reproduce known effects on tiny networks and the built-in data set."""
import csv
import json
import math

import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from conftest import in_process, resdeep
from resdeep.analysis.gradients import autocorrelation, input_gradient_sweep, layer_gradient_norms
from resdeep.analysis.init_stats import activation_stats
from resdeep.analysis.landscape import filter_normalised_direction, loss_surface
from resdeep.analysis.lesion import lesion_errors
from resdeep.analysis.responses import layer_response_stds, response_layers
from resdeep.config import SyntheticDataConfig
from resdeep.models import model_config
from resdeep.data import build_data
from resdeep.models import build_model

CPU = torch.device("cpu")


def tiny_data():
    return build_data(SyntheticDataConfig(train_size=256, test_size=128), 32, 64, CPU, seed=0)


def test_he_init_keeps_relu_activations_while_xavier_shrinks_them():
    he = activation_stats(depth=20, width=32, scheme="he", activation="relu")
    xavier = activation_stats(depth=20, width=32, scheme="xavier", activation="relu")
    assert 0.3 < he[-1]["std"] / he[0]["std"] < 3
    assert xavier[-1]["std"] / xavier[0]["std"] < 0.01  # about (1/2)^(19/2)


def test_deleting_a_block_whose_branch_is_zero_changes_nothing():
    torch.manual_seed(0)
    model = build_model(model_config("cifar", depth=14)).eval()
    silent = model.blocks[1]
    torch.nn.init.zeros_(silent.bn2.weight), torch.nn.init.zeros_(silent.bn2.bias)
    rows = lesion_errors(model, tiny_data().eval_sets["test"])
    baseline = rows[0]["test_error"]
    assert rows[2]["deleted_block"] == 1 and rows[2]["test_error"] == baseline
    assert len(rows) == 1 + len(model.blocks)


def test_a_plain_net_can_be_lesioned_too():
    model = build_model(model_config("cifar", depth=14, shortcut="none")).eval()
    rows = lesion_errors(model, tiny_data().eval_sets["test"])
    assert [r["deleted_block"] for r in rows] == list(range(-1, 6))


def test_filter_normalisation_gives_each_direction_filter_its_weight_filters_norm():
    model = build_model(model_config("cifar", depth=8))
    direction = filter_normalised_direction(model, torch.Generator().manual_seed(0))
    for parameter, d in zip(model.parameters(), direction):
        if parameter.dim() <= 1:
            assert torch.count_nonzero(d) == 0  # BN and biases are not perturbed
        else:
            assert torch.allclose(d.flatten(1).norm(dim=1), parameter.flatten(1).norm(dim=1), rtol=1e-4)


def test_loss_surface_centre_is_the_models_own_loss():
    data = tiny_data()
    model = build_model(model_config("cifar", depth=8))
    batches = [data.train.next_batch()]
    rows = loss_surface(model, batches, resolution=5, dims=1)
    assert [r["alpha"] for r in rows] == [-1.0, -0.5, 0.0, 0.5, 1.0]
    model.train()
    with torch.no_grad():
        expected = torch.nn.functional.cross_entropy(model(batches[0][0]), batches[0][1]).item()
    assert math.isclose(rows[2]["loss"], expected, rel_tol=1e-5)
    assert len(loss_surface(model, batches, resolution=3, dims=2)) == 9


def test_responses_are_measured_after_bn_for_every_3x3_layer():
    model = build_model(model_config("cifar", depth=14)).eval()
    assert len(response_layers(model)) == 1 + 2 * 6
    data = tiny_data()
    stds = layer_response_stds(model, data.eval_sets["test"])
    images = torch.cat([x for x, _ in data.eval_sets["test"]])
    with torch.no_grad():
        direct = model.bn1(model.conv1(images)).std(unbiased=False).item()
    assert math.isclose(stds[0][1], direct, rel_tol=1e-4)


def test_gradient_tools():
    model = build_model(model_config("cifar", depth=8))
    data = tiny_data()
    norms = layer_gradient_norms(model, [data.train.next_batch()])
    assert len(norms) == sum(isinstance(m, torch.nn.Conv2d) for m in model.modules()) and all(r["grad_norm"] > 0 for r in norms)
    signal = input_gradient_sweep(model, data.train.next_batch()[0][0], points=64)
    assert len(signal) == 64
    noise = torch.randn(4000, generator=torch.Generator().manual_seed(0)).tolist()
    smooth = [math.sin(i / 20) for i in range(4000)]
    assert abs(autocorrelation(noise)[1]) < 0.05 and autocorrelation(smooth)[1] > 0.99


def test_every_analysis_runs_from_the_command_line_on_a_trained_run(tmp_path):
    trained = in_process("train", "data=synthetic", "data.train_size=256", "data.test_size=64", "model=resnet20", "model.depth=8",
                      "recipe=smoke", "recipe.max_iters=10", "trainer.eval_every=10", "trainer.log_every=5", "trainer.device=cpu",
                      "trainer.progress=off", "trainer.log_grad_norms=true", f"out_dir={tmp_path}")
    assert trained.returncode == 0, trained.stderr
    run = tmp_path / "default" / "synthetic" / "resnet8" / "seed0"
    for what, extra in (("responses", []), ("lesion", ["--images", "32"]), ("gradients", ["--batches", "1"]),
                        ("landscape", ["--resolution", "3", "--batches", "1"])):
        done = in_process("analyze", what, run, *extra)
        assert done.returncode == 0, done.stderr
        assert (run / "analysis" / f"{what}.png").is_file()
        with open(run / "analysis" / f"{what}.csv") as stream:
            assert len(list(csv.DictReader(stream))) > 0
    by_overrides = in_process("analyze", "responses", "model=resnet20", "model.depth=8", "data=synthetic", f"out_dir={tmp_path}", "--out", tmp_path / "o")
    assert by_overrides.returncode == 0 and (tmp_path / "o" / "responses.png").is_file(), by_overrides.stderr
    events = EventAccumulator(str(run / "tb"))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert {"analysis/response_std", "analysis/lesion_test_error", "analysis/landscape_loss"} <= tags
    assert "grad_norm/blocks.0.conv1.weight" in tags  # logged during training with trainer.log_grad_norms=true
    init = in_process("analyze", "init", "--depth", "8", "--width", "8", "--out", tmp_path / "init")
    assert init.returncode == 0 and (tmp_path / "init" / "init.csv").is_file()
    unknown = in_process("analyze", "nonsense")
    assert unknown.returncode == 2 and "choose one of: responses" in unknown.stderr
    # One real process for the one-line error: no traceback may reach the terminal.
    missing = resdeep("analyze", "lesion", tmp_path / "nowhere")
    assert missing.returncode == 2 and "no such folder" in missing.stderr and "Traceback" not in missing.stderr


def test_a_sweep_job_folder_with_an_equals_sign_is_a_folder_not_an_override(tmp_path):
    from resdeep.analysis.measure_and_draw import run_folders

    job = tmp_path / "default" / "synthetic" / "resnet8" / "seed0" / "recipe.lr=0.05"
    job.mkdir(parents=True)
    (job / "run.json").write_text(json.dumps({"model": {"family": "cifar", "depth": 8}, "data": {"name": "synthetic"}, "recipe": {"name": "smoke", "lr": 0.05}, "seed": 0}))
    (job / "checkpoints").mkdir()
    (job / "checkpoints" / "iter_00000010.pt").write_bytes(b"")
    assert run_folders([str(job)]) == [job.resolve()]


def test_runs_with_no_trained_network_are_left_out_in_one_line(tmp_path, capsys):
    from resdeep.analysis.measure_and_draw import run_folders

    started = tmp_path / "default" / "synthetic" / "resnet8" / "seed0"
    started.mkdir(parents=True)
    (started / "run.json").write_text(json.dumps({"model": {"family": "cifar", "depth": 8}, "data": {"name": "synthetic"}, "recipe": {"name": "smoke"}, "seed": 0}))
    failed = tmp_path / "default" / "cifar10" / "resnet8" / "seed0"
    failed.mkdir(parents=True)
    (failed / "error.log").write_text("CIFAR-10 not found\n")
    assert run_folders([str(tmp_path)]) == []
    said = capsys.readouterr().out
    assert said.count("\n") == 1 and "2 run(s) with no trained network to analyse, left out" in said
    assert f"{failed} (failed)" in said and f"{started} (interrupted, no checkpoint yet)" in said


def test_analyses_tell_the_seeds_of_one_network_apart_in_their_csv_and_legend(tmp_path):
    import argparse

    import matplotlib.pyplot as plt

    from resdeep.analysis.measure_and_draw import analyze_lesion, run_folders

    for seed in (0, 1):
        trained = in_process("train", "data=synthetic", "data.train_size=64", "data.test_size=32", "model=plain20", "model.depth=8",
                             "model.width=4", "recipe=smoke", "recipe.batch_size=16", "recipe.max_iters=5", "trainer.eval_every=5",
                             "trainer.log_every=5", "trainer.device=cpu", "trainer.progress=off", f"seed={seed}", f"out_dir={tmp_path}")
        assert trained.returncode == 0, trained.stderr
    done = in_process("analyze", "lesion", tmp_path / "default", "--images", "16")
    assert done.returncode == 0, done.stderr
    with open(tmp_path / "default" / "synthetic" / "plain8-w4" / "analysis" / "lesion.csv") as stream:
        rows = list(csv.DictReader(stream))
    assert {"run", "model", "kind", "seed", "folder"} <= set(rows[0])
    baselines = sorted((r["run"], r["seed"], r["model"], r["kind"]) for r in rows if r["deleted_block"] == "-1")
    assert baselines == [("plain8-w4 seed 0", "0", "plain8-w4", "plain"), ("plain8-w4 seed 1", "1", "plain8-w4", "plain")]
    runs = run_folders([str(tmp_path / "default")])
    _, figure = analyze_lesion(runs, argparse.Namespace(images=16), CPU)
    assert [text.get_text() for text in figure.axes[0].get_legend().get_texts()] == ["plain8-w4 seed 0", "plain8-w4 seed 1"]
    plt.close(figure)
    init = in_process("analyze", "init", "--depth", "4", "--width", "4", "--out", tmp_path / "init")
    with open(tmp_path / "init" / "init.csv") as stream:
        assert {row["seed"] for row in csv.DictReader(stream)} == {"0"}  # the random stack's seed: no run behind it
