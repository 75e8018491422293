"""Restructuring the model code changed no network: outputs, gradients and checkpoint keys as before (issue h23).

tests/fixtures/model_outputs.pt was written by the code before models/ was restructured (commit 095418e, the
copy of this file's NETS and rules run against it): for small nets of every family, the state_dict's names and
shapes, and in float64, for weights set by `refill` (a rule of each tensor's order and shape alone), the
eval-mode logits, the train-mode logits (dropout and stochastic depth drawing from a seeded generator), every
parameter's cross-entropy gradient and the buffers after that step (whole, or 16 elements and the sum when larger). On the machine that wrote it the match is bitwise; the 1e-10 margin only absorbs another CPU's BLAS
summation order, while a changed computation shows at 1e-3 or more.
"""
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from resdeep.compose import load_config
from resdeep.models import build_model

FIXTURE = Path(__file__).parent / "fixtures" / "model_outputs.pt"

# name -> overrides: a few small nets per family, each option the families offer at least once.
NETS = {
    "plain8": ["model=plain20", "model.depth=8", "model.width=4"],
    "resnet8_A": ["model=resnet20", "model.depth=8", "model.width=4"],
    "resnet8_B": ["model=resnet20", "model.depth=8", "model.width=4", "model.shortcut=B"],
    "resnet8_C": ["model=resnet20", "model.depth=8", "model.width=4", "model.shortcut=C"],
    "resnet8_preact": ["model=resnet20", "model.depth=8", "model.width=4", "model.block=preact"],
    "resnet8_preact_B_se": ["model=resnet20", "model.depth=8", "model.width=16", "model.block=preact", "model.shortcut=B", "model.se=true"],
    "resnet11_preact_bottleneck_se": ["model=se_resnet164", "model.depth=11", "model.width=4"],
    "resnet8_se": ["model=resnet20", "model.depth=8", "model.width=16", "model.se=true"],
    "highway8": ["model=highway20", "model.depth=8", "model.width=4", "model.gate_bias=-1"],
    "resnet14_stochastic_depth": ["model=resnet20", "model.depth=14", "model.width=4", "model.stochastic_depth=0.5"],
    "looks_linear8": ["model=looks_linear20", "model.depth=8", "model.width=4"],
    "looks_linear8_nonorm": ["model=looks_linear20", "model.depth=8", "model.width=4", "model.norm=none"],
    "fixup8": ["model=fixup110", "model.depth=8", "model.width=4"],
    "plain18": ["model=plain18"],
    "resnet18_A": ["model=resnet18", "model.shortcut=A"],
    "resnet50_tv": ["model=resnet50", "model.bottleneck_stride=torchvision"],
    "wrn10_1": ["model=wrn16_4", "model.depth=10", "model.widen=1"],
    "wrn10_2_se": ["model=wrn16_4", "model.depth=10", "model.widen=2", "model.dropout=0", "model.se=true"],
    "resnext11_2x4d_se": ["model=resnext29_8x64d", "model.depth=11", "model.cardinality=2", "model.base_width=4", "model.se=true"],
    "densenet10_4": ["model=densenet40_12", "model.depth=10", "model.growth=4", "model.dropout=0.2"],
    "densenet_bc10_4": ["model=densenet_bc100_12", "model.depth=10", "model.growth=4"],
    "highway19": ["model=highway19"],
    "fc_plain5": ["model=fc_plain", "model.depth=5", "model.width=8"],
    "fc_highway5_tanh": ["model=fc_highway", "model.depth=5", "model.width=8", "model.activation=tanh"],
    "fc_residual5": ["model=fc_residual", "model.depth=5", "model.width=8"],
    "mnist_resnet6_w4": ["model=mnist_resnet", "model.depth=6", "model.width=4"],
    "mnist_plain6_w4_nobn": ["model=mnist_resnet", "model.depth=6", "model.width=4", "model.shortcut=none", "model.norm=none"],
}
SAMPLED = 16  # gradients and buffers larger than this are kept as this many evenly spaced elements and the sum


def data_shape(family: str):
    """(batch, channels, size, classes): MNIST for the MNIST families, CIFAR-10 for the others (ImageNet nets at 64x64)."""
    if family in ("fc", "mnist_resnet"):
        return 2, 1, 28, 10
    return (1, 3, 64, 1000) if family == "imagenet" else (2, 3, 32, 10)


