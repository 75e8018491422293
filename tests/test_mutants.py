"""Tests that kill mutants `make mutation` found surviving (docs/testing.md lists them)."""
import json
import math
import pickle
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from conftest import fast_path, in_process, sigterm_at_step
from resdeep.data.arrays import ImageArrays
from resdeep.data.device_loader import DeviceLoader, Normalizer, augment_batch
from resdeep.config import TrainerConfig
from resdeep.engine.checkpoint import load_checkpoint_file, load_latest_checkpoint, save_checkpoint
from resdeep.engine.fast_path import FastPath, autocast_context, resolve_fast_path
from resdeep.engine.optim import make_optimizer, set_learning_rate
from resdeep.engine.train_step import changes_per_step, make_train_step
from resdeep.config import RecipeConfig
from resdeep.engine.schedule import ScheduleState, end_warmup_if_ready, in_iterations, iterations_per_epoch, update_plateau
from resdeep.errors import UserError
from resdeep.models import build_model, model_config
from resdeep.models.blocks import Bottleneck
from resdeep.models.parts import Parts
from resdeep.models.weight_init import init_weights
from resdeep.models.summary import count_params
from resdeep.report.paper import paper_error


def test_an_epoch_is_the_number_of_full_batches_in_the_training_set():
    # CIFAR-10's 50,000 images in batches of 128: 390 full batches (the 80 left over start the next epoch).
    assert iterations_per_epoch(50_000, 128) == 390
    assert iterations_per_epoch(45_000, 128) == 351
    assert iterations_per_epoch(255, 128) == 1 and iterations_per_epoch(128, 128) == 1  # one batch: one iteration
    assert iterations_per_epoch(256, 128) == 2


# Survivors of `make mutation` in report/paper.py, models/blocks.py and engine/checkpoint.py (docs/testing.md).



def test_the_paper_column_is_empty_for_a_data_set_the_papers_never_used():
    assert paper_error("cifar10", "resnet110") == 6.43 and paper_error("imagenet", "resnet34") == 25.03
    assert paper_error("synthetic", "resnet20") is None and paper_error("cifar10", "plain20") is None


def test_a_preact_net_downsamples_and_its_projections_see_the_pre_activated_input():
    torch.manual_seed(0)
    # Option B adds a 1x1 projection and its BN at both widenings: 16*32 + 2*32 and 32*64 + 2*64 parameters.
    model = build_model(model_config("cifar", depth=20, block="preact", shortcut="B")).eval()
    assert count_params(model) == 269_722 + (16 * 32 + 64) + (32 * 64 + 128)
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)  # 32 -> 16 -> 8 pixels, or the additions fail
    block = model.blocks[3]  # the first block of the second stage: stride 2, 16 -> 32 channels
    for bn in (block.bn1, block.bn2):
        bn.running_mean.uniform_(-1, 1)
        bn.running_var.uniform_(0.5, 2)
    x = torch.randn(1, 16, 8, 8)
    pre = torch.relu(block.bn1(x))
    branch = block.conv2(torch.relu(block.bn2(block.conv1(pre))))
    assert branch.shape == (1, 32, 4, 4)
    assert torch.allclose(block(x), branch + block.shortcut(pre), atol=1e-6)


def test_a_bottleneck_adds_its_identity_after_the_branch_and_strides_its_first_1x1_by_default():
    torch.manual_seed(0)
    block = Bottleneck(64, 16, 64, 1, Parts(shortcut="A")).eval()
    x = torch.randn(1, 64, 8, 8)
    branch = block.bn3(block.conv3(torch.relu(block.bn2(block.conv2(torch.relu(block.bn1(block.conv1(x))))))))
    assert torch.allclose(block(x), torch.relu(branch + x), atol=1e-6)
    assert Bottleneck(64, 16, 64, 2, Parts(shortcut="B")).conv1.stride == (2, 2)  # the paper's Table 1 net (stride_on_3x3 is the option)


