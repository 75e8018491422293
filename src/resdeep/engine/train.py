"""The training loop: sample a batch, forward, loss, backward, step; evaluate, log, checkpoint."""
from __future__ import annotations

import math
import random
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch
from omegaconf import OmegaConf

from resdeep.config import Config
from resdeep.models import model_id, network_kind
from resdeep.data import build_data
from resdeep.engine.checkpoint import load_latest_checkpoint, save_checkpoint
from resdeep.engine.distributed import World, all_reduce_sum, convert_sync_batchnorm
from resdeep.engine.evaluate import best_val_test_error, evaluate
from resdeep.engine.fastpath import changes_per_step, make_optimizer, make_train_step, resolve_fast_path, set_learning_rate
from resdeep.engine.logger import RunLogger, Stopwatch
from resdeep.engine.schedule import (
    ScheduleState, end_warmup_if_ready, in_iterations, iterations_per_epoch, learning_rate, needs_warmup, recipe_length, update_plateau,
)
from resdeep.engine.signals import StopRequest
from resdeep.errors import UserError
from resdeep.models import build_model
from resdeep.models.summary import count_params


class TrainingInterrupted(Exception):
    """A stop was requested (SIGTERM/SIGINT); a checkpoint holds the run's state."""


def pick_device(choice: str, world: World) -> torch.device:
    """cuda (this process's GPU under torchrun) when asked or available, else cpu."""
    if choice == "cuda" and not torch.cuda.is_available():
        from resdeep.errors import UserError

        raise UserError("trainer.device=cuda but no CUDA GPU is visible; use trainer.device=cpu or auto")
    if choice == "cuda" or (choice == "auto" and torch.cuda.is_available()):
        return torch.device("cuda", world.local_rank)
    return torch.device("cpu")


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


