"""The training loop: sample a batch, forward, loss, backward, step; at its points log, evaluate, checkpoint.

`train()` reads top to bottom; each point of the loop is a small function below it, and the checkpoint is
written and read by one pair of functions, side by side."""
from __future__ import annotations

import math
import random
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Optional

import numpy as np
import torch
from omegaconf import OmegaConf

from resdeep.config import Config
from resdeep.data import build_data
from resdeep.engine.checkpoint import load_latest_checkpoint, save_checkpoint
from resdeep.engine.distributed import World, all_reduce_sum, convert_sync_batchnorm
from resdeep.engine.evaluate import best_val_test_error, evaluate
from resdeep.engine.fast_path import resolve_fast_path
from resdeep.engine.logger import RunLogger, Stopwatch
from resdeep.engine.optim import make_optimizer, set_learning_rate
from resdeep.engine.schedule import (
    ScheduleState, end_warmup_if_ready, in_iterations, iterations_per_epoch, learning_rate, needs_warmup, recipe_length, update_plateau,
)
from resdeep.engine.signals import StopRequest
from resdeep.engine.train_step import changes_per_step, make_train_step
from resdeep.errors import UserError
from resdeep.models import build_model, model_id, network_kind
from resdeep.models.summary import count_params
from resdeep.runs.layout import LOG_FILE
from resdeep.runs.state import StateWriter


class TrainingInterrupted(Exception):
    """A stop was requested (SIGTERM/SIGINT); a checkpoint holds the run's state."""


def train(cfg: Config, run_dir: Path, world: World, stop: StopRequest, state: Optional[StateWriter] = None) -> dict:
    """Train one run to recipe.max_iters (resuming from its latest checkpoint); returns the result record.

    `state` (rank 0's state.json) gets the run's progress at every log point and its stop when interrupted."""
    device = pick_device(cfg.trainer.device, world)
    seed_everything(cfg.seed)
    torch.backends.cudnn.benchmark = cfg.trainer.cudnn_benchmark
    fast, data, model, optimizer = build_training(cfg, device, world)
    cfg = replace(cfg, recipe=in_iterations(cfg.recipe, data.train_size))  # epochs -> iterations, shown in the config
    loop = LoopState(schedule=ScheduleState(warming_up=needs_warmup(cfg.recipe, cfg.model.depth)), window=TrainWindow(device))
    resumed = restore_training_state(run_dir, cfg, loop, model, optimizer, data)
    logger = RunLogger(run_dir, loop.iteration, cfg.recipe.max_iters, config_text(cfg), cfg.trainer.progress, enabled=world.is_main,
                       records=loop.records, state=state, loggers=cfg.trainer.loggers, config=cfg)
    result = None  # how the run ended, for the loggers to record; None when it stops before its end
    try:
        step = make_train_step(distributed(model, device, world), optimizer, fast, device, local_batch_shape(cfg, data, world), logger.message)
        announce(logger, cfg, run_dir, loop.iteration if resumed else None, model, data, device, fast)
        started, stopwatch = time.perf_counter(), Stopwatch()
        while loop.iteration < cfg.recipe.max_iters:
            lr = learning_rate(loop.iteration, cfg.recipe, loop.schedule)
            set_learning_rate(optimizer, lr)
            images, labels = data.train.next_batch()
            loss_sum, wrong = step(images, labels)
            loop.window.add(loss_sum, wrong, len(labels))
            stopwatch.add(len(labels) * world.size)
            loop.iteration += 1
            logger.step()
            if at(loop.iteration, cfg.trainer.log_every, cfg) and not log_point(loop, cfg, model, data, logger, world, lr, stopwatch):
                break
            if at(loop.iteration, cfg.trainer.eval_every, cfg) and not evaluation_point(loop, cfg, model, step, data, logger, lr, started, stopwatch):
                break
            stopping = stop_agreed(stop, loop, cfg, world, device)
            if stopping or at(loop.iteration, cfg.trainer.checkpoint_every, cfg):
                loop.elapsed = loop.elapsed_before + time.perf_counter() - started
                if world.is_main:
                    save_training_state(run_dir, cfg, loop, model, optimizer, data)
                logger.checkpoint_saved(loop.iteration)
            if stopping:
                logger.message(f"stop requested ({stop.signal_name or 'by another process'}): checkpoint saved at iteration {loop.iteration}", loop.iteration)
                logger.interrupted(loop.iteration)
                raise TrainingInterrupted(loop.iteration)
        loop.elapsed = loop.elapsed_before + time.perf_counter() - started
        result = finish(loop, cfg, model, data, device, world, fast, logger)
        return result
    finally:
        logger.close(result)