def test_another_models_checkpoint_names_the_first_tensor_only_one_side_has_and_at_most_three_differences(tmp_path):
    ours = nn.Sequential(nn.Linear(4, 4))
    theirs = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 2))  # adds "1.bias" and "1.weight"
    save_checkpoint(tmp_path, 10, {"iteration": 10, "model": theirs.state_dict(), "config": {"model": {"a": 1, "b": 1, "c": 1}}}, keep=3)
    with pytest.raises(UserError) as refused:
        load_latest_checkpoint(tmp_path, ours, {"a": 2, "b": 2, "c": 2})
    message = str(refused.value)
    assert "(model.a=1 there, 2 here; model.b=1 there, 2 here; model.c=1 there, 2 here)" in message
    assert "tensor(s)" not in message  # the fourth difference is left out
    with pytest.raises(UserError, match=r"\(2 tensor\(s\) differ, e.g. 1.bias\)"):
        load_latest_checkpoint(tmp_path, ours, {"a": 1})


def test_keep_checkpoints_keeps_the_newest_ones(tmp_path):
    for iteration in (10, 20, 30, 40):
        save_checkpoint(tmp_path, iteration, {"iteration": iteration}, keep=2)
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["iter_00000030.pt", "iter_00000040.pt"]


class Payload:
    """Arbitrary Python in a file: torch.load(weights_only=True) must refuse to build it."""


def test_a_checkpoint_holding_arbitrary_python_objects_is_refused_and_an_old_numpy_one_still_reads(tmp_path):
    torch.save({"iteration": 1, "payload": Payload()}, tmp_path / "hostile.pt")
    with pytest.raises(pickle.UnpicklingError):
        load_checkpoint_file(tmp_path / "hostile.pt")
    # Before the generator state became a tensor, checkpoints held numpy's state: our own format, still read.
    state = np.random.RandomState(0).get_state()
    torch.save({"iteration": 2, "numpy": state}, tmp_path / "old.pt")
    loaded = load_checkpoint_file(tmp_path / "old.pt")
    assert loaded["iteration"] == 2 and np.array_equal(loaded["numpy"][1], state[1])


def test_each_damaged_checkpoint_is_named_with_what_is_wrong_and_what_happens_next(tmp_path, capsys):
    for iteration, says in ((10, 10), (20, 20), (30, 5)):  # the newest file says iteration 5: copied or renamed
        save_checkpoint(tmp_path, iteration, {"iteration": says}, keep=5)
    paths = {i: tmp_path / "checkpoints" / f"iter_{i:08d}.pt" for i in (10, 20, 30)}
    paths[20].write_bytes(b"garbage")
    assert load_latest_checkpoint(tmp_path)["iteration"] == 10
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == f"resdeep: checkpoint {paths[30]} is damaged (ValueError: it says iteration 5); trying the previous one"
    assert lines[1].startswith(f"resdeep: checkpoint {paths[20]} is damaged (") and lines[1].endswith("); trying the previous one")
    assert len(lines) == 2
    paths[10].write_bytes(b"garbage")
    assert load_latest_checkpoint(tmp_path) is None
    assert capsys.readouterr().err.splitlines()[-1].endswith("); no earlier checkpoint is left")


def test_a_fresh_run_prints_nothing_about_checkpoints(tmp_path, capsys):
    assert load_latest_checkpoint(tmp_path, nn.Linear(2, 2), {}) is None
    assert capsys.readouterr().err == ""


def test_a_checkpoint_folder_that_cannot_be_made_is_one_line_saying_no_earlier_checkpoint_exists(tmp_path):
    (tmp_path / "checkpoints").write_text("a file where the folder goes")  # fails before a byte is written
    with pytest.raises(UserError, match=r"cannot write checkpoint .*iter_00000010.pt: File exists; no earlier checkpoint exists\."):
        save_checkpoint(tmp_path, 10, {"iteration": 10}, keep=3)


