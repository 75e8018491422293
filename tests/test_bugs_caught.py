"""Small, realistic bugs that once slipped through the suite, each caught here (see docs/testing.md).

Each test states an expectation worked out from the paper or by hand, never a number copied from a run.
"""
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import resdeep.engine.train as engine
from resdeep.compose import load_config
from resdeep.data.arrays import ImageArrays
from resdeep.data.device_loader import DeviceLoader, Normalizer
from resdeep.engine.distributed import World
from resdeep.engine.evaluate import evaluate
from resdeep.engine.train_step import make_train_step
from resdeep.engine.signals import StopRequest
from resdeep.models import build_model


def small_run(*extra, iters=20, model=("model=resnet20", "model.depth=8")):
    """A CPU run of a small net on a slice of the built-in data, checkpointing every 5 iterations."""
    return load_config([
        "data=synthetic", "data.train_size=256", "data.test_size=32", *model,
        "recipe=smoke", "recipe.batch_size=16", f"recipe.max_iters={iters}", "trainer.log_every=5",
        "trainer.eval_every=10", "trainer.checkpoint_every=5", "trainer.keep_checkpoints=100",
        "trainer.device=cpu", "trainer.progress=off", "trainer.channels_last=false", *extra,
    ])


def train_in_process(cfg, run_dir: Path) -> dict:
    """The engine's own train(), without the CLI's start-up cost."""
    run_dir.mkdir(parents=True, exist_ok=True)
    return engine.train(cfg, run_dir, World(), StopRequest())


def checkpoint_lrs(run_dir: Path) -> dict:
    """{iteration: the optimizer's learning rate saved in that checkpoint}."""
    rates = {}
    for path in sorted((run_dir / "checkpoints").glob("iter_*.pt")):
        groups = torch.load(path, weights_only=False)["optimizer"]["param_groups"]
        assert len({float(g["lr"]) for g in groups}) == 1
        rates[int(path.stem.split("_")[1])] = float(groups[0]["lr"])
    return rates


def train_errors(run_dir: Path) -> dict:
    events = EventAccumulator(str(run_dir / "tb"))
    events.Reload()
    return {e.step: e.value for e in events.Scalars("error/train")}


# Bug 1: the engine never applies the schedule (the optimizer stays at its initial 0.1).

def test_the_optimizer_runs_at_the_schedules_rate_through_warm_up_and_a_milestone(tmp_path):
    # Warm-up on a depth-8 net (warmup_min_depth=8, until error < 90%), a milestone at 12: the rate of step
    # k (1-based) is 0.01 until the first log point with training error below 90%, then 0.05, and a tenth
    # of that from step index 12 on.
    cfg = small_run("recipe.batch_size=8", "data.train_size=64", "recipe.warmup_min_depth=8", "recipe.warmup_until_error=90",
                    "recipe.milestones=[12]", "recipe.lr=0.05", "trainer.log_every=4", "trainer.checkpoint_every=4",
                    "trainer.eval_every=100", iters=20)
    result = train_in_process(cfg, tmp_path)
    errors = train_errors(tmp_path)
    assert sorted(errors) == [4, 8, 12, 16, 20]
    ended = next((step for step, error in sorted(errors.items()) if error < 90.0), None)
    assert result["warmup_ended_at"] == ended

    def expected(k):
        if ended is None or k <= ended:
            return 0.01
        return 0.05 * (0.1 if k - 1 >= 12 else 1.0)

    saved = checkpoint_lrs(tmp_path)
    assert sorted(saved) == [4, 8, 12, 16, 20]
    assert ended is not None and ended < 12, "the run must pass warm-up, base rate and milestone to test all three"
    for k, lr in saved.items():
        assert lr == pytest.approx(expected(k), rel=1e-9), f"checkpoint {k}"


def test_a_110_layer_net_starts_at_0_01_and_switches_to_0_1_at_the_log_point_where_error_drops(tmp_path):
    # Section 4.2 on the real ResNet-110: warm-up applies from depth 110. With a threshold of 100% the
    # first log point with any right answer ends it; steps up to it use 0.01, the later ones 0.1.
    cfg = small_run("recipe.batch_size=4", "data.train_size=16", "data.test_size=8", "recipe.warmup_until_error=100",
                    "trainer.log_every=2", "trainer.checkpoint_every=2", "trainer.eval_every=100", iters=6,
                    model=["model=resnet110"])
    result = train_in_process(cfg, tmp_path)
    ended = next((step for step, error in sorted(train_errors(tmp_path).items()) if error < 100.0), None)
    assert ended is not None and ended < 6, "some answer in the first 16 images is right"
    assert result["warmup_ended_at"] == ended
    assert checkpoint_lrs(tmp_path) == {k: pytest.approx(0.01 if k <= ended else 0.1) for k in (2, 4, 6)}
    assert f"warm-up ended at iteration {ended}" in (tmp_path / "train.log").read_text()


# Bug 2: resume does not restore the global random number generators.

class DrawingStep:
    """A train step that also draws from every global RNG, as dropout and stochastic depth do."""

    def __init__(self, step, draws: list):
        self.step, self.draws = step, draws

    def __getattr__(self, name):
        return getattr(self.step, name)

    def __call__(self, images, labels):
        self.draws.append((torch.rand(1).item(), float(np.random.rand()), random.random()))
        return self.step(images, labels)


