"""The successors in the same runner: Wide ResNets, ResNeXt, DenseNet and Squeeze-and-Excitation."""
import pytest
import torch
import torch.nn.functional as F

from conftest import in_process
from resdeep.compose import load_config
from resdeep.presets import group_options
from resdeep.data.device_loader import augment_batch
from resdeep.engine.schedule import in_iterations
from resdeep.errors import UserError
from resdeep.models import build_model, model_config, model_id
from resdeep.models.summary import count_params, summarize


def se_params(channels: int) -> int:
    """Two fc layers with biases, channels -> channels/16 -> channels (Hu et al. 2018)."""
    hidden = max(1, channels // 16)
    return channels * hidden + hidden + hidden * channels + channels


def preact_bottleneck_params(depth: int, se: bool = False) -> int:
    """He et al. 2016b's ResNet-(9n+2) for CIFAR, counted layer by layer; projections are conv + BN (option B)."""
    n, total, channels = (depth - 2) // 9, 3 * 9 * 16, 16
    for width in (16, 32, 64):
        for index in range(n):
            out = 4 * width
            total += 2 * channels + channels * width + 2 * width + 9 * width * width + 2 * width + width * out
            total += (channels * out + 2 * out) if index == 0 else 0
            total += se_params(out) if se else 0
            channels = out
    return total + 2 * 256 + 256 * 10 + 10


# Exact counts: the papers' (shared docs/FAMILIES.md), and SE's from He et al.'s counts plus its gates.
PUBLISHED_PARAMS = {
    "wrn16_4": 2_748_890, "wrn16_8": 10_961_370, "wrn28_10": 36_479_194, "wrn40_4": 8_949_210,
    "resnext29_8x64d": 34_426_698, "resnext29_16x64d": 68_155_210,
    "densenet40_12": 1_019_722, "densenet100_12": 6_979_642, "densenet_bc100_12": 769_162,
    "densenet_bc250_24": 15_324_406, "densenet_bc190_40": 25_624_430,
    "se_resnet110": 1_727_962 + 18 * (se_params(16) + se_params(32) + se_params(64)),
    "se_resnet164": preact_bottleneck_params(164, se=True),
}


def test_the_arithmetic_matches_hand_worked_values():
    assert se_params(16) == 16 + 1 + 16 + 16 == 49 and se_params(64) == 256 + 4 + 256 + 64
    # ResNet-164 (1.7M in He et al. 2016b): 1,703,258 with plain 1x1 projections, + BN on three of them.
    assert preact_bottleneck_params(164) == 1_703_258 + 2 * (64 + 128 + 256)


def test_every_successor_preset_is_shipped():
    assert set(PUBLISHED_PARAMS) <= set(group_options("model"))


@pytest.mark.parametrize("name", sorted(PUBLISHED_PARAMS))
def test_every_successor_preset_has_its_exact_parameter_count(name):
    cfg = load_config([f"model={name}"]).model
    with torch.device("meta"):  # WRN-28-10 and ResNeXt-29 16x64d are 36M and 68M parameters
        assert count_params(build_model(cfg, 3, 10)) == PUBLISHED_PARAMS[name]


def test_wide_resnet_shapes_and_summary_macs():
    model = build_model(model_config("wrn", depth=16, widen=4))
    rows = {row.name: row for row in summarize(model, (3, 32, 32))}
    # Two blocks per group, widths 64/128/256 on 32/16/8 maps, 1x1 projections where the shape changes.
    assert rows["blocks.1.conv2"].output_shape == (64, 32, 32) and rows["blocks.5.conv2"].output_shape == (256, 8, 8)
    conv = lambda c_in, c_out, size, k=3: size * size * c_out * c_in * k * k  # noqa: E731
    expected = conv(3, 16, 32) + 2560
    for c_in, width, size in ((16, 64, 32), (64, 128, 16), (128, 256, 8)):
        expected += conv(c_in, width, size) + conv(c_in, width, size, 1) + 3 * conv(width, width, size)
    assert sum(row.macs for row in rows.values()) == expected


def test_grouped_convolutions_and_se_gates_are_counted_in_macs():
    model = build_model(model_config("resnext", depth=11, cardinality=4, base_width=2, se=True))
    rows = {row.name: row for row in summarize(model, (3, 32, 32))}
    assert rows["blocks.0.conv2"].macs == 32 * 32 * 8 * 9 * 2  # 8 maps in 4 groups: 2 inputs per output
    assert rows["blocks.0.se.squeeze"].macs == 256 * 16 and rows["blocks.0.se.excite"].macs == 16 * 256


def test_dropout_sits_between_the_two_convolutions():
    model = build_model(model_config("wrn", depth=16, widen=1, dropout=0.5))
    block = model.blocks[1]  # 16 -> 16 maps: the shortcut is the identity
    seen = {}
    block.conv2.register_forward_hook(lambda _m, inputs, _o: seen.setdefault("conv2_input", inputs[0]))
    x = torch.randn(4, 16, 8, 8)
    torch.manual_seed(0)
    block.train()(x)
    activated = F.relu(block.bn2(block.conv1(F.relu(block.bn1(x)))))
    kept = seen["conv2_input"] != 0
    assert torch.allclose(seen["conv2_input"][kept], 2 * activated[kept])  # survivors scaled by 1/(1-p)
    assert 0.3 < (~kept[activated > 0]).float().mean() < 0.7  # about half of the positive activations dropped
    block.eval()
    assert torch.allclose(block(x), x + block.conv2(F.relu(block.bn2(block.conv1(F.relu(block.bn1(x)))))), atol=1e-5)


@pytest.mark.parametrize(
    "name, options",
    [("cifar", dict(depth=14, se=True)), ("cifar", dict(depth=14, block="preact", se=True)),
     ("cifar", dict(depth=20, block="preact_bottleneck", se=True)), ("wrn", dict(depth=16, widen=1, se=True)),
     ("resnext", dict(depth=20, cardinality=2, base_width=4, se=True))],
)
def test_se_gates_the_branch_before_the_addition(name, options):
    model = build_model(model_config(name, **options)).eval()
    block = model.blocks[-1]  # same shape in and out: the shortcut is the identity
    x = torch.randn(2, block.se.excite.out_features, 8, 8)
    with torch.no_grad():
        torch.nn.init.constant_(block.se.excite.bias, -100.0)  # every gate closed: the branch vanishes
        out = block(x)
    post_activation = name == "resnext" or options.get("block") == "basic" or name == "cifar" and "block" not in options
    assert torch.allclose(out, F.relu(x) if post_activation else x), "with the gates shut only the shortcut is left"


def test_densenet_stems_and_memory_efficient_gradients():
    paper, official = (build_model(model_config("densenet", depth=10, growth=4, stem=stem)) for stem in ("paper", "official"))
    assert paper.conv1.out_channels == 16 and official.conv1.out_channels == 8
    assert build_model(load_config(["model=densenet_bc100_12"]).model).conv1.out_channels == 24  # 2k for BC
    torch.manual_seed(0)
    plain = build_model(model_config("densenet", depth=10, growth=4, bottleneck=True, compression=0.5))
    saving = build_model(model_config("densenet", depth=10, growth=4, bottleneck=True, compression=0.5, memory_efficient=True))
    saving.load_state_dict(plain.state_dict())
    x = torch.randn(4, 3, 32, 32)
    plain(x).square().sum().backward(), saving(x).square().sum().backward()
    for a, b in zip(plain.parameters(), saving.parameters()):
        assert torch.allclose(a.grad, b.grad, atol=1e-5)


def test_wide_resnet_bn_weights_start_uniform_in_0_1_as_in_both_official_codes():
    torch.manual_seed(0)
    model = build_model(load_config(["model=wrn16_4"]).model)
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    gammas = torch.cat([bn.weight.detach() for bn in bns])
    assert len(gammas) == (16 + 64) + (64 + 64) + (64 + 128) + (128 + 128) + (128 + 256) + (256 + 256) + 256  # 6 blocks, final BN
    # U[0, 1): torch.rand (PyTorch code) and weight:uniform() (Lua): mean 1/2, standard deviation 1/sqrt(12).
    assert 0 <= gammas.min() and gammas.max() < 1
    assert abs(gammas.mean().item() - 0.5) < 0.03 and abs(gammas.std().item() - 12 ** -0.5) < 0.02
    assert all(torch.all(bn.bias == 0) for bn in bns)
    ones = build_model(load_config(["model=wrn16_4", "model.bn_weight_init=ones"]).model)
    assert all(torch.all(m.weight == 1) for m in ones.modules() if isinstance(m, torch.nn.BatchNorm2d))
    assert model_id(load_config(["model=wrn16_4", "model.bn_weight_init=ones"]).model) == "wrn16_4-gamma1"
    assert model_id(load_config(["model=wrn16_4"]).model) == "wrn16_4"


def test_memory_efficient_densenet_updates_bn_statistics_once_per_step_like_the_stored_mode():
    torch.manual_seed(0)
    options = dict(depth=10, growth=4, bottleneck=True, compression=0.5)
    stored = build_model(model_config("densenet", **options))
    saving = build_model(model_config("densenet", **options, memory_efficient=True))
    saving.load_state_dict(stored.state_dict())
    x = torch.randn(4, 3, 32, 32)
    stored(x).square().sum().backward(), saving(x).square().sum().backward()  # the recomputation runs in backward
    for (name, a), (_, b) in zip(stored.named_buffers(), saving.named_buffers()):
        assert torch.equal(a, b), name  # the official code's: saved before the recomputation, restored after it
    first_bn = saving.stages[0].layers[0].bn1
    assert first_bn.num_batches_tracked.item() == 1
    stem = saving.conv1(x).detach()  # what the first layer's BN sees
    assert torch.allclose(first_bn.running_mean, 0.1 * stem.mean((0, 2, 3)), atol=1e-6)  # one update at momentum 0.1, not two


def test_reflection_padding_crops_match_torch_reflect_pad():
    images = torch.randint(0, 256, (3, 3, 8, 8), dtype=torch.uint8)
    offsets, flips = torch.tensor([[0, 0], [8, 3], [2, 8]]), torch.tensor([False, True, False])
    out = augment_batch(images, torch.arange(3), offsets, flips, torch.zeros(3, 8, 8), torch.ones(1), 4, reflect_pad=True)
    padded = F.pad(images.float() / 255, (4, 4, 4, 4), mode="reflect")
    for index, ((row, col), flip) in enumerate(zip(offsets.tolist(), flips.tolist())):
        crop = padded[index, :, row:row + 8, col:col + 8]
        assert torch.equal(out[index], crop.flip(2) if flip else crop)


def test_recipes_count_in_epochs_and_experiments_bring_the_preprocessing():
    wrn = in_iterations(load_config(["model=wrn28_10", "recipe=wrn"]).recipe, 50_000)
    assert (wrn.max_iters, wrn.milestones, wrn.lr_factor, wrn.nesterov) == (200 * 390, [60 * 390, 120 * 390, 160 * 390], 0.2, True)
    dense = in_iterations(load_config(["model=densenet_bc100_12", "recipe=densenet"]).recipe, 50_000)
    assert (dense.batch_size, dense.max_iters, dense.milestones, dense.weight_decay) == (64, 300 * 781, [150 * 781, 225 * 781], 1e-4)
    cfg = load_config(["+experiment=wrn"])
    assert (cfg.data.pad_mode, cfg.data.normalize, cfg.recipe.name, cfg.data.name) == ("reflect", "channel_std", "wrn", "cifar10")
    assert load_config(["+experiment=resnext"]).data.pad_mode == "zeros"
    assert load_config([]).data.pad_mode == "zeros"  # section 4.2's recipe keeps zero padding


@pytest.mark.parametrize(
    "overrides, message",
    [(["model=wrn28_10", "model.depth=27"], "model.depth=27 is not 6n+4"),
     (["model=densenet_bc100_12", "model.depth=101"], "model.depth=101 is not 6n+4"),
     (["model=wrn16_4", "model.dropout=1.0"], "model.dropout=1.0 must be in [0, 1)"),
     (["model=resnext29_8x64d", "model.cardinality=0"], "model.cardinality=0 must be a positive"),
     (["model=se_resnet164", "model.depth=26"], "model.depth=26 is not 9n+2"),
     (["model=resnet20", "model.se=true", "model.shortcut=none"], "model.se=true"),
     (["data.pad_mode=mirror"], "data.pad_mode='mirror' is not valid")],
)
def test_impossible_shapes_are_refused_by_name(overrides, message):
    with pytest.raises(UserError) as error:
        load_config(overrides)
    assert message in str(error.value)


def test_an_impossible_shape_stops_the_command_line_with_exit_2_and_writes_nothing(tmp_path):
    result = in_process("train", "model=densenet40_12", "model.depth=41", "data=synthetic", f"out_dir={tmp_path / 'out'}")
    assert result.returncode == 2 and result.stderr.strip().splitlines() == [
        "resdeep: error: model.depth=41 is not 3n+4 with n >= 1, which DenseNet needs: three equal dense blocks"
    ]
    assert not (tmp_path / "out").exists()


TINY = {  # one small net per family, as presets in a --config-dir
    "tiny_wrn": "family: wrn\ndepth: 10\nwiden: 1\ndropout: 0.3\n",
    "tiny_resnext": "family: resnext\ndepth: 11\ncardinality: 2\nbase_width: 2\n",
    "tiny_densenet": "family: densenet\ndepth: 10\ngrowth: 4\nbottleneck: true\ncompression: 0.5\nmemory_efficient: true\n",
    "tiny_se": "family: cifar\ndepth: 11\nwidth: 4\nblock: preact_bottleneck\nshortcut: B\nse: true\n",
}


def test_each_family_trains_and_resumes_bitwise(tmp_path):
    conf = tmp_path / "conf" / "model"
    conf.mkdir(parents=True)
    for name, body in TINY.items():
        family = body.split("\n")[0].split(": ")[1]
        (conf / f"{name}.yaml").write_text(f"defaults:\n  - base_{family}\n  - _self_\n{body}")
    common = [
        "--config-dir", tmp_path / "conf", "-m", f"model={','.join(TINY)}", "data=synthetic", "data.train_size=64",
        "data.test_size=16", "recipe=smoke", "recipe.batch_size=16", "trainer.device=cpu", "trainer.progress=off",
        "trainer.log_every=2", "trainer.eval_every=2", "trainer.checkpoint_every=2", f"out_dir={tmp_path / 'out'}",
    ]
    # Stop "cut" at 2 iterations; then one sweep continues it to 4 and trains "whole" to 4 uninterrupted.
    for args in (["name=cut", "recipe.max_iters=2"], ["name=cut,whole", "recipe.max_iters=4"]):
        result = in_process("train", *common, *args)
        assert result.returncode == 0, result.stderr[-3000:]
    runs = sorted((tmp_path / "out" / "whole" / "synthetic").iterdir())
    assert [run.name for run in runs] == ["densenet_bc10_4", "resnet11-B-preact_bottleneck-w4-se", "resnext11_2x2d", "wrn10_1"]
    for run in runs:
        cut_run = tmp_path / "out" / "cut" / "synthetic" / run.name / "seed0"
        assert "from iteration 2" in (cut_run / "train.log").read_text()
        cut = cut_run / "checkpoints" / "iter_00000004.pt"
        whole = torch.load(run / "seed0" / "checkpoints" / "iter_00000004.pt", weights_only=False)["model"]
        resumed = torch.load(cut, weights_only=False)["model"]
        assert all(torch.equal(whole[key], resumed[key]) for key in whole), f"{run.name}: resumed weights differ"