def test_channel_standardisation_gives_each_channel_mean_0_and_std_1_on_the_training_images():
    generator = torch.Generator().manual_seed(0)
    images = (torch.rand(64, 3, 4, 4, generator=generator) * torch.tensor([60.0, 120.0, 250.0])[:, None, None]).to(torch.uint8)
    scaled = Normalizer(images, "channel_std")(images)
    assert torch.allclose(scaled.mean((0, 2, 3)), torch.zeros(3), atol=1e-5)
    assert torch.allclose(scaled.std((0, 2, 3)), torch.ones(3), atol=1e-4)


def test_a_batch_larger_than_the_training_set_is_refused_by_number():
    data = ImageArrays(torch.zeros(32, 3, 4, 4, dtype=torch.uint8), torch.zeros(32, dtype=torch.int64))
    with pytest.raises(ValueError, match="^batch 64 is larger than the 32 training images$"):
        DeviceLoader(data, 64, Normalizer(data.images, "pixel_mean"), torch.device("cpu"), seed=0)


def labelled_by_index(count=24):
    """Images whose label is their index, every pixel at least 1 (so zero padding is the only source of zeros)."""
    images = torch.randint(1, 256, (count, 3, 8, 8), generator=torch.Generator().manual_seed(0)).to(torch.uint8)
    return ImageArrays(images, torch.arange(count))


def test_each_epoch_shows_every_image_once_and_counts_the_epochs():
    data = labelled_by_index()
    loader = DeviceLoader(data, 8, Normalizer(data.images, "pixel_mean"), torch.device("cpu"), seed=0)
    for epoch in (0, 1):
        seen = torch.cat([loader.next_batch()[1] for _ in range(3)])  # 24 images in batches of 8
        assert sorted(seen.tolist()) == list(range(24)) and loader.epoch == epoch
    loader.next_batch()
    assert loader.epoch == 2


def test_reflection_padding_reaches_the_loader_and_without_augmentation_batches_are_the_normalised_originals():
    data = labelled_by_index()
    scale = Normalizer(data.images, "none")  # x / 255: no zeros except where padding puts them
    zeros = DeviceLoader(data, 24, scale, torch.device("cpu"), seed=0)
    reflect = DeviceLoader(data, 24, scale, torch.device("cpu"), seed=0, pad_mode="reflect")
    assert (zeros.next_batch()[0] == 0).any() and not (reflect.next_batch()[0] == 0).any()
    plain = DeviceLoader(data, 8, scale, torch.device("cpu"), seed=0, augment=False)
    images, labels = plain.next_batch()
    assert torch.equal(images, data.images[labels].float() / 255)


def test_augmentation_divides_by_each_channels_std():
    images = torch.randint(0, 256, (2, 3, 4, 4), generator=torch.Generator().manual_seed(0)).to(torch.uint8)
    mean, std = torch.rand(3, 4, 4), torch.tensor([0.5, 0.25, 2.0])[:, None, None]
    unshifted = torch.full((2, 2), 4)  # offset 4 of 0..8: no shift; no flip
    out = augment_batch(images, torch.arange(2), unshifted, torch.zeros(2, dtype=torch.bool), mean, std, pad=4)
    assert torch.allclose(out, (images.float() / 255 - mean) / std)


# Survivors of the schedule and init (the first run on one thread; docs/testing.md).

def test_a_recipe_of_less_than_one_iteration_trains_exactly_one():
    recipe = RecipeConfig(batch_size=128, max_iters=None, milestones=[], epochs=1, milestone_epochs=[])
    assert in_iterations(recipe, 128).max_iters == 1  # one full batch: one iteration, not two
    assert in_iterations(RecipeConfig(batch_size=128, max_iters=None, milestones=[], epochs=0.001, milestone_epochs=[]), 50_000).max_iters == 1


def test_warm_up_ends_only_below_the_threshold_not_at_it():
    recipe = RecipeConfig(warmup_until_error=80.0)
    state = ScheduleState(warming_up=True)
    assert not end_warmup_if_ready(state, 80.0, 100, recipe) and state.warming_up  # "below 80%" (Section 4.2)
    assert end_warmup_if_ready(state, 79.9, 200, recipe) and state.warmup_ended_at == 200


