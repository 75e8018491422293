"""What makes depth trainable: highway gates, stochastic depth, CReLU + looks-linear, Fixup (issue 13)."""
import json
import os
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F

from conftest import fast_path, in_process
from resdeep.compose import load_config
from resdeep.engine.evaluate import best_val_test_error
from resdeep.engine.optim import make_optimizer, set_learning_rate
from resdeep.engine.train_step import make_train_step
from resdeep.errors import UserError
from resdeep.models import build_model, model_config, model_id
from resdeep.models.fixup import FixupBlock
from resdeep.models.stochastic_depth import survival_probabilities
from resdeep.models.summary import count_params

pytestmark = pytest.mark.usefixtures("one_thread")  # These nets are tiny: one thread is faster, and far faster when other jobs share the cores.


ONE_THREAD = {**os.environ, "OMP_NUM_THREADS": "1"}

RESNET_PARAMS = {20: 269_722, 32: 464_154, 44: 658_586, 56: 853_018, 110: 1_727_962}  # He et al., Table 6


def stage_convs(depth: int):
    """(in, out) channels of every 3x3 conv in the blocks of a 6n+2 net of widths 16/32/64."""
    n, convs, channels = (depth - 2) // 6, [], 16
    for width in (16, 32, 64):
        for _ in range(n):
            convs += [(channels, width), (width, width)]
            channels = width
    return convs


def highway_params(depth: int) -> int:
    """The residual twin plus one 3x3 gate conv with bias per block (the block's first conv's shape)."""
    gates = stage_convs(depth)[::2]
    return RESNET_PARAMS[depth] + sum(9 * c_in * c_out + c_out for c_in, c_out in gates)


def looks_linear_params(depth: int) -> int:
    """The plain twin, with every block conv and the classifier reading twice the channels (CReLU)."""
    return RESNET_PARAMS[depth] + sum(9 * c_in * c_out for c_in, c_out in stage_convs(depth)) + 64 * 10


def fixup_params(depth: int) -> int:
    """The twin without its BN layers (2 x width each), plus 5 scalars per block and 2 for the net."""
    bn = 2 * 16 + sum(2 * 2 * c_out for _, c_out in stage_convs(depth)[::2])
    return RESNET_PARAMS[depth] - bn + 5 * ((depth - 2) // 2) + 2


# Exact counts of this file's presets: the highway paper's 19-layer net, and arithmetic from He et al.'s counts.
PRESET_PARAMS = {
    "highway19": 2_256_838,  # Srivastava et al. 2015, the official cifar10-19layers net
    **{f"highway{d}": highway_params(d) for d in (20, 32, 44, 56, 110)},
    "looks_linear20": looks_linear_params(20),
    "fixup110": fixup_params(110),
}


def test_the_arithmetic_matches_hand_worked_values():
    assert highway_params(20) == 269_722 + 3 * 2_320 + 4_640 + 2 * 9_248 + 18_496 + 2 * 36_928 == 392_170
    assert fixup_params(110) == 1_727_962 - 8_096 + 270 + 2 == 1_720_138


@pytest.mark.parametrize("name", sorted(PRESET_PARAMS))
def test_every_remedy_preset_has_its_exact_parameter_count(name):
    cfg = load_config([f"model={name}"]).model
    with torch.device("meta"):
        assert count_params(build_model(cfg, 3, 10)) == PRESET_PARAMS[name]


def linear_map_error(function, shape, seed=0):
    """max |f(a x + b y) - (a f(x) + b f(y))| relative to the outputs' scale."""
    generator = torch.Generator().manual_seed(seed)
    x, y = torch.randn(shape, generator=generator), torch.randn(shape, generator=generator)
    with torch.no_grad():
        combined, separate = function(1.7 * x - 0.6 * y), 1.7 * function(x) - 0.6 * function(y)
    return ((combined - separate).abs().max() / separate.abs().max()).item()


@pytest.mark.parametrize("norm", ["none", "batch"])
def test_looks_linear_blocks_and_the_whole_net_are_linear_maps_at_initialisation(norm):
    model = build_model(model_config("cifar", depth=14, shortcut="none", activation="crelu", init="looks_linear", norm=norm))
    model.train(norm == "none")  # BN at init in eval mode (mean 0, variance 1) is a fixed scaling: linear
    blocks = list(model.blocks)
    assert len(blocks) == 6 and all(block.conv2.in_channels == 2 * block.conv2.out_channels for block in blocks)
    head = lambda x: model.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))  # noqa: E731
    # Each block ends in CReLU; read by the next mirrored layer it is a linear map of its input (a stride-1 block,
    # the two that widen, the last).
    for block, reader in ((blocks[0], blocks[1].conv1), (blocks[2], blocks[3].conv1), (blocks[4], blocks[5].conv1), (blocks[5], head)):
        assert linear_map_error(lambda x: reader(block(x)), (2, block.conv1.in_channels, 8, 8)) < 1e-5
    assert linear_map_error(model, (2, 3, 16, 16)) < 1e-5
    he = build_model(model_config("cifar", depth=14, shortcut="none", activation="crelu", norm="batch")).eval()
    assert linear_map_error(he, (2, 3, 16, 16)) > 1e-2, "without the mirrored init a CReLU net is not linear"