@dataclass
class LoopState:
    """Where the loop is: what a checkpoint keeps besides the model, optimizer, loader and generators."""

    schedule: ScheduleState
    window: "TrainWindow"
    iteration: int = 0
    records: list = field(default_factory=list)  # one per evaluation, as in metrics.jsonl
    elapsed_before: float = 0.0  # seconds trained before this session (earlier sessions of a resumed run)
    elapsed: float = 0.0
    diverged: bool = False
    last_train: tuple = (math.nan, math.nan)  # (error %, loss) of the last logging window


def at(iteration: int, every: int, cfg: Config) -> bool:
    """Is this iteration one of a point's (every `every` iterations, and always the last)?"""
    return iteration % every == 0 or iteration == cfg.recipe.max_iters


def log_point(loop: LoopState, cfg: Config, model, data, logger: RunLogger, world: World, lr: float, stopwatch: Stopwatch) -> bool:
    """The training error and loss of the window since the last point; False when the loss shows divergence."""
    name_skipped_images(data, logger)
    loop.last_train = loop.window.read_and_reset(world)
    train_error, train_loss = loop.last_train
    if has_diverged(train_loss, cfg.trainer.diverge_above):
        loop.diverged = True
        logger.message(f"diverged at iteration {loop.iteration}: training loss {train_loss:g} (NaN/inf, or above trainer.diverge_above={cfg.trainer.diverge_above})", loop.iteration)
        logger.scalar("diverged", 1.0, loop.iteration)
        return False
    logger.train_point(loop.iteration, train_error, train_loss, lr, stopwatch.rate())
    if cfg.trainer.log_grad_norms:
        for name, parameter in model.named_parameters():
            if parameter.dim() == 4 and parameter.grad is not None:  # conv weights, last step's gradient
                logger.scalar(f"grad_norm/{name}", parameter.grad.norm().item(), loop.iteration)
    if end_warmup_if_ready(loop.schedule, train_error, loop.iteration, cfg.recipe):
        logger.message(f"warm-up ended at iteration {loop.iteration} (training error {train_error:.1f}% < {cfg.recipe.warmup_until_error}%): lr {cfg.recipe.lr}", loop.iteration)
    return True


def evaluation_point(loop: LoopState, cfg: Config, model, step, data, logger: RunLogger, lr: float, started: float, stopwatch: Stopwatch) -> bool:
    """Test (and validation) error and loss; False when the test loss is not finite (the run diverged)."""
    record = {"iteration": loop.iteration, "train_error": loop.last_train[0], "train_loss": loop.last_train[1], "lr": lr}
    for name, eval_set in data.eval_sets.items():
        record[f"{name}_error"], record[f"{name}_loss"] = evaluate(model, eval_set, step.prepare, step.autocast)
    if not math.isfinite(record["test_loss"]):
        loop.diverged = True
        logger.message(f"diverged at iteration {loop.iteration}: test loss is {record['test_loss']}", loop.iteration)
        return False
    record["elapsed_s"] = loop.elapsed_before + time.perf_counter() - started
    loop.records.append(record)
    logger.eval_point(loop.iteration, record)
    watched = record.get("val_error", loop.last_train[0])  # never the test set
    if update_plateau(loop.schedule, watched, cfg.recipe):
        logger.message(f"plateau: learning rate divided at iteration {loop.iteration}", loop.iteration)
    stopwatch.restart()  # the images/s of the next point leave the evaluation out
    return True


def name_skipped_images(data, logger: RunLogger) -> None:
    """Unreadable images an image folder skipped since the last point: each named in train.log, one console line in all."""
    skipped = data.train.take_skipped() if hasattr(data.train, "take_skipped") else []
    if skipped:
        logger.skipped_images(skipped, data.train.skipped)


def stop_agreed(stop: StopRequest, loop: LoopState, cfg: Config, world: World, device: torch.device) -> bool:
    """Was a stop requested? Alone: a Python flag, no device sync. Under DDP every rank must stop at the same
    iteration, so the ranks agree every few iterations."""
    if not world.enabled:
        return stop.requested
    if loop.iteration % min(cfg.trainer.log_every, 10):
        return False
    return bool(all_reduce_sum(torch.tensor([float(stop.requested)], device=device), world).item())