def test_a_plateau_needs_more_than_the_threshold_and_patience_restarts_after_each_drop():
    recipe, state = RecipeConfig(plateau=True, plateau_patience=2, plateau_threshold=0.5), ScheduleState()
    assert not update_plateau(state, 40.0, recipe)
    assert not update_plateau(state, 39.5, recipe) and state.plateau_waited == 1  # exactly the threshold: no improvement
    assert update_plateau(state, 39.6, recipe) and state.plateau_drops == 1  # second evaluation without: drop
    assert not update_plateau(state, 39.6, recipe)  # patience starts again from zero after a drop
    assert update_plateau(state, 39.6, recipe) and state.plateau_drops == 2


def test_init_zeroes_conv_biases_and_leaves_bn_weights_at_one_unless_asked():
    model = nn.Sequential(nn.Conv2d(3, 4, 3, bias=True), nn.BatchNorm2d(4))
    nn.init.ones_(model[0].bias)
    init_weights(model)
    assert torch.equal(model[0].bias, torch.zeros(4))
    net = build_model(model_config("cifar", depth=8, width=4))
    init_weights(net)  # the paper: no zero-init of the last BN
    assert all(torch.equal(m.weight, torch.ones_like(m.weight)) for m in net.modules() if isinstance(m, nn.BatchNorm2d))


# Survivors of engine/fastpath.py, now fast_path.py, optim.py and train_step.py (docs/testing.md).


def test_auto_switches_turn_on_for_cuda_only_and_explicit_ones_are_obeyed():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")  # a device object needs no GPU
    assert resolve_fast_path(TrainerConfig(), cpu) == FastPath(channels_last=True, bf16=False, compile=False, cuda_graphs=False, fused_optimizer=False)
    assert resolve_fast_path(TrainerConfig(), cuda) == FastPath(channels_last=True, bf16=True, compile=True, cuda_graphs=True, fused_optimizer=True)
    assert not resolve_fast_path(TrainerConfig(), cuda, distributed=True).cuda_graphs  # CUDA graphs need one process
    assert resolve_fast_path(TrainerConfig(channels_last=True, fused_optimizer=True), cpu).channels_last  # fused: CUDA only
    assert not resolve_fast_path(TrainerConfig(fused_optimizer=True), cpu).fused_optimizer
    assert resolve_fast_path(TrainerConfig(cuda_graphs=False, fused_optimizer=False), cuda) == FastPath(
        channels_last=True, bf16=True, compile=True, cuda_graphs=False, fused_optimizer=False)
    explicit = resolve_fast_path(TrainerConfig(precision="bf16", compile=True, cuda_graphs=False, channels_last=False), cpu)
    assert explicit == FastPath(channels_last=False, bf16=True, compile=True, cuda_graphs=False, fused_optimizer=False)
    assert fast_path().describe() == "off (plain fp32 eager)" and explicit.describe() == "bf16, compile"


def test_the_rate_is_written_into_a_tensor_rate_in_place():
    rate = torch.tensor(0.1)  # what a CUDA graph reads: the same tensor must hold the new value
    scalars = {"params": [nn.Parameter(torch.zeros(1))], "lr": rate, "lr_factor": 0.5}  # Fixup's scalars: a factor
    weights = {"params": [nn.Parameter(torch.zeros(1))], "lr": 0.1}  # no factor: the rate itself
    optimizer = torch.optim.SGD([scalars, weights], lr=0.1)
    set_learning_rate(optimizer, 0.04)
    assert optimizer.param_groups[0]["lr"] is rate and torch.equal(rate, torch.tensor(0.02))
    assert optimizer.param_groups[1]["lr"] == 0.04


