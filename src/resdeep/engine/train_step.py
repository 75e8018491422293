"""One training step (forward, loss, backward, SGD update), eager or captured whole in a CUDA graph."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from resdeep.engine.fast_path import FastPath, autocast_context


class TrainStep:
    """forward, loss, backward, step; returns the batch's summed loss and error count as device tensors."""

    def __init__(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer, fast: FastPath, device: torch.device):
        self.optimizer, self.fast = optimizer, fast
        self.autocast = autocast_context(fast, device)
        self.forward = torch.compile(model) if fast.compile else model
        # A dropped block gets a zero gradient, not none, from the first step on: weight decay and momentum then
        # move it as in Huang et al.'s Torch code (one flat gradient zeroed each step, optim.sgd over all weights),
        # and fused SGD, which fails on a momentum buffer missing for some parameters only, can run.
        self.zero_gradients_of_dropped_blocks = changes_per_step(model)
        if self.zero_gradients_of_dropped_blocks:
            for parameter in model.parameters():
                if parameter.grad is None:
                    parameter.grad = torch.zeros_like(parameter)

    def prepare(self, images: torch.Tensor) -> torch.Tensor:
        return images.contiguous(memory_format=self.fast.memory_format)

    def __call__(self, images: torch.Tensor, labels: torch.Tensor):
        with self.autocast():
            logits = self.forward(self.prepare(images))
        loss = F.cross_entropy(logits.float(), labels)
        self.optimizer.zero_grad(set_to_none=not self.zero_gradients_of_dropped_blocks)
        loss.backward()
        self.optimizer.step()
        with torch.no_grad():
            return loss.detach() * len(labels), (logits.argmax(1) != labels).sum()


class GraphedTrainStep:
    """The whole step (forward, loss, backward, SGD update) captured once in a CUDA graph, then replayed.

    Warm-up steps run on a zero batch before the capture, then the model, BN statistics and momentum are
    put back exactly as they were, so the run trains on the same numbers as without the graph."""

    def __init__(self, step: TrainStep, model: torch.nn.Module, batch_shape: tuple, device: torch.device):
        self.step = step
        optimizer = step.optimizer
        self.images = torch.zeros(batch_shape, device=device).contiguous(memory_format=step.fast.memory_format)
        self.labels = torch.zeros(batch_shape[0], dtype=torch.long, device=device)
        saved_model = {name: value.clone() for name, value in model.state_dict().items()}
        saved_momentum = {p: optimizer.state[p].get("momentum_buffer") for group in optimizer.param_groups for p in group["params"]}
        saved_momentum = {p: None if m is None else m.clone() for p, m in saved_momentum.items()}
        saved_lr = [group["lr"].clone() for group in optimizer.param_groups]
        side = torch.cuda.Stream(device)
        side.wait_stream(torch.cuda.current_stream(device))
        with torch.cuda.stream(side):
            for _ in range(3):  # compiles, tunes cudnn and allocates gradients and momentum
                step(self.images, self.labels)
        torch.cuda.current_stream(device).wait_stream(side)
        with torch.no_grad():
            for name, value in model.state_dict().items():
                value.copy_(saved_model[name])
            for parameter, momentum in saved_momentum.items():
                buffer = optimizer.state[parameter]["momentum_buffer"]
                buffer.copy_(momentum) if momentum is not None else buffer.zero_()  # zero = "first step"
            for group, lr in zip(optimizer.param_groups, saved_lr):
                group["lr"].copy_(lr)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.loss_sum, self.wrong = step(self.images, self.labels)
        self.prepare, self.autocast, self.optimizer = step.prepare, step.autocast, optimizer

    def __call__(self, images: torch.Tensor, labels: torch.Tensor):
        self.images.copy_(images)
        self.labels.copy_(labels)
        self.graph.replay()
        return self.loss_sum, self.wrong


def changes_per_step(model: torch.nn.Module) -> bool:
    """True for nets whose forward differs from step to step (stochastic depth drops blocks at random)."""
    return any(getattr(module, "changes_per_step", False) for module in model.modules())


def make_train_step(model, optimizer, fast: FastPath, device: torch.device, batch_shape: tuple, log=print):
    """A TrainStep, captured in a CUDA graph when asked and possible (falls back with a message)."""
    if (fast.cuda_graphs or fast.compile) and changes_per_step(model):
        # A captured graph or a compiled whole-net graph would replay one fixed set of blocks every step.
        log("the net's forward changes per step (stochastic depth): whole-step CUDA graph and torch.compile turned off")
        fast.cuda_graphs = fast.compile = False
    step = TrainStep(model, optimizer, fast, device)
    if not fast.cuda_graphs:
        return step
    try:
        return GraphedTrainStep(step, getattr(model, "module", model), batch_shape, device)
    except Exception as error:  # noqa: BLE001 - a model that cannot be captured still trains
        log(f"CUDA graph capture failed ({type(error).__name__}: {str(error).splitlines()[0][:200]}); training without it")
        fast.cuda_graphs = False
        return TrainStep(model, optimizer, fast, device)