def save_training_state(run_dir: Path, cfg: Config, loop: LoopState, model, optimizer, data) -> None:
    """Everything a resume needs to go on bitwise as if never stopped, in checkpoints/iter_<n>.pt."""
    save_checkpoint(run_dir, loop.iteration, {
        "iteration": loop.iteration,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "loader": data.train.state_dict(),
        "rng": rng_state(),
        "schedule": asdict(loop.schedule),
        "window": loop.window.totals.cpu(),
        "metrics": loop.records,
        "elapsed_s": loop.elapsed,
        "config": OmegaConf.to_container(OmegaConf.structured(cfg)),
        "preprocessing": data.preprocessing.as_dict(),  # what a loaded or exported net does to raw images
        "scaler": None,  # bf16 autocast needs no loss scaling
    }, cfg.trainer.keep_checkpoints)


def restore_training_state(run_dir: Path, cfg: Config, loop: LoopState, model, optimizer, data) -> bool:
    """Put back what save_training_state wrote, from the newest readable checkpoint; False when there is none."""
    saved = load_latest_checkpoint(run_dir, model, OmegaConf.to_container(OmegaConf.structured(cfg.model)))
    if saved is None:
        return False
    if saved["iteration"] > cfg.recipe.max_iters:
        raise UserError(
            f"{run_dir} has a checkpoint at iteration {saved['iteration']}, past recipe.max_iters={cfg.recipe.max_iters}; "
            f"pass recipe.max_iters={saved['iteration']} or more to finish it, or restart=true to train it again"
        )
    model.load_state_dict(saved["model"])
    optimizer.load_state_dict(saved["optimizer"])
    data.train.load_state_dict(saved["loader"])
    set_rng_state(saved["rng"])
    loop.schedule = ScheduleState(**saved["schedule"])
    loop.window.totals.copy_(saved["window"])
    loop.iteration, loop.records, loop.elapsed_before = saved["iteration"], saved["metrics"], saved["elapsed_s"]
    return True


def finish(loop: LoopState, cfg: Config, model, data, device: torch.device, world: World, fast, logger: RunLogger) -> dict:
    """The result record (result.json), and the run's row in TensorBoard's hparams view (diverged runs too)."""
    name_skipped_images(data, logger)
    recipe, final = cfg.recipe, loop.records[-1] if loop.records else {}
    best_test_error = min((r["test_error"] for r in loop.records), default=None)
    result = {
        "status": "diverged" if loop.diverged else "finished",
        "diverged": loop.diverged,
        "model": model_id(cfg.model),
        "data": cfg.data.name,
        "seed": cfg.seed,
        "params": count_params(model),
        "iterations": loop.iteration,
        "max_iters": recipe.max_iters,
        "recipe_iters": recipe_length(recipe, data.train_size),  # the whole recipe's length (an epoch recipe cut short says so)
        "final_test_error": final.get("test_error"),
        "best_test_error": best_test_error,
        "test_error_at_best_val": best_val_test_error(loop.records),  # null without data.val_size
        "final_val_error": final.get("val_error"),
        # A run resumed at its last iteration trains no step: its last logged training error stands.
        "final_train_error": loop.last_train[0] if math.isfinite(loop.last_train[0]) else final.get("train_error"),
        "warmup_ended_at": loop.schedule.warmup_ended_at,
        "wall_time_s": loop.elapsed,
        "device": str(device),
        "world_size": world.size,
        "fast_path": fast.describe(),
        "skipped_images": getattr(data.train, "skipped", 0),  # unreadable files of an image folder
    }
    if result["skipped_images"]:
        logger.message(f"{result['skipped_images']} unreadable training image(s) were skipped (each named in {LOG_FILE})")
    hparams = {"kind": network_kind(cfg.model), "depth": getattr(cfg.model, "depth", None), "shortcut": getattr(cfg.model, "shortcut", None),
               "seed": cfg.seed, "status": result["status"], "model": result["model"], "family": cfg.model.family,
               "data": result["data"], "batch_size": recipe.batch_size, "lr": recipe.lr}
    logger.hparams(hparams, {"hparam/final_train_error": result["final_train_error"], "hparam/final_test_error": result["final_test_error"],
                             "hparam/best_test_error": best_test_error}, loop.iteration)
    return result