def test_only_a_net_that_drops_blocks_turns_whole_step_capture_off():
    dropping = build_model(model_config("cifar", depth=8, width=4, stochastic_depth=0.5))
    assert changes_per_step(dropping) and not changes_per_step(build_model(model_config("cifar", depth=8, width=4)))
    fast = fast_path(compile=True, cuda_graphs=True)
    sgd = SimpleNamespace(lr=0.1, momentum=0.9, weight_decay=0, nesterov=False)
    said = []
    step = make_train_step(dropping, make_optimizer(dropping, sgd, fast), fast, torch.device("cpu"), (2, 3, 32, 32), said.append)
    assert not fast.compile and not fast.cuda_graphs and step.forward is dropping
    assert said == ["the net's forward changes per step (stochastic depth): whole-step CUDA graph and torch.compile turned off"]
    compile_only = fast_path(compile=True)
    make_train_step(dropping, make_optimizer(dropping, sgd, compile_only), compile_only, torch.device("cpu"), (2, 3, 32, 32), said.append)
    assert not compile_only.compile and len(said) == 2  # compile alone is turned off too
    eager = fast_path()
    make_train_step(dropping, make_optimizer(dropping, sgd, eager), eager, torch.device("cpu"), (2, 3, 32, 32), said.append)
    assert len(said) == 2  # nothing to turn off, nothing said


def test_a_step_returns_the_batchs_summed_loss_and_error_count_and_updates_with_nesterov_when_asked():
    torch.manual_seed(0)
    net, images, labels = nn.Linear(4, 3), torch.randn(6, 4), torch.tensor([0, 1, 2, 0, 1, 2])
    with torch.no_grad():
        expected_loss = torch.nn.functional.cross_entropy(net(images), labels, reduction="sum")
        expected_errors = (net(images).argmax(1) != labels).sum()
    eager = fast_path()
    sgd = SimpleNamespace(lr=0.1, momentum=0.9, weight_decay=0, nesterov=True)
    optimizer = make_optimizer(net, sgd, eager)
    assert optimizer.param_groups[0]["nesterov"] is True
    loss, errors = make_train_step(net, optimizer, eager, torch.device("cpu"), (6, 4), print)(images, labels)
    assert torch.allclose(loss, expected_loss) and int(errors) == int(expected_errors)


def test_one_number_parameters_get_their_own_rate_only_when_the_recipe_asks():
    net = nn.Sequential(nn.Linear(3, 2), nn.Linear(2, 1))  # the second layer's bias is a one-number parameter
    net.scale = nn.Parameter(torch.ones(1))  # a Fixup multiplier
    sgd = SimpleNamespace(lr=0.1, momentum=0.9, weight_decay=1e-4, nesterov=False, scalar_lr_factor=0.1)
    off = fast_path()
    groups = make_optimizer(net, sgd, off).param_groups
    assert [(len(g["params"]), g["lr_factor"], g["lr"]) for g in groups] == [(3, 1.0, 0.1), (2, 0.1, pytest.approx(0.01))]
    assert {id(p) for p in groups[1]["params"]} == {id(net[1].bias), id(net.scale)}
    assert not groups[0].get("fused") and groups[0]["momentum"] == 0.9 and groups[0]["weight_decay"] == 1e-4
    for factor in (1.0, None):  # the paper's recipe (1.0), or a recipe without the option: one group
        recipe = SimpleNamespace(**{k: v for k, v in vars(sgd).items() if k != "scalar_lr_factor"}, **({"scalar_lr_factor": factor} if factor else {}))
        assert [(len(g["params"]), g["lr_factor"]) for g in make_optimizer(net, recipe, off).param_groups] == [(5, 1.0)]
    assert [len(g["params"]) for g in make_optimizer(nn.Linear(3, 2), sgd, off).param_groups] == [2]  # no scalars: one group


def test_the_fused_sgd_kernel_is_asked_for_with_fused_optimizer_or_cuda_graphs_and_a_graph_reads_a_tensor_rate():
    net, sgd = nn.Linear(3, 2), SimpleNamespace(lr=0.1, momentum=0.9, weight_decay=0, nesterov=False)
    fused = make_optimizer(net, sgd, fast_path(fused_optimizer=True)).param_groups[0]
    assert fused["fused"] is True and fused["lr"] == 0.1  # a float rate: nothing captured reads it
    graphed = make_optimizer(net, sgd, fast_path(cuda_graphs=True)).param_groups[0]
    assert graphed["fused"] is True and isinstance(graphed["lr"], torch.Tensor) and torch.equal(graphed["lr"], torch.tensor(0.1))


