"""The bench behind a budget's plan, on the device the runs will train on, with their exact configs.

- alone, in this process, one run after another: seconds per training iteration (the training loop's own
  calls: the rate schedule, the device-resident loader, the captured or eager step, the running totals),
  per evaluation of the test set, per checkpoint, and to build and warm up (data on the device, the net,
  CUDA graph capture);
- together: one process per run, as `hydra/launcher=parallel` runs them, all training at once for a few
  seconds after a common start; each one's iterations per second there. The processes import torch while
  this one times the runs alone, and build only when it is done, so the two measurements do not overlap.

`python -m resdeep.budget.measure worker` is one of those processes (it reads its orders on stdin).
"""
from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import torch

from resdeep.compose import load_config
from resdeep.config import Config
from resdeep.engine.checkpoint import save_checkpoint
from resdeep.engine.distributed import World
from resdeep.engine.evaluate import evaluate
from resdeep.engine.optim import set_learning_rate
from resdeep.engine.train_step import make_train_step
from resdeep.engine.schedule import ScheduleState, learning_rate, needs_warmup
from resdeep.engine.train import TrainWindow, build_training, local_batch_shape

WARMUP = 5  # iterations after the build (and capture) before timing
SAY = "@budget "  # the start of the lines a worker answers with (anything else it prints is not an answer)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class Training:
    """One run's training set up as `resdeep train` sets it up, stepped as its loop steps it."""

    def __init__(self, cfg: Config, device: torch.device):
        torch.backends.cudnn.benchmark = cfg.trainer.cudnn_benchmark
        torch.manual_seed(cfg.seed)
        self.cfg, self.device = cfg, device
        self.fast, self.data, self.model, self.optimizer = build_training(cfg, device, World())
        self.step = make_train_step(self.model, self.optimizer, self.fast, device, local_batch_shape(cfg, self.data, World()), log=lambda _: None)
        self.schedule = ScheduleState(warming_up=needs_warmup(cfg.recipe, cfg.model.depth))
        self.window = TrainWindow(device)
        self.iteration = 0
        self.chunk = 10 if device.type == "cuda" else 1  # iterations between host syncs while timing

    def steps(self, count: int) -> None:
        recipe = self.cfg.recipe
        for _ in range(count):
            set_learning_rate(self.optimizer, learning_rate(self.iteration, recipe, self.schedule))
            images, labels = self.data.train.next_batch()
            loss_sum, wrong = self.step(images, labels)
            self.window.add(loss_sum, wrong, len(labels))
            self.iteration += 1

    def timed(self, seconds: float, least: int) -> Tuple[float, int, List[List[float]]]:
        """Step for `seconds` (and at least `least` iterations): (seconds, iterations, [[time, iterations], ...])."""
        synchronize(self.device)
        start, done, samples = time.perf_counter(), 0, [[0.0, 0]]
        while True:
            self.steps(self.chunk)
            done += self.chunk
            synchronize(self.device)
            elapsed = time.perf_counter() - start
            samples.append([elapsed, done])
            if elapsed >= seconds and done >= least:
                return elapsed, done, samples

    def evaluation_s(self) -> float:
        """One evaluation of the test set, after one untimed (cudnn tunes its kernels for the new shapes)."""
        test = self.data.eval_sets["test"]
        evaluate(self.model, test, self.step.prepare, self.step.autocast)
        synchronize(self.device)
        start = time.perf_counter()
        evaluate(self.model, test, self.step.prepare, self.step.autocast)
        synchronize(self.device)
        return time.perf_counter() - start

    def checkpoint_s(self, scratch: Path) -> float:
        """One checkpoint as the loop writes it (model, optimizer, loader; atomically, with fsync)."""
        start = time.perf_counter()
        save_checkpoint(scratch, 1, {"iteration": 1, "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                                     "loader": self.data.train.state_dict()}, keep=1)
        return time.perf_counter() - start


def release(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()


def time_alone(cfg: Config, device: torch.device, seconds: float, least: int, scratch: Path) -> dict:
    """A run's costs alone: build and warm-up, seconds per iteration, per evaluation and per checkpoint."""
    start = time.perf_counter()
    training = Training(cfg, device)
    training.steps(WARMUP)
    synchronize(device)
    build_s = time.perf_counter() - start
    elapsed, done, _ = training.timed(seconds, least)
    costs = {"build_s": build_s, "s_per_iter": elapsed / done, "iterations": done,
             "s_per_eval": training.evaluation_s(), "s_per_checkpoint": training.checkpoint_s(scratch),
             "fast_path": training.fast.describe()}
    del training
    release(device)
    return costs


def rate_after_the_start(samples: List[List[float]], seconds: float) -> float:
    """Iterations per second over the last three quarters of the common window (the first quarter settles)."""
    late = [s for s in samples if s[0] >= 0.25 * seconds]
    first, last = (late[0], late[-1]) if len(late) >= 2 else (samples[0], samples[-1])
    return (last[1] - first[1]) / max(last[0] - first[0], 1e-9)


class Workers:
    """The processes of the together measurement, one per run, spoken to one line at a time."""

    def __init__(self, orders: Dict[str, dict], env: dict):
        self.lines: "queue.Queue[tuple[str, Optional[str]]]" = queue.Queue()
        self.errors = {name: tempfile.TemporaryFile(mode="w+") for name in orders}
        self.processes = {}
        for name, order in orders.items():
            process = subprocess.Popen([sys.executable, "-m", "resdeep.budget.measure", "worker"], stdin=subprocess.PIPE,
                                       stdout=subprocess.PIPE, stderr=self.errors[name], text=True, env=env)
            process.stdin.write(json.dumps(order) + "\n")
            process.stdin.flush()
            self.processes[name] = process
            threading.Thread(target=self._read, args=(name, process), daemon=True).start()

    def _read(self, name: str, process: subprocess.Popen) -> None:
        for line in process.stdout:
            if line.startswith(SAY):
                self.lines.put((name, line[len(SAY):].strip()))
        self.lines.put((name, None))

    def tell(self, word: str) -> None:
        for process in self.processes.values():
            process.stdin.write(word + "\n")
            process.stdin.flush()

    def answers(self, timeout: float) -> Dict[str, str]:
        """One line from every process; raises RuntimeError naming the first that ended or fell silent."""
        got, deadline = {}, time.monotonic() + timeout
        while len(got) < len(self.processes):
            try:
                name, line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                silent = sorted(set(self.processes) - set(got))
                raise RuntimeError(f"{', '.join(silent)} did not answer within {timeout:.0f} s") from None
            if line is None:
                raise RuntimeError(f"{name} ended ({self.last_error(name)})")
            got[name] = line
        return got

    def last_error(self, name: str) -> str:
        stream = self.errors[name]
        stream.seek(0)
        lines = [line.strip() for line in stream.read().splitlines() if line.strip()]
        return lines[-1][:200] if lines else f"exit code {self.processes[name].poll()}"

    def close(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.kill()
            process.wait()
        for stream in self.errors.values():
            stream.close()


def time_together(orders: Dict[str, List[str]], device: torch.device, threads: int, seconds: float, meanwhile) -> Tuple[Optional[Dict[str, float]], str]:
    """({run: iterations per second with all of them training at once}, '') or (None, why not).

    meanwhile() runs while the processes start (import torch); they build and warm up after it returns."""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    workers = Workers({name: {"overrides": overrides, "device": str(device), "threads": threads, "seconds": seconds}
                       for name, overrides in orders.items()}, env)
    try:
        meanwhile()
        try:
            workers.tell("build")
            workers.answers(timeout=600)  # "ready": imported, built, warmed up
            workers.tell("go")
            results = workers.answers(timeout=seconds + 300)
            return {name: rate_after_the_start(json.loads(line)["samples"], seconds) for name, line in results.items()}, ""
        except (RuntimeError, ValueError, KeyError, OSError) as error:  # OSError: a worker gone before it was told
            return None, str(error)
    finally:
        workers.close()


def worker() -> None:
    """One run of the together measurement: build when told, say ready, train for `seconds` from "go", answer."""
    order = json.loads(sys.stdin.readline())
    torch.set_num_threads(order["threads"])
    if sys.stdin.readline().strip() != "build":
        return
    cfg = load_config(order["overrides"])
    device = torch.device(order["device"])
    training = Training(cfg, device)
    training.steps(WARMUP)
    synchronize(device)
    print(SAY + "ready", flush=True)
    if sys.stdin.readline().strip() != "go":
        return
    _, _, samples = training.timed(order["seconds"], least=1)
    print(SAY + json.dumps({"samples": samples}), flush=True)


if __name__ == "__main__" and sys.argv[1:] == ["worker"]:
    worker()