def local_batch_shape(cfg: Config, data, world: World) -> tuple:
    """The shape of this process's share of one training batch."""
    return (cfg.recipe.batch_size // world.size, data.shape.channels, data.shape.size, data.shape.size)


def train(cfg: Config, run_dir: Path, world: World, stop: StopRequest) -> dict:
    """Train one run to recipe.max_iters (resuming from its latest checkpoint); returns the result record."""
    trainer = cfg.trainer
    device = pick_device(trainer.device, world)
    torch.manual_seed(cfg.seed), np.random.seed(cfg.seed), random.seed(cfg.seed)
    torch.backends.cudnn.benchmark = trainer.cudnn_benchmark
    fast, data, model, optimizer = build_training(cfg, device, world)
    cfg = replace(cfg, recipe=in_iterations(cfg.recipe, data.train_size))  # epochs -> iterations, shown in the config
    recipe = cfg.recipe
    schedule = ScheduleState(warming_up=needs_warmup(recipe, cfg.model.depth))
    window = TrainWindow(device)
    iteration, records, elapsed_before = 0, [], 0.0

    saved = load_latest_checkpoint(run_dir, model, OmegaConf.to_container(OmegaConf.structured(cfg.model)))
    if saved is not None and saved["iteration"] > recipe.max_iters:
        raise UserError(
            f"{run_dir} has a checkpoint at iteration {saved['iteration']}, past recipe.max_iters={recipe.max_iters}; "
            f"pass recipe.max_iters={saved['iteration']} or more to finish it, or restart=true to train it again"
        )
    if saved is not None:
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        data.train.load_state_dict(saved["loader"])
        set_rng_state(saved["rng"])
        schedule = ScheduleState(**saved["schedule"])
        window.totals.copy_(saved["window"])
        iteration, records, elapsed_before = saved["iteration"], saved["metrics"], saved["elapsed_s"]

    train_model = model
    if world.enabled:
        train_model = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None,
            find_unused_parameters=changes_per_step(model),  # stochastic depth leaves dropped blocks without gradients
        )
    config_text = OmegaConf.to_yaml(OmegaConf.structured(cfg))
    logger = RunLogger(run_dir, iteration, recipe.max_iters, config_text, trainer.progress, enabled=world.is_main,
                       loggers=trainer.loggers, config=cfg)
    step = make_train_step(train_model, optimizer, fast, device, local_batch_shape(cfg, data, world), logger.message)
    if saved is not None:
        logger.message(f"resuming {run_dir} from iteration {iteration}")
    logger.message(f"{model_id(cfg.model)} on {cfg.data.name}: {count_params(model):,} parameters, {data.train_size:,} training images, device {device}, fast path: {fast.describe()}")
    if recipe.epochs is not None:
        per_epoch = iterations_per_epoch(data.train_size, recipe.batch_size)
        whole = recipe_length(recipe, data.train_size)
        stop = "" if recipe.max_iters == whole else f"; this run stops at iteration {recipe.max_iters:,} (recipe.max_iters)"
        logger.message(f"recipe {recipe.name} in epochs: {recipe.epochs:g} epochs of {per_epoch:,} iterations = {whole:,} iterations, lr milestones at {recipe.milestones}{stop}")

    started, stopwatch, diverged = time.perf_counter(), Stopwatch(), False
    last_train = (math.nan, math.nan)
    best_test_error = min((r["test_error"] for r in records), default=None)
    stop_check_every = min(trainer.log_every, 10)
    stopping = False
    result = None  # how the run ended, for the loggers to record; None when it stops before its end
    try:
        while iteration < recipe.max_iters:
            lr = learning_rate(iteration, recipe, schedule)
            set_learning_rate(optimizer, lr)
            images, labels = data.train.next_batch()
            loss_sum, wrong = step(images, labels)
            window.add(loss_sum, wrong, len(labels))
            stopwatch.add(len(labels) * world.size)
            iteration += 1
            logger.step()

            if iteration % trainer.log_every == 0 or iteration == recipe.max_iters:
                last_train = window.read_and_reset(world)
                train_error, train_loss = last_train
                if has_diverged(train_loss, trainer.diverge_above):
                    diverged = True
                    logger.message(f"diverged at iteration {iteration}: training loss {train_loss:g} (NaN/inf, or above trainer.diverge_above={trainer.diverge_above})", iteration)
                    logger.scalar("diverged", 1.0, iteration)
                    break
                logger.train_point(iteration, train_error, train_loss, lr, stopwatch.rate())
                if trainer.log_grad_norms:
                    for name, parameter in model.named_parameters():
                        if parameter.dim() == 4 and parameter.grad is not None:  # conv weights, last step's gradient
                            logger.scalar(f"grad_norm/{name}", parameter.grad.norm().item(), iteration)
                if end_warmup_if_ready(schedule, train_error, iteration, recipe):
                    logger.message(f"warm-up ended at iteration {iteration} (training error {train_error:.1f}% < {recipe.warmup_until_error}%): lr {recipe.lr}", iteration)

            if iteration % trainer.eval_every == 0 or iteration == recipe.max_iters:
                record = {"iteration": iteration, "train_error": last_train[0], "train_loss": last_train[1], "lr": lr}
                for name, eval_set in data.eval_sets.items():
                    record[f"{name}_error"], record[f"{name}_loss"] = evaluate(model, eval_set, step.prepare, step.autocast)
                if not math.isfinite(record["test_loss"]):
                    diverged = True
                    logger.message(f"diverged at iteration {iteration}: test loss is {record['test_loss']}", iteration)
                    break
                record["elapsed_s"] = elapsed_before + time.perf_counter() - started
                records.append(record)
                best_test_error = min(best_test_error or math.inf, record["test_error"])
                logger.eval_point(iteration, record)
                watched = record.get("val_error", last_train[0])  # never the test set
                if update_plateau(schedule, watched, recipe):
                    logger.message(f"plateau: learning rate divided at iteration {iteration}", iteration)
                stopwatch.restart()

            if not world.enabled:
                stopping = stop.requested  # a Python flag: no device sync per iteration
            elif not stopping and iteration % stop_check_every == 0:  # every rank must stop at the same iteration
                stopping = bool(all_reduce_sum(torch.tensor([float(stop.requested)], device=device), world).item())
            if stopping or iteration % trainer.checkpoint_every == 0 or iteration == recipe.max_iters:
                if world.is_main:
                    save_checkpoint(run_dir, iteration, {
                        "iteration": iteration,
                        "model": model.state_dict(),
                        "optimizer": optimizer.state_dict(),
                        "loader": data.train.state_dict(),
                        "rng": rng_state(),
                        "schedule": asdict(schedule),
                        "window": window.totals.cpu(),
                        "metrics": records,
                        "elapsed_s": elapsed_before + time.perf_counter() - started,
                        "config": OmegaConf.to_container(OmegaConf.structured(cfg)),
                        "scaler": None,  # bf16 autocast needs no loss scaling
                    }, trainer.keep_checkpoints)
            if stopping:
                logger.message(f"stop requested ({stop.signal_name or 'by another process'}): checkpoint saved at iteration {iteration}", iteration)
                raise TrainingInterrupted(iteration)
        final = records[-1] if records else {}
        result = {
            "status": "diverged" if diverged else "finished",
            "diverged": diverged,
            "model": model_id(cfg.model),
            "data": cfg.data.name,
            "seed": cfg.seed,
            "params": count_params(model),
            "iterations": iteration,
            "max_iters": recipe.max_iters,
            "final_test_error": final.get("test_error"),
            "best_test_error": best_test_error,
            "test_error_at_best_val": best_val_test_error(records),  # null without data.val_size
            "final_val_error": final.get("val_error"),
            # A run resumed at its last iteration trains no step: its last logged training error stands.
            "final_train_error": last_train[0] if math.isfinite(last_train[0]) else final.get("train_error"),
            "warmup_ended_at": schedule.warmup_ended_at,
            "wall_time_s": elapsed_before + time.perf_counter() - started,
            "device": str(device),
            "world_size": world.size,
            "fast_path": fast.describe(),
            "skipped_images": getattr(data.train, "skipped", 0),  # unreadable files of an image folder
        }
        if result["skipped_images"]:
            logger.message(f"{result['skipped_images']} unreadable training image(s) were skipped (named in the warnings)")
        # Every run, diverged ones too, is a row of TensorBoard's hparams view (plain vs residual by depth).
        hparams = {"kind": network_kind(cfg.model), "depth": getattr(cfg.model, "depth", None), "shortcut": getattr(cfg.model, "shortcut", None),
                   "seed": cfg.seed, "status": result["status"], "model": result["model"], "family": getattr(cfg.model, "family", None),
                   "data": result["data"], "batch_size": recipe.batch_size, "lr": recipe.lr}
        logger.hparams(hparams, {"hparam/final_train_error": result["final_train_error"], "hparam/final_test_error": result["final_test_error"],
                                 "hparam/best_test_error": best_test_error}, iteration)
        return result
    finally:
        logger.close(result)