@pytest.mark.filterwarnings("ignore:CUDA is not available")
def test_bf16_autocast_asks_for_bfloat16_without_a_weight_cache_also_where_float16_is_the_default():
    bf16 = fast_path(bf16=True)
    context = autocast_context(bf16, torch.device("cuda"))()  # CUDA's own default is float16; no GPU is needed to build it
    assert context.fast_dtype == torch.bfloat16
    assert context._cache_enabled is False  # a weight-cast cache is not allowed under CUDA graph capture


# Survivors of engine/train.py (docs/testing.md).


def test_the_device_is_the_processs_gpu_when_asked_or_available_and_a_missing_gpu_is_one_line(monkeypatch):
    from resdeep.engine.distributed import World
    from resdeep.engine.train import pick_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert pick_device("cpu", World()) == torch.device("cpu") and pick_device("auto", World()) == torch.device("cpu")
    with pytest.raises(UserError) as refused:
        pick_device("cuda", World())
    assert str(refused.value) == "trainer.device=cuda but no CUDA GPU is visible; use trainer.device=cpu or auto"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    second_gpu = World(rank=3, local_rank=1, size=4)  # torchrun's fourth process, the second on its node
    assert pick_device("auto", World()) == torch.device("cuda", 0)
    assert pick_device("auto", second_gpu) == torch.device("cuda", 1) and pick_device("cuda", second_gpu) == torch.device("cuda", 1)
    assert pick_device("cpu", second_gpu) == torch.device("cpu")


def test_divergence_is_nan_inf_or_strictly_above_the_limit_and_no_limit_means_only_nan_inf():
    from resdeep.engine.train import has_diverged

    assert not has_diverged(1e30, None) and has_diverged(math.nan, None) and has_diverged(math.inf, None)
    assert not has_diverged(5.0, 5.0) and has_diverged(5.000001, 5.0) and has_diverged(-math.inf, 5.0)


def test_the_training_window_sums_in_float64_over_adds_and_starts_again_after_a_read():
    from resdeep.engine.distributed import World
    from resdeep.engine.train import TrainWindow

    window = TrainWindow(torch.device("cpu"))
    window.add(torch.tensor(3.0), torch.tensor(1), 4)
    window.add(torch.tensor(5.0), torch.tensor(2), 4)
    assert window.read_and_reset(World()) == (37.5, 1.0)  # 3 wrong of 8 images; loss 8 over 8 images
    window.add(torch.tensor(2.0 ** 24 + 1, dtype=torch.float64), torch.tensor(1), 1)  # float32 would round it to 2**24
    assert window.read_and_reset(World()) == (100.0, 2.0 ** 24 + 1)  # one image: 1 wrong of 1
    assert window.read_and_reset(World()) == (0.0, 0.0)  # an empty window, after the reset: no division by zero


def test_each_process_gets_an_integer_share_of_the_global_batch():
    from resdeep.engine.distributed import World
    from resdeep.engine.train import local_batch_shape

    cfg, data = SimpleNamespace(recipe=SimpleNamespace(batch_size=128)), SimpleNamespace(shape=SimpleNamespace(channels=3, size=32))
    shape = local_batch_shape(cfg, data, World(size=2))
    assert shape == (64, 3, 32, 32) and all(type(n) is int for n in shape)  # a float would break torch.zeros(shape)


def short_run(tmp_path, *extra, iters=6):
    """A seconds-long ResNet-8 run on 64 synthetic images (2 batches of 32), evaluated and logged every 2 iterations."""
    return ["train", "data=synthetic", "data.train_size=64", "data.test_size=32", "model=resnet20", "model.depth=8",
            "recipe=smoke", "recipe.batch_size=32", f"recipe.max_iters={iters}", "trainer.log_every=2", "trainer.eval_every=2",
            "trainer.checkpoint_every=100", "trainer.device=cpu", "trainer.progress=lines", f"out_dir={tmp_path}", *extra]


