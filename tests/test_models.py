"""The networks of He et al. 2016: exact parameter counts, shapes, and plain/residual twins."""
import pytest
import torch

from conftest import in_process
from resdeep.compose import load_config
from resdeep.presets import group_options
from resdeep.errors import UserError
from resdeep.models import build_model, model_config
from resdeep.models.blocks import PadShortcut, ProjectionShortcut
from resdeep.models.stages import make_stages
from resdeep.models.summary import count_params, summarize

PAPER_CIFAR_PARAMS = {20: 269_722, 32: 464_154, 44: 658_586, 56: 853_018, 110: 1_727_962, 1202: 19_421_274}
TORCHVISION_PARAMS = {18: 11_689_512, 34: 21_797_672, 50: 25_557_032, 101: 44_549_160, 152: 60_192_808}
TABLE1_MACS = {18: 1.8e9, 34: 3.6e9, 50: 3.8e9, 101: 7.6e9, 152: 11.3e9}


def preset(name: str):
    """A preset's typed options, composed as `resdeep train model=<name>` composes them."""
    return load_config([f"model={name}"]).model


# He et al.'s presets; every other family's test file asserts its own presets' counts (test_successors.py, ...).
HE_PRESETS = {f"{kind}{depth}" for kind in ("plain", "resnet") for depth in PAPER_CIFAR_PARAMS}
HE_PRESETS |= {"plain18", "plain34"} | {f"resnet{depth}" for depth in TORCHVISION_PARAMS}


def test_every_paper_preset_is_shipped():
    assert HE_PRESETS <= set(group_options("model"))


@pytest.mark.parametrize("name", sorted(HE_PRESETS))
def test_every_preset_has_its_paper_parameter_count(name):
    cfg = preset(name)
    classes = 10 if cfg.family == "cifar" else 1000
    model = build_model(cfg, 3, classes)
    expected = PAPER_CIFAR_PARAMS[cfg.depth] if cfg.family == "cifar" else None
    if cfg.family == "imagenet" and cfg.shortcut == "B":
        expected = TORCHVISION_PARAMS[cfg.depth]
    if expected is not None:
        assert count_params(model) == expected
    if cfg.depth <= 152:  # a forward pass of the 1202-layer net is covered by its count
        size = 32 if cfg.family == "cifar" else 64
        assert model(torch.zeros(2, 3, size, size)).shape == (2, classes)


@pytest.mark.parametrize("depth", [20, 56, 110])
def test_plain_net_has_the_same_parameters_as_its_residual_twin(depth):
    plain, residual = build_model(model_config("cifar", depth=depth, shortcut="none")), build_model(model_config("cifar", depth=depth))
    assert [(n, p.shape) for n, p in plain.named_parameters()] == [(n, p.shape) for n, p in residual.named_parameters()]
    plain.load_state_dict(residual.state_dict())
    plain.eval(), residual.eval()
    x = torch.randn(2, 3, 32, 32)
    assert not torch.allclose(plain(x), residual(x)), "the shortcut must change the function"
    # With every residual branch silenced, the residual net is its shortcuts alone, the plain net is zero.
    for module in list(plain.modules()) + list(residual.modules()):
        if hasattr(module, "last_bn"):
            torch.nn.init.zeros_(module.last_bn().weight)
            torch.nn.init.zeros_(module.last_bn().bias)
    assert residual.blocks(torch.ones(1, 16, 32, 32)).abs().sum() > 0
    assert plain.blocks(torch.ones(1, 16, 32, 32)).abs().sum() == 0


def test_shortcut_options_b_and_c_add_projections():
    b = build_model(model_config("cifar", depth=20, shortcut="B"))
    c = build_model(model_config("cifar", depth=20, shortcut="C"))
    assert sum(isinstance(m, ProjectionShortcut) for m in b.modules()) == 2  # where the width grows
    assert sum(isinstance(m, ProjectionShortcut) for m in c.modules()) == 9  # every block
    # B: two 1x1 convs (16->32, 32->64) with BN; C adds 1x1 convs on all nine blocks.
    assert count_params(b) == 269_722 + (16 * 32 + 64) + (32 * 64 + 128)
    stage1 = 3 * (16 * 16 + 32)
    stage2 = (16 * 32 + 64) + 2 * (32 * 32 + 64)
    stage3 = (32 * 64 + 128) + 2 * (64 * 64 + 128)
    assert count_params(c) == 269_722 + stage1 + stage2 + stage3