def test_fixup_zeroes_the_classifier_and_each_branch_end_and_scales_the_rest_by_L_to_the_minus_half():
    model = build_model(model_config("cifar", depth=56, init="fixup", norm="none"))
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
    blocks = [m for m in model.modules() if isinstance(m, FixupBlock)]
    assert len(blocks) == 27
    classifier = model.fc[-1]
    assert not classifier.weight.any() and not classifier.bias.any()
    for block in blocks:
        assert not block.conv2.weight.any() and block.scale.item() == 1.0
        assert all(b.bias.item() == 0 for b in (block.bias1a, block.bias1b, block.bias2a, block.bias2b))
    # He (fan_out) std sqrt(2 / (9 C_out)), times L^(-1/(2m-2)) = 27^(-1/2) for two-layer branches.
    for width in (16, 32, 64):
        weights = torch.cat([b.conv1.weight.flatten() for b in blocks if b.conv1.out_channels == width])
        expected = (2 / (9 * width)) ** 0.5 * 27 ** -0.5
        assert abs(weights.std().item() / expected - 1) < 0.05
    x = torch.randn(2, 3, 16, 16)
    assert not model(x).any(), "a zero classifier: the net outputs zeros at initialisation"


def test_the_stochastic_depth_survival_rule_is_linear_decay_to_p_L():
    probabilities = survival_probabilities(54, 0.5)
    assert probabilities[0] == pytest.approx(1 - 0.5 / 54) and probabilities[-1] == pytest.approx(0.5)
    assert probabilities[26] == pytest.approx(1 - 27 / 54 * 0.5)
    assert sum(probabilities) == pytest.approx((3 * 54 - 1) / 4)  # the paper's expected depth, about 40 of 54
    model = build_model(model_config("cifar", depth=110, stochastic_depth=0.5))
    assert [b.drop_path.survival for b in model.blocks] == pytest.approx(probabilities)
    assert survival_probabilities(3, 1.0) == [1.0, 1.0, 1.0]


def test_a_stochastic_block_draws_once_per_batch_skips_dropped_branches_and_takes_the_expectation_at_test():
    model = build_model(model_config("cifar", depth=8, stochastic_depth=0.3))
    block = model.blocks[0]
    block.drop_path.survival = 0.4
    calls = []
    block.conv1.register_forward_hook(lambda *_: calls.append(1))
    x = torch.randn(2, 16, 8, 8)
    torch.manual_seed(5)
    kept = [torch.rand(()).item() < 0.4 for _ in range(100)]  # the same generator the block draws from
    torch.manual_seed(5)
    block.train()
    with torch.no_grad():
        outputs = [block(x) for _ in range(100)]
    assert len(calls) == sum(kept) and 20 < sum(kept) < 60, "a dropped branch is not computed"
    for output, keep in zip(outputs[:20], kept):
        if not keep:
            assert torch.equal(output, F.relu(block.shortcut(x)))
    block.eval()
    with torch.no_grad():
        branch = block.bn2(block.conv2(F.relu(block.bn1(block.conv1(x)))))
        assert torch.allclose(block(x), F.relu(0.4 * branch + block.shortcut(x)))