def test_a_recipe_in_epochs_runs_its_iterations_and_every_record_of_the_run_holds_what_it_promises(tmp_path):
    """64 images in batches of 32: 2 iterations an epoch, so 3 epochs are 6 iterations and the milestone at epoch
    2 is iteration 4. The run's first lines name the net, its parameters (ResNet-8: 75,290 by hand), the data, the
    device and the fast path; result.json, metrics.jsonl, the checkpoint and TensorBoard hold every field that
    `resdeep report`, `status` and a resume read, with values worked out from the command (no val split, depth 8:
    no warm-up, one process on the CPU); no time is counted that was not spent."""
    import time

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    started = time.perf_counter()
    done = in_process(*short_run(tmp_path, "recipe.epochs=3", "recipe.milestone_epochs=[2]", "recipe.milestones=[]",
                                 "trainer.log_grad_norms=true", iters="null"))
    wall = time.perf_counter() - started
    assert done.returncode == 0, done.stderr
    run = next(tmp_path.rglob("result.json")).parent
    log = (run / "train.log").read_text()
    assert "resnet8 on synthetic: 75,290 parameters, 64 training images, device cpu, fast path: channels_last\n" in log
    assert "recipe smoke in epochs: 3 epochs of 2 iterations = 6 iterations, lr milestones at [4]" in log
    result = json.loads((run / "result.json").read_text())
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert result["iterations"] == result["max_iters"] == 6
    assert [(r["iteration"], r["lr"]) for r in records] == [(2, 0.1), (4, 0.1), (6, pytest.approx(0.01))]
    assert 0 < records[0]["elapsed_s"] < records[-1]["elapsed_s"] <= result["wall_time_s"] <= wall
    assert all(set(r) == {"iteration", "train_error", "train_loss", "lr", "test_error", "test_loss", "elapsed_s"} for r in records)
    # 2 batches of 32 between log points: an error is a whole number of the 64 images, in percent
    assert all(0 <= r["train_error"] <= 100 and (r["train_error"] * 64 / 100) == pytest.approx(round(r["train_error"] * 64 / 100)) for r in records)
    assert all(r["train_loss"] > 0 and r["test_loss"] > 0 for r in records)
    test_errors = [r["test_error"] for r in records]
    assert {k: v for k, v in result.items() if k != "wall_time_s"} == {
        "status": "finished", "diverged": False, "model": "resnet8", "data": "synthetic", "seed": 0, "params": 75290,
        "iterations": 6, "max_iters": 6, "final_test_error": test_errors[-1], "best_test_error": min(test_errors),
        "test_error_at_best_val": None, "final_val_error": None, "final_train_error": records[-1]["train_error"],
        "warmup_ended_at": None, "device": "cpu", "world_size": 1, "fast_path": "channels_last", "skipped_images": 0,
        "recipe_iters": 6,
    }
    checkpoint = torch.load(run / "checkpoints" / "iter_00000006.pt", weights_only=False)
    assert set(checkpoint) == {"iteration", "model", "optimizer", "loader", "rng", "schedule", "window", "metrics", "elapsed_s", "config", "scaler", "preprocessing"}
    assert checkpoint["config"]["recipe"]["max_iters"] == 6 and checkpoint["config"]["recipe"]["milestones"] == [4]  # in iterations
    assert checkpoint["scaler"] is None and checkpoint["metrics"] == records and checkpoint["elapsed_s"] <= result["wall_time_s"]
    events = EventAccumulator(str(run / "tb"))
    events.Reload()
    conv_weights = {f"grad_norm/{name}" for name, p in build_model(model_config("cifar", depth=8)).named_parameters() if p.dim() == 4}
    assert len(conv_weights) == 7 and {t for t in events.Tags()["scalars"] if t.startswith("grad_norm/")} == conv_weights
    assert all(e.value > 0 and e.step in (2, 4, 6) for tag in conv_weights for e in events.Scalars(tag))