def test_option_a_pads_with_zeros_and_subsamples():
    shortcut = PadShortcut(16, 32, 2)
    x = torch.randn(1, 16, 8, 8)
    y = shortcut(x)
    assert y.shape == (1, 32, 4, 4)
    assert torch.equal(y[:, :16], x[:, :, ::2, ::2]) and torch.count_nonzero(y[:, 16:]) == 0


@pytest.mark.parametrize("depth", [18, 34, 50, 101, 152])
def test_imagenet_macs_are_within_5_percent_of_table_1(depth):
    model = build_model(model_config("imagenet", depth=depth, shortcut="B"), 3, 1000)
    macs = sum(row.macs for row in summarize(model, (3, 224, 224)))
    assert abs(macs - TABLE1_MACS[depth]) / TABLE1_MACS[depth] < 0.05


def test_bottleneck_stride_placement_changes_cost_not_parameters():
    paper = build_model(model_config("imagenet", depth=50, shortcut="B"), 3, 1000)
    tv = build_model(model_config("imagenet", depth=50, shortcut="B", bottleneck_stride="torchvision"), 3, 1000)
    assert count_params(paper) == count_params(tv) == 25_557_032
    assert paper.blocks[3].conv1.stride == (2, 2) and tv.blocks[3].conv2.stride == (2, 2)
    macs = lambda m: sum(r.macs for r in summarize(m, (3, 224, 224)))  # noqa: E731
    assert macs(tv) > macs(paper)


def test_resnet56_costs_about_125m_multiply_adds():
    macs = sum(row.macs for row in summarize(build_model(model_config("cifar", depth=56)), (3, 32, 32)))
    assert abs(macs - 125e6) / 125e6 < 0.02


def test_input_channels_follow_the_data():
    model = build_model(model_config("cifar", depth=20), in_channels=1)
    assert model.conv1.in_channels == 1 and model(torch.zeros(2, 1, 28, 28)).shape == (2, 10)


def test_he_init_and_bn_defaults():
    model = build_model(model_config("cifar", depth=56))
    conv = model.blocks[20].conv1
    expected_std = (2 / (conv.out_channels * 9)) ** 0.5
    assert abs(conv.weight.std().item() - expected_std) / expected_std < 0.1
    assert all(torch.all(m.weight == 1) and torch.all(m.bias == 0) for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d))


def test_zero_init_residual_is_an_option_that_silences_each_branch():
    model = build_model(model_config("cifar", depth=20, zero_init_residual=True))
    assert all(torch.all(block.bn2.weight == 0) for block in model.blocks)
    plain = build_model(model_config("cifar", depth=20, shortcut="none", zero_init_residual=True))
    assert all(torch.all(block.bn2.weight == 1) for block in plain.blocks)  # no branch to silence in a plain net


def test_preact_block_puts_nothing_after_the_addition():
    model = build_model(model_config("cifar", depth=20, block="preact"))
    block = model.blocks[1]
    x = torch.randn(1, 16, 8, 8)
    block.eval()
    branch = block.conv2(torch.relu(block.bn2(block.conv1(torch.relu(block.bn1(x))))))
    assert torch.allclose(block(x), x + branch, atol=1e-6)
    assert count_params(model) == 269_722  # the BNs move (before each conv, one at the end); the total stays


def test_activation_checkpointing_gives_the_same_gradients():
    torch.manual_seed(0)
    plain = build_model(model_config("cifar", depth=20))
    ckpt = build_model(model_config("cifar", depth=20, checkpoint_activations=True))
    ckpt.load_state_dict(plain.state_dict())
    x = torch.randn(4, 3, 32, 32)
    plain(x).sum().backward(), ckpt(x).sum().backward()
    for a, b in zip(plain.parameters(), ckpt.parameters()):
        assert torch.allclose(a.grad, b.grad, atol=1e-5)