@pytest.mark.parametrize("fused", [False, True], ids=["foreach", "fused"])
def test_a_dropped_block_is_moved_by_weight_decay_and_momentum_as_in_the_authors_torch_code(fused):
    """Huang et al.'s main.lua zeroes one flat gradient each step and runs optim.sgd over every weight, so a dropped
    block still gets weight decay and momentum. Fused SGD (CUDA's default) once crashed on the step after a block
    had been dropped at the first step: its momentum buffer was missing while the others' were not."""
    torch.manual_seed(0)
    model = build_model(model_config("cifar", depth=8, width=4, stochastic_depth=0.5))
    fast = fast_path(fused_optimizer=fused)
    recipe = SimpleNamespace(lr=0.1, momentum=0.9, weight_decay=1e-4, nesterov=False)
    optimizer = make_optimizer(model, recipe, fast)
    step = make_train_step(model, optimizer, fast, torch.device("cpu"), (8, 3, 32, 32))
    images, labels = torch.randn(8, 3, 32, 32), torch.randint(0, 10, (8,))
    dropped = model.blocks[0]
    w0 = dropped.conv1.weight.detach().clone()
    dropped.drop_path.survival = 0.0  # dropped at the first step: no gradient from the loss, only weight decay
    step(images, labels)
    w1 = w0 - 0.1 * 1e-4 * w0  # momentum buffer = gradient = weight_decay * w0
    assert torch.allclose(dropped.conv1.weight, w1, rtol=1e-6, atol=0)
    step(images, labels)  # dropped again: decay of w1 plus momentum 0.9 of the first step's buffer
    assert torch.allclose(dropped.conv1.weight, w1 - 0.1 * (0.9 * 1e-4 * w0 + 1e-4 * w1), rtol=1e-6, atol=0)
    dropped.drop_path.survival = 1.0  # kept: a real gradient now, and every parameter has its momentum buffer
    w2 = dropped.conv1.weight.detach().clone()
    step(images, labels)
    assert not torch.allclose(dropped.conv1.weight, w2 - 0.1 * (0.9 * (0.9 * 1e-4 * w0 + 1e-4 * w1) + 1e-4 * w2), rtol=1e-6, atol=0)


def test_the_highway_gate_bias_is_set_and_decides_between_carry_and_transform():
    assert load_config(["model=highway56"]).model.gate_bias == -2.0
    default = build_model(model_config("cifar", depth=8, shortcut="highway"))
    gates = [block.gate.bias for block in default.blocks]
    assert len(gates) == 3 and all((g == -2.0).all() for g in gates)
    x = torch.randn(2, 16, 8, 8)
    for bias, expected in ((-60.0, "carry"), (60.0, "transform")):
        block = build_model(model_config("cifar", depth=8, shortcut="highway", gate_bias=bias)).blocks[0].eval()
        with torch.no_grad():
            transform = block.bn2(block.conv2(F.relu(block.bn1(block.conv1(x)))))
            want = F.relu(x) if expected == "carry" else F.relu(transform)
            assert torch.allclose(block(x), want, atol=1e-6), expected


def test_highway19_starts_from_the_official_prototxts_fillers_as_caffe_reads_them():
    torch.manual_seed(0)
    model = build_model(load_config(["model=highway19"]).model)
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    first, classifier = model[1], model[-1]
    # conv1's gaussian filler sets `value: 0.05`, which Caffe's Gaussian filler ignores: its std stays the default 1.
    assert first is convs[0] and abs(first.weight.std().item() - 1.0) < 0.1
    # ip2: gaussian, std 0.05, constant (zero) bias; PyTorch's default U(+-0.1) would never pass 0.1.
    assert abs(classifier.weight.std().item() - 0.05) < 0.005 and classifier.weight.abs().max() > 0.1
    assert not classifier.bias.any()
    # Every other conv: "xavier", which that Caffe fork draws as N(0, 2/fan_in); biases 0, gate biases -2.
    for conv in convs[1:]:
        expected = (2 / conv.weight[0].numel()) ** 0.5
        assert abs(conv.weight.std().item() / expected - 1) < 0.1
    assert all((layer.gate.bias == -2).all() and not layer.transform.bias.any() for layer in model if hasattr(layer, "gate"))
    he = build_model(load_config(["model=highway19", "model.init=he"]).model)  # what resdeep did before
    assert abs(he[1].weight.std().item() - (2 / 27) ** 0.5) < 0.03 and he[-1].weight.abs().max() <= 0.1 and he[-1].bias.any()
    assert model_id(load_config(["model=highway19", "model.init=he"]).model) == "highway19-he"