def announce(logger: RunLogger, cfg: Config, run_dir: Path, resumed_at: Optional[int], model, data, device: torch.device, fast) -> None:
    """The run's first lines: where it resumes, what trains on what, and an epoch recipe's length in iterations."""
    if resumed_at is not None:
        logger.message(f"resuming {run_dir} from iteration {resumed_at}")
    logger.message(f"{model_id(cfg.model)} on {cfg.data.name}: {count_params(model):,} parameters, {data.train_size:,} training images, device {device}, fast path: {fast.describe()}")
    recipe = cfg.recipe
    if recipe.epochs is not None:
        per_epoch, whole = iterations_per_epoch(data.train_size, recipe.batch_size), recipe_length(recipe, data.train_size)
        cut_short = "" if recipe.max_iters == whole else f"; this run stops at iteration {recipe.max_iters:,} (recipe.max_iters)"
        logger.message(f"recipe {recipe.name} in epochs: {recipe.epochs:g} epochs of {per_epoch:,} iterations = {whole:,} iterations, lr milestones at {recipe.milestones}{cut_short}")


def config_text(cfg: Config) -> str:
    return OmegaConf.to_yaml(OmegaConf.structured(cfg))


def pick_device(choice: str, world: World) -> torch.device:
    """cuda (this process's GPU under torchrun) when asked or available, else cpu."""
    if choice == "cuda" and not torch.cuda.is_available():
        raise UserError("trainer.device=cuda but no CUDA GPU is visible; use trainer.device=cpu or auto")
    if choice == "cuda" or (choice == "auto" and torch.cuda.is_available()):
        return torch.device("cuda", world.local_rank)
    return torch.device("cpu")


def seed_everything(seed: int) -> None:
    torch.manual_seed(seed), np.random.seed(seed), random.seed(seed)


def rng_state() -> dict:
    """Every random number generator the run touches."""
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": _numpy_state(),
        "python": random.getstate(),
    }


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    kind, keys, *rest = state["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), *rest))
    random.setstate(state["python"])


def _numpy_state() -> tuple:
    """numpy's generator state with its keys as a tensor: checkpoints then load with torch.load(weights_only=True)."""
    kind, keys, *rest = np.random.get_state()
    return (kind, torch.from_numpy(keys.astype(np.int64)), *(r.item() if hasattr(r, "item") else r for r in rest))


def has_diverged(loss: float, limit: float | None) -> bool:
    """NaN/inf, or above `limit`: a net that starts near ln(classes) and reaches 1e4 has exploded, not learned."""
    return not math.isfinite(loss) or (limit is not None and loss > limit)


class TrainWindow:
    """Loss and errors summed on the device since the last log point (no host sync per iteration)."""

    def __init__(self, device: torch.device):
        self.totals = torch.zeros(3, dtype=torch.float64, device=device)  # loss sum, wrong, images

    def add(self, loss_sum: torch.Tensor, wrong: torch.Tensor, images: int) -> None:
        self.totals[0] += loss_sum.double()
        self.totals[1] += wrong.double()
        self.totals[2] += images

    def read_and_reset(self, world: World) -> tuple[float, float]:
        """(error %, mean loss) over all processes, then start a new window."""
        loss_sum, wrong, images = all_reduce_sum(self.totals.clone(), world).tolist()
        self.totals.zero_()
        return 100.0 * wrong / max(images, 1), loss_sum / max(images, 1)


def build_training(cfg: Config, device: torch.device, world: World):
    """(fast path, data, model on the device, optimizer): the set-up `train` and `resdeep bench` share."""
    fast = resolve_fast_path(cfg.trainer, device, world.enabled)
    data = build_data(cfg.data, cfg.recipe.batch_size, cfg.trainer.eval_batch_size, device, cfg.seed, world.rank, world.size, fast.compile)
    model = build_model(cfg.model, data.shape.channels, data.shape.num_classes)
    if cfg.trainer.sync_bn and world.enabled:
        model = convert_sync_batchnorm(model, device)
    model = model.to(device, memory_format=fast.memory_format)
    return fast, data, model, make_optimizer(model, cfg.recipe, fast)


def distributed(model, device: torch.device, world: World):
    """The model under DistributedDataParallel when several processes train it, else itself."""
    if not world.enabled:
        return model
    return torch.nn.parallel.DistributedDataParallel(
        model, device_ids=[device.index] if device.type == "cuda" else None,
        find_unused_parameters=changes_per_step(model),  # stochastic depth leaves dropped blocks without gradients
    )


def local_batch_shape(cfg: Config, data, world: World) -> tuple:
    """The shape of this process's share of one training batch."""
    return (cfg.recipe.batch_size // world.size, data.shape.channels, data.shape.size, data.shape.size)