def test_a_sigterm_during_iteration_3_stops_after_it_with_a_checkpoint_and_the_resumed_run_matches_an_unbroken_one(tmp_path, monkeypatch):
    """The signal is sent from inside the third step (a real SIGTERM to this process), so where it lands is known."""
    assert in_process(*short_run(tmp_path, "name=whole")).returncode == 0
    sigterm_at_step(monkeypatch, 3)
    stopped = in_process(*short_run(tmp_path, "name=cut"))
    monkeypatch.undo()
    run = next((tmp_path / "cut").rglob("train.log")).parent
    assert stopped.returncode == 75, stopped.stderr
    assert "resdeep: stopped at iteration 3; run the same command again to resume" in stopped.stderr
    assert "stop requested (SIGTERM): checkpoint saved at iteration 3" in (run / "train.log").read_text()
    assert [p.name for p in (run / "checkpoints").glob("iter_*.pt")] == ["iter_00000003.pt"] and not (run / "result.json").exists()
    resumed = in_process(*short_run(tmp_path, "name=cut"))
    assert resumed.returncode == 0, resumed.stderr
    whole = next((tmp_path / "whole").rglob("train.log")).parent
    a = torch.load(whole / "checkpoints" / "iter_00000006.pt", weights_only=False)["model"]
    b = torch.load(run / "checkpoints" / "iter_00000006.pt", weights_only=False)["model"]
    assert all(torch.equal(a[key], b[key]) for key in a)
    def untimed(folder):  # (metrics rows, result) without the times, which differ between any two runs
        rows = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
        result = json.loads((folder / "result.json").read_text())
        return [{k: v for k, v in r.items() if k != "elapsed_s"} for r in rows], {k: v for k, v in result.items() if k != "wall_time_s"}

    assert untimed(run) == untimed(whole)


@pytest.mark.parametrize("val_size", [0, 16], ids=["training-error", "val-error"])
def test_the_plateau_rule_watches_the_val_error_or_else_the_training_error_never_the_test_error(tmp_path, monkeypatch, val_size):
    """With patience 1 and a threshold no error can beat, the rate is divided at every evaluation after the
    first: at iterations 4 and 6, so iteration 5 (logged at 6) runs at a tenth of the rate."""
    import resdeep.engine.train as engine

    watched, real_update = [], engine.update_plateau
    monkeypatch.setattr(engine, "update_plateau", lambda state, error, recipe: watched.append(error) or real_update(state, error, recipe))
    done = in_process(*short_run(tmp_path, "recipe.plateau=true", "recipe.plateau_patience=1", "recipe.plateau_threshold=1000",
                                 "recipe.milestones=[]", f"data.val_size={val_size}"))
    assert done.returncode == 0, done.stderr
    run = next(tmp_path.rglob("result.json")).parent
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert watched == [r["val_error"] if val_size else r["train_error"] for r in records]
    assert [r["lr"] for r in records] == [0.1, 0.1, pytest.approx(0.01)]
    log = (run / "train.log").read_text()
    assert "plateau: learning rate divided at iteration 4" in log and "plateau: learning rate divided at iteration 6" in log
    result = json.loads((run / "result.json").read_text())
    assert result["final_val_error"] == (records[-1]["val_error"] if val_size else None)


def test_a_non_finite_test_loss_ends_the_run_as_diverged_without_recording_that_evaluation(tmp_path, monkeypatch):
    import resdeep.engine.train as engine

    monkeypatch.setattr(engine, "evaluate", lambda *args: (90.0, math.inf))
    done = in_process(*short_run(tmp_path))
    assert done.returncode == 0, done.stderr
    run = next(tmp_path.rglob("result.json")).parent
    result = json.loads((run / "result.json").read_text())
    assert result["status"] == "diverged" and result["diverged"] is True and result["iterations"] == 2
    assert (run / "metrics.jsonl").read_text() == "" and result["final_test_error"] is None
    assert 0 <= result["final_train_error"] <= 100  # the training error logged at iteration 2 stands
    assert "diverged at iteration 2: test loss is inf" in (run / "train.log").read_text()