def test_fixup_scalars_learn_at_a_tenth_of_the_rate_with_recipe_fixup():
    recipe = load_config(["recipe=fixup", "model=fixup110"]).recipe
    assert recipe.scalar_lr_factor == 0.1 and recipe.epochs == 200 and list(recipe.milestone_epochs) == [100, 150]
    model = build_model(model_config("cifar", depth=8, init="fixup", norm="none"))
    fast = fast_path()
    optimizer = make_optimizer(model, recipe, fast)
    set_learning_rate(optimizer, 0.05)
    rates = {len(g["params"]): g["lr"] for g in optimizer.param_groups}
    assert rates == {sum(p.numel() > 1 for p in model.parameters()): 0.05, 5 * 3 + 2: pytest.approx(0.005)}


def test_a_net_that_changes_per_step_trains_without_whole_step_capture_and_says_so():
    model = build_model(model_config("cifar", depth=8, stochastic_depth=0.5))
    fast = fast_path(compile=True)
    messages = []
    step = make_train_step(model, make_optimizer(model, SimpleNamespace(lr=0.1, momentum=0.9, weight_decay=0, nesterov=False), fast), fast, torch.device("cpu"), (2, 3, 32, 32), messages.append)
    assert not fast.compile and step.forward is model and "stochastic depth" in messages[0]


def test_the_test_error_at_the_best_validation_point():
    records = [{"val_error": 30, "test_error": 31}, {"val_error": 20, "test_error": 24}, {"val_error": 25, "test_error": 22}]
    assert best_val_test_error(records) == 24
    assert best_val_test_error([{"test_error": 22}]) is None


@pytest.mark.parametrize("overrides, option", [
    (["model=plain20", "model.init=looks_linear"], "model.init=looks_linear needs model.activation=crelu"),
    (["model=resnet20", "model.init=fixup"], "model.init=fixup needs model.norm=none (Fixup replaces BatchNorm"),
    (["model=resnet20", "model.norm=none"], "model.norm=none needs"),
    (["model=plain20", "model.stochastic_depth=0.5"], "model.stochastic_depth=0.5 needs model.shortcut=A|B|C"),
    (["model=resnet20", "model.gate_bias=-1"], "model.gate_bias=-1.0 needs model.shortcut=highway"),
    (["model=resnet20", "model.stochastic_depth=0"], "must be in (0, 1]"),
    (["model=resnet20", "model.stochastic_depth=1.5"], "must be in (0, 1]"),
    (["model=resnet20", "model.activation=crelu"], "model.activation=crelu needs model.shortcut=none (CReLU is for plain nets)"),
    (["model=highway20", "model.stochastic_depth=0.5"], "model.stochastic_depth=0.5 needs model.shortcut=A|B|C"),
    (["model=highway19", "model.depth=20"], "model.depth=20 is not available for the highway family"),
])
def test_impossible_combinations_are_refused_at_start_up(overrides, option):
    with pytest.raises(UserError, match=None) as refused:
        load_config(overrides)
    assert option in str(refused.value) and "\n" not in str(refused.value)


def test_the_command_line_refuses_an_impossible_combination_with_exit_2_and_writes_nothing(tmp_path):
    done = in_process("train", "model=resnet20", "model.init=fixup", "data=synthetic", f"out_dir={tmp_path}/out", env=ONE_THREAD)
    assert done.returncode == 2 and done.stderr.strip().startswith("resdeep: error: model.init=fixup")
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
    assert not (tmp_path / "out").exists()


