"""The GPU path, checked on a GPU: skipped where torch sees no CUDA device (CI has none).

On a GPU machine `pytest tests/test_cuda.py` runs them (scripts/gpu_checks.sh does, first); each compares the captured or
compiled step with the plain eager step it stands in for, so a mistake in the fast path shows as a number
that differs from the recipe's, not only as a crash."""
import copy
import json
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from conftest import fast_path, in_process
from resdeep.engine.optim import make_optimizer, set_learning_rate
from resdeep.engine.train_step import GraphedTrainStep, make_train_step
from resdeep.models import build_model, model_config

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

CUDA = torch.device("cuda")
SGD = SimpleNamespace(lr=0.1, momentum=0.9, weight_decay=1e-4, nesterov=False)


@pytest.fixture
def deterministic_cudnn():
    """The same convolution algorithms in the eager and the captured step, so the two can be compared closely."""
    saved = torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    yield
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = saved


def batches(count: int, size: int = 16):
    generator = torch.Generator().manual_seed(1)
    return [(torch.randn(size, 3, 32, 32, generator=generator).to(CUDA), torch.randint(0, 10, (size,), generator=generator).to(CUDA))
            for _ in range(count)]


def test_the_captured_step_trains_on_the_same_numbers_as_the_eager_step(deterministic_cudnn):
    """The README's promise: the warm-up before capture is undone (weights, BN statistics, momentum, rate), so
    replaying the graph gives the eager step's numbers, through rate changes, a zero rate included."""
    torch.manual_seed(0)
    eager_net = build_model(model_config("cifar", depth=8, width=8)).to(CUDA)
    graphed_net = copy.deepcopy(eager_net)
    eager_fast, graphed_fast = fast_path(), fast_path(cuda_graphs=True)
    eager_sgd, graphed_sgd = make_optimizer(eager_net, SGD, eager_fast), make_optimizer(graphed_net, SGD, graphed_fast)
    eager = make_train_step(eager_net, eager_sgd, eager_fast, CUDA, (16, 3, 32, 32))
    before_capture = copy.deepcopy(graphed_net.state_dict())
    graphed = make_train_step(graphed_net, graphed_sgd, graphed_fast, CUDA, (16, 3, 32, 32))
    assert isinstance(graphed, GraphedTrainStep)
    for name, value in graphed_net.state_dict().items():  # the warm-up steps left no trace
        assert torch.equal(value, before_capture[name]), name

    for rate, (images, labels) in zip([0.1, 0.1, 0.05, 0.0, 0.1, 0.01], batches(6)):
        set_learning_rate(eager_sgd, rate)
        set_learning_rate(graphed_sgd, rate)
        weights = [p.detach().clone() for p in graphed_net.parameters()]
        eager_loss, eager_wrong = eager(images, labels)
        graphed_loss, graphed_wrong = graphed(images, labels)
        assert torch.allclose(graphed_loss, eager_loss, rtol=1e-5) and int(graphed_wrong) == int(eager_wrong)
        if rate == 0.0:  # the captured update reads the rate written after capture
            assert all(torch.equal(p, w) for p, w in zip(graphed_net.parameters(), weights))
        else:
            assert not all(torch.equal(p, w) for p, w in zip(graphed_net.parameters(), weights))
    for (name, value), expected in zip(graphed_net.state_dict().items(), eager_net.state_dict().values()):
        assert torch.allclose(value.float(), expected.float(), rtol=1e-4, atol=1e-6), name
    for p, q in zip(graphed_net.parameters(), eager_net.parameters()):
        assert torch.allclose(graphed_sgd.state[p]["momentum_buffer"], eager_sgd.state[q]["momentum_buffer"], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
def test_dropout_inside_a_captured_step_draws_a_new_mask_at_every_replay(compiled):
    """WRN's dropout runs on the GPU's generator, which CUDA graphs advance at each replay: not one mask forever."""
    torch.manual_seed(0)
    net = build_model(model_config("wrn", depth=10, widen=1, dropout=0.3)).to(CUDA)
    fast = fast_path(cuda_graphs=True, compile=compiled)
    sgd = make_optimizer(net, SGD, fast)
    step = make_train_step(net, sgd, fast, CUDA, (16, 3, 32, 32))
    assert isinstance(step, GraphedTrainStep)
    set_learning_rate(sgd, 0.0)  # the weights stay put: only the masks can change the loss
    images, labels = batches(1)[0]
    losses = {float(step(images, labels)[0]) for _ in range(4)}
    assert len(losses) == 4

    without = build_model(model_config("wrn", depth=10, widen=1, dropout=0.0)).to(CUDA)
    fast = fast_path(cuda_graphs=True, compile=compiled)
    sgd = make_optimizer(without, SGD, fast)
    step = make_train_step(without, sgd, fast, CUDA, (16, 3, 32, 32))
    set_learning_rate(sgd, 0.0)
    assert len({float(step(images, labels)[0]) for _ in range(3)}) == 1  # no dropout: the same loss each replay


def test_bf16_autocast_on_cuda_runs_the_convolutions_in_bfloat16_and_keeps_fp32_weights():
    net = build_model(model_config("cifar", depth=8, width=8)).to(CUDA)
    fast = fast_path(bf16=True)
    sgd = make_optimizer(net, SGD, fast)
    seen = []
    hooks = [m.register_forward_hook(lambda module, inputs, output: seen.append(output.dtype))
             for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    make_train_step(net, sgd, fast, CUDA, (16, 3, 32, 32))(*batches(1)[0])
    for hook in hooks:
        hook.remove()
    assert seen and set(seen) == {torch.bfloat16}
    assert {p.dtype for p in net.parameters()} == {torch.float32}


def test_stochastic_depth_on_cuda_turns_capture_and_compile_off_and_says_so_in_the_runs_log(tmp_path):
    args = ["data=synthetic", "data.train_size=256", "data.test_size=64", "model=resnet20", "model.depth=8",
            "model.stochastic_depth=0.5", "recipe=smoke", "recipe.batch_size=32", "recipe.max_iters=12",
            "trainer.log_every=4", "trainer.eval_every=12", "trainer.device=cuda", "trainer.progress=lines", f"out_dir={tmp_path}"]
    done = in_process("train", *args)
    assert done.returncode == 0, done.stdout + done.stderr
    run = next(tmp_path.rglob("result.json")).parent
    log = (run / "train.log").read_text()
    assert "whole-step CUDA graph and torch.compile turned off" in log
    assert "fast path: channels_last, bf16, fused_optimizer" in log  # what is left on


def test_the_default_cuda_path_trains_resumes_and_extends_a_run(tmp_path):
    """Everything on (compile, capture, bf16, fused SGD, the device loader); a run extended from its last
    checkpoint re-captures its graph and continues the same curve."""
    args = ["data=synthetic", "data.train_size=512", "data.test_size=128", "model=resnet20", "model.depth=8",
            "recipe=smoke", "recipe.batch_size=32", "trainer.log_every=10", "trainer.eval_every=20",
            "trainer.checkpoint_every=20", "trainer.device=cuda", "trainer.progress=lines", f"out_dir={tmp_path}"]
    first = in_process("train", *args, "recipe.max_iters=40")
    assert first.returncode == 0, first.stdout + first.stderr
    run = next(tmp_path.rglob("result.json")).parent
    assert "fast path: channels_last, bf16, compile, cuda_graphs, fused_optimizer" in (run / "train.log").read_text()
    extended = in_process("train", *args, "recipe.max_iters=60")
    assert extended.returncode == 0, extended.stdout + extended.stderr
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    train_rows = [r["iteration"] for r in rows if "train_loss" in r]
    assert train_rows == sorted(set(train_rows)) and train_rows[-1] == 60
    result = json.loads((run / "result.json").read_text())
    assert result["iterations"] == 60 and 0 <= result["final_train_error"] <= 100