def test_a_resumed_run_continues_the_global_random_sequences_where_they_stopped(tmp_path, monkeypatch):
    draws = []
    real = engine.make_train_step
    monkeypatch.setattr(engine, "make_train_step", lambda *a, **k: DrawingStep(real(*a, **k), draws))
    quick = ("recipe.batch_size=8", "data.train_size=64", "trainer.eval_every=100")
    train_in_process(small_run(*quick, iters=10), tmp_path / "whole")
    whole = list(draws)
    draws.clear()
    train_in_process(small_run(*quick, iters=5), tmp_path / "cut")
    train_in_process(small_run(*quick, iters=10), tmp_path / "cut")  # resumes at 5
    assert len(whole) == len(draws) == 10
    assert draws == whole, "after a resume, torch, numpy and python must continue their sequences"


# Bug 3: He initialisation with fan_in instead of fan_out.

@pytest.mark.parametrize("overrides", [["model=resnet20"], ["model=resnet20", "model.shortcut=B"], ["model=resnet18"]])
def test_every_convolution_starts_with_he_fan_out_std(overrides):
    # std = sqrt(2 / (out_channels * k * k)) (the authors' Torch release); fan_in differs wherever the
    # width changes: 3->16 3x3 (27 vs 144), 16->32 (144 vs 288), 3->64 7x7 (147 vs 3136), the 1x1s.
    torch.manual_seed(0)
    cfg = load_config(overrides)
    model = build_model(cfg.model, 3, 10)
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert any(c.in_channels != c.out_channels for c in convs)
    for conv in convs:
        k = conv.kernel_size[0] * conv.kernel_size[1]
        fan_out, fan_in = conv.out_channels * k, conv.in_channels * k
        std = conv.weight.std().item()
        assert abs(std - (2 / fan_out) ** 0.5) < 0.12 * (2 / fan_out) ** 0.5, (conv, std)
        if fan_in != fan_out:
            assert abs(std - (2 / fan_in) ** 0.5) > 0.2 * (2 / fan_in) ** 0.5


# Bug 4: crop offsets drawn from 0..7 instead of 0..8 (a shift of +4 pixels never happens).

def position_image() -> torch.Tensor:
    """One 3x32x32 uint8 image whose pixels say where they are: (row + 1, col + 1, 7); padding reads 0."""
    rows = torch.arange(1, 33)[:, None].expand(32, 32)
    cols = torch.arange(1, 33)[None, :].expand(32, 32)
    return torch.stack([rows, cols, torch.full((32, 32), 7)]).to(torch.uint8)


def reference_crop(image: torch.Tensor, dy: int, dx: int, flip: bool) -> torch.Tensor:
    """The paper's augmentation written independently: pad 4 zeros, crop 32x32 at (4+dy, 4+dx), mirror."""
    padded = torch.nn.functional.pad(image.float(), (4, 4, 4, 4))
    crop = padded[:, 4 + dy: 36 + dy, 4 + dx: 36 + dx]
    return crop.flip(-1) if flip else crop


def test_crops_shift_by_every_offset_from_minus_4_to_4_uniformly_and_flip_half_the_time():
    count, batch, batches = 512, 256, 36
    image = position_image()
    arrays = ImageArrays(image.expand(count, 3, 32, 32).clone(), torch.zeros(count, dtype=torch.long))
    loader = DeviceLoader(arrays, batch, Normalizer(arrays.images, "none"), torch.device("cpu"), seed=1)
    seen = {}
    for _ in range(batches):
        images, _ = loader.next_batch()
        pixels = torch.round(images * 255)
        for out in pixels:
            flip = bool(out[1, 16, 17] < out[1, 16, 16])  # columns run backwards in a mirrored crop
            dy = int(out[0, 16, 16]) - 1 - 16
            dx = int(out[1, 16, 16]) - 1 - (15 if flip else 16)
            assert torch.equal(out, reference_crop(image, dy, dx, flip)), (dy, dx, flip)
            seen[(dy, dx, flip)] = seen.get((dy, dx, flip), 0) + 1
    shifts = {}
    for (dy, dx, _), n in seen.items():
        shifts[(dy, dx)] = shifts.get((dy, dx), 0) + n
    assert set(shifts) == {(dy, dx) for dy in range(-4, 5) for dx in range(-4, 5)}
    draws = batch * batches  # 9216: each of the 81 shifts about 114 times (std about 11)
    assert all(0.5 * draws / 81 < n < 1.5 * draws / 81 for n in shifts.values()), shifts
    flipped = sum(n for (_, _, flip), n in seen.items() if flip)
    assert abs(flipped - draws / 2) < 0.05 * draws


# Bug 5: bf16 autocast never applied.

@pytest.mark.parametrize("precision, dtype", [("bf16", torch.bfloat16), ("fp32", torch.float32)])
def test_bf16_precision_runs_the_convolutions_in_bfloat16_in_training_and_evaluation(precision, dtype):
    cfg = small_run(f"trainer.precision={precision}")
    device = torch.device("cpu")
    _, data, model, optimizer = engine.build_training(cfg, device, World())
    step = make_train_step(model, optimizer, engine.resolve_fast_path(cfg.trainer, device), device, engine.local_batch_shape(cfg, data, World()))
    seen = []
    model.conv1.register_forward_hook(lambda _m, _i, output: seen.append(output.dtype))
    before = [p.detach().clone() for p in model.parameters()]
    step(*data.train.next_batch())
    evaluate(model, data.eval_sets["test"], step.prepare, step.autocast)
    assert seen and set(seen) == {dtype}
    assert all(p.dtype == torch.float32 for p in model.parameters()), "master weights stay fp32"
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))