def tiny(out_dir, name, iters):
    """A sweep of two seconds-long CPU runs on a sliver of the built-in set, with a validation split: one
    process for both families (a resnet with stochastic depth from a user --config-dir, and highway19)."""
    return [
        "-m", "--config-dir", Path(out_dir) / "conf", "model=sd14,highway19", "data=synthetic", "data.train_size=64",
        "data.test_size=8", "data.val_size=8", "recipe=smoke", "recipe.batch_size=4", f"recipe.max_iters={iters}",
        "trainer.log_every=2", "trainer.eval_every=100", "trainer.checkpoint_every=2", "trainer.device=cpu",
        "trainer.progress=off", f"out_dir={out_dir}", f"name={name}",
    ]


def weights(folder: Path, iteration: int) -> dict:
    return torch.load(folder / "checkpoints" / f"iter_{iteration:08d}.pt", weights_only=False)["model"]


def test_a_resumed_run_is_bitwise_identical_to_an_uninterrupted_one(tmp_path):
    (tmp_path / "conf" / "model").mkdir(parents=True)
    (tmp_path / "conf" / "model" / "sd14.yaml").write_text("defaults: [base_cifar, _self_]\nfamily: cifar\ndepth: 14\nstochastic_depth: 0.5\n")
    whole = in_process("train", *tiny(tmp_path, "whole", 4), env=ONE_THREAD)
    assert whole.returncode == 0, whole.stderr
    assert in_process("train", *tiny(tmp_path, "cut", 2), env=ONE_THREAD).returncode == 0
    resumed = in_process("train", *tiny(tmp_path, "cut", 4), env=ONE_THREAD)
    assert resumed.returncode == 0, resumed.stderr
    for folder in ("resnet14-sd0.5", "highway19"):
        runs = {name: tmp_path / name / "synthetic" / folder / "seed0" for name in ("whole", "cut")}
        assert "resuming" in (runs["cut"] / "train.log").read_text()
        a, b = weights(runs["whole"], 4), weights(runs["cut"], 4)
        assert all(torch.equal(a[key], b[key]) for key in a), f"{folder}: resumed weights must be bitwise equal"
        result = json.loads((runs["cut"] / "result.json").read_text())
        records = [json.loads(line) for line in (runs["cut"] / "metrics.jsonl").read_text().splitlines()]
        assert len(records) == 2 and result["test_error_at_best_val"] == min(records, key=lambda r: r["val_error"])["test_error"]


def test_each_remedy_names_its_run_folder():
    names = {
        "highway56": model_config("cifar", depth=56, shortcut="highway", gate_bias=-2.0),
        "highway56-g-1": model_config("cifar", depth=56, shortcut="highway", gate_bias=-1.0),
        "resnet110-sd0.5": model_config("cifar", depth=110, stochastic_depth=0.5),
        "plain20-crelu-ll": model_config("cifar", depth=20, shortcut="none", activation="crelu", init="looks_linear"),
        "plain20-crelu-ll-nonorm": model_config("cifar", depth=20, shortcut="none", activation="crelu", init="looks_linear", norm="none"),
        "resnet110-fixup": model_config("cifar", depth=110, init="fixup", norm="none"),
    }
    assert {name: model_id(cfg) for name, cfg in names.items()} == {name: name for name in names}


def test_a_110_layer_fixup_net_with_no_normalisation_learns_a_batch():
    torch.manual_seed(0)
    model = build_model(load_config(["model=fixup110"]).model)
    recipe = load_config(["recipe=fixup"]).recipe
    optimizer = make_optimizer(model, recipe, fast_path())
    images, labels = torch.randn(8, 3, 8, 8), torch.arange(8) % 10
    losses = []
    for _ in range(10):
        loss = F.cross_entropy(model(images), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[0] == pytest.approx(torch.log(torch.tensor(10.0)).item(), abs=1e-6)  # zero classifier: uniform
    assert all(later < earlier for earlier, later in zip(losses, losses[1:])), losses  # no BN, and no blow-up
    assert losses[-1] < losses[0] - 0.15