def refill(model: torch.nn.Module, seed: int = 7) -> None:
    """Every floating tensor of the state_dict from a rule of its order, its name's last part and its shape."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if not tensor.is_floating_point():
                continue
            leaf = name.rsplit(".", 1)[-1]
            shape = tensor.shape
            if leaf == "running_var":
                value = torch.rand(shape, generator=generator, dtype=torch.float64) * 1.5 + 0.5
            elif leaf == "running_mean":
                value = torch.randn(shape, generator=generator, dtype=torch.float64) * 0.1
            elif tensor.dim() >= 2:
                value = torch.randn(shape, generator=generator, dtype=torch.float64) * tensor[0].numel() ** -0.5
            elif leaf in ("weight", "scale"):
                value = 1 + 0.1 * torch.randn(shape, generator=generator, dtype=torch.float64)
            else:
                value = 0.1 * torch.randn(shape, generator=generator, dtype=torch.float64)
            tensor.copy_(value.to(tensor.dtype))


def kept(tensor: torch.Tensor) -> torch.Tensor:
    """The whole tensor, or SAMPLED evenly spaced elements and the sum."""
    flat = tensor.detach().flatten()
    if flat.numel() <= SAMPLED:
        return flat.clone()
    index = torch.linspace(0, flat.numel() - 1, SAMPLED).long()
    return torch.cat([flat[index], flat.sum().view(1)])


def outputs(overrides):
    """The state_dict's names and shapes, and the float64 outputs of the refilled net."""
    cfg = load_config(overrides).model
    batch, channels, size, classes = data_shape(cfg.family)
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(batch, channels, size, size, generator=generator, dtype=torch.float64)
    labels = torch.randint(0, classes, (batch,), generator=generator)
    torch.manual_seed(0)
    model = build_model(cfg, channels, classes)
    keys = [(name, tuple(tensor.shape)) for name, tensor in model.state_dict().items()]
    refill(model)
    model.double().eval()
    with torch.no_grad():
        eval_logits = model(x)
    model.train()
    torch.manual_seed(3)  # dropout and stochastic depth draw from here
    train_logits = model(x)
    F.cross_entropy(train_logits, labels).backward()
    grads = [(name, p.grad) for name, p in model.named_parameters()]
    return {
        "keys": keys,
        "eval_logits": eval_logits,
        "train_logits": train_logits.detach(),
        "grads": packed([(name, None if grad is None else kept(grad)) for name, grad in grads]),
        "buffers": packed([(name, kept(buffer).double()) for name, buffer in model.named_buffers()]),
    }


def packed(named: list) -> dict:
    """Names, sizes (-1 for a missing gradient) and one float64 tensor: a file of few tensors stays small."""
    sizes = [-1 if value is None else value.numel() for _, value in named]
    values = [value.double() for _, value in named if value is not None]
    return {"names": [name for name, _ in named], "sizes": sizes, "values": torch.cat(values) if values else torch.zeros(0)}


@pytest.fixture(scope="module")
def before():
    return torch.load(FIXTURE, weights_only=True)


def test_the_fixture_is_small_and_covers_every_net():
    assert FIXTURE.stat().st_size < 500_000
    assert set(torch.load(FIXTURE, weights_only=True)) == set(NETS)


def same(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Equal to 1e-10 of the recorded tensor's largest value (bitwise on the machine that wrote the fixture)."""
    if a.shape != b.shape:
        return False
    return b.numel() == 0 or bool((a - b).abs().max() <= 1e-10 * b.abs().max())


pytestmark = pytest.mark.usefixtures("one_thread")  # One thread, as the fixture was written: two threads sum BN's and the convs' gradients in another order.


@pytest.mark.parametrize("name", sorted(NETS))
def test_a_net_computes_what_it_computed_before_and_loads_old_checkpoints(name, before):
    old, new = before[name], outputs(NETS[name])
    assert new["keys"] == old["keys"], "state_dict names, order or shapes changed: old checkpoints would not load"
    assert same(new["eval_logits"], old["eval_logits"]) and same(new["train_logits"], old["train_logits"])
    for part in ("grads", "buffers"):
        assert new[part]["names"] == old[part]["names"] and new[part]["sizes"] == old[part]["sizes"], part
        start = 0
        for tensor, size in zip(new[part]["names"], new[part]["sizes"]):
            end = start + max(size, 0)
            assert same(new[part]["values"][start:end], old[part]["values"][start:end]), f"{part}: {tensor}"
            start = end