def test_each_family_has_only_its_own_options():
    assert load_config(["model=resnet56"]).model.block == "basic"
    with pytest.raises(UserError, match="model.bottleneck_stride"):
        load_config(["model=resnet56", "model.bottleneck_stride=paper"])
    with pytest.raises(UserError, match="imagenet presets"):
        load_config(["model=resnet56", "model.family=imagenet"])


# An option several families share, set to a value only another family offers: refused by the family it was given to,
# by name, in one line (the command line exits with status 2).
@pytest.mark.parametrize("overrides, says", [
    (["model=resnet34", "model.shortcut=highway"], "model.shortcut='highway' is not valid; choose one of: A, B, C, none"),
    (["model=resnet20", "model.shortcut=identity"], "model.shortcut='identity' is not valid; choose one of: A, B, C, none, highway"),
    (["model=resnet20", "model.shortcut=residual"], "model.shortcut='residual' is not valid; choose one of: A, B, C, none, highway"),
    (["model=mnist_resnet", "model.shortcut=A"], "model.shortcut='A' is not valid for mnist_resnet; choose one of: identity, none"),
    (["model=fc_plain", "model.shortcut=B"], "model.shortcut='B' is not valid for the fc family; choose one of: none, highway, residual"),
    (["model=fc_plain", "model.activation=crelu"], "model.activation='crelu' is not valid for the fc family; choose one of: relu, tanh"),
    (["model=plain20", "model.activation=tanh"], "model.activation='tanh' is not valid; choose one of: relu, crelu"),
    (["model=fc_plain", "model.init=fixup"], "model.init='fixup' is not valid for the fc family; choose one of: glorot, he"),
    (["model=resnet20", "model.init=glorot"], "model.init='glorot' is not valid; choose one of: he, looks_linear, fixup"),
    (["model=highway19", "model.init=looks_linear"], "model.init='looks_linear' is not valid; choose one of: official, he"),
    (["model=densenet40_12", "model.stem=conv3x3_bn"], "model.stem='conv3x3_bn' is not valid; choose one of: paper, official"),
    (["model=mnist_resnet", "model.stem=official"], "model.stem='official' is not valid for mnist_resnet; choose one of: conv1x1, conv3x3_bn"),
    # An option only other families have: not a key of this family's schema.
    (["model=resnet34", "model.stochastic_depth=0.5"], "unknown config key 'model.stochastic_depth'"),
    (["model=resnet20", "model.dropout=0.3"], "unknown config key 'model.dropout'"),
    (["model=resnet20", "model.bn_weight_init=ones"], "unknown config key 'model.bn_weight_init'"),
])
def test_a_shared_option_with_another_familys_value_is_refused_in_one_line(overrides, says):
    with pytest.raises(UserError) as refused:
        load_config(overrides)
    assert says in str(refused.value) and "\n" not in str(refused.value)


def test_an_imagenet_net_with_a_highway_shortcut_stops_with_exit_2_and_writes_nothing(tmp_path):
    # It used to be accepted: an option-A net named resnet34-highway.
    done = in_process("train", "model=resnet34", "model.shortcut=highway", "data=synthetic", f"out_dir={tmp_path}/out")
    assert done.returncode == 2 and done.stderr.strip().splitlines() == [
        "resdeep: error: model.shortcut='highway' is not valid; choose one of: A, B, C, none"]
    assert not (tmp_path / "out").exists()


def test_the_stage_builder_strides_the_first_block_of_each_stage_and_chains_the_widths():
    made = []

    def block(in_channels, width, stride, index):  # a 1x1 conv writing twice its width stands in for a block
        made.append((index, in_channels, width, stride))
        return torch.nn.Conv2d(in_channels, 2 * width, 1, stride=stride)

    blocks = make_stages(8, widths=(4, 8), blocks_per_stage=(2, 3), strides=(1, 2), make_block=block)
    assert made == [(0, 8, 4, 1), (1, 8, 4, 1), (2, 8, 8, 2), (3, 16, 8, 1), (4, 16, 8, 1)]
    assert blocks(torch.zeros(1, 8, 8, 8)).shape == (1, 16, 4, 4)
