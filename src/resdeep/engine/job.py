"""One run folder's life: start, resume, skip when finished, restart on request, record the result."""
from __future__ import annotations

import shutil
import sys
import traceback
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from resdeep.config import Config, validate
from resdeep.engine.distributed import barrier, setup_world, shutdown
from resdeep.engine.files import read_json, write_json
from resdeep.engine.signals import INTERRUPTED_EXIT_CODE, StopRequest
from resdeep.engine.train import TrainingInterrupted, train
from resdeep.errors import UserError

RESULT_FILE = "result.json"
IDENTITY_FILE = "run.json"
CRASH_FILE = "error.log"
RUN_OUTPUTS = ("checkpoints", "tb", "metrics.jsonl", "train.log", RESULT_FILE, IDENTITY_FILE, CRASH_FILE)


def run_identity(cfg: Config) -> dict:
    """What makes a run this run: changing any of it needs a new folder (or restart=true)."""
    plain = OmegaConf.to_container(OmegaConf.structured(cfg))
    data = {k: v for k, v in plain["data"].items() if k not in ("root", "download", "verify", "workers", "device_resident")}
    recipe = {k: v for k, v in plain["recipe"].items() if k not in ("max_iters", "epochs")}  # a longer run continues
    return {"model": plain["model"], "data": data, "recipe": recipe, "seed": cfg.seed}


def identity_differences(saved: dict, current: dict, prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two identities."""
    keys = sorted(set(saved) | set(current))
    differences = []
    for key in keys:
        a, b = saved.get(key), current.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            differences += identity_differences(a, b, f"{prefix}{key}.")
        elif a != b:
            differences.append(f"{prefix}{key}: {a} -> {b}")
    return differences


def clear_run(run_dir: Path) -> None:
    """restart=true: remove what earlier attempts wrote (Hydra's files for this invocation stay)."""
    for name in RUN_OUTPUTS:
        path = run_dir / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def record_crash(run_dir: str) -> Path:
    """Keep the traceback of a crashed sweep job in its folder."""
    path = Path(run_dir) / CRASH_FILE
    path.write_text(traceback.format_exc())
    return path


def run_job(cfg: DictConfig, run_dir: str) -> dict:
    """Train the run in run_dir unless it is finished; exit 75 after a requested stop."""
    config = validate(cfg)
    run_dir = Path(run_dir)
    world = setup_world(config.trainer.device)
    try:
        if config.restart and world.is_main:
            clear_run(run_dir)
        barrier(world)
        identity = run_identity(config)
        result = read_json(run_dir / RESULT_FILE)
        if result and (result.get("diverged") or result.get("iterations", 0) >= (config.recipe.max_iters or result.get("max_iters", 0))):
            if world.is_main:
                print(f"resdeep: {run_dir} already {result['status']} at iteration {result['iterations']} (test error {result.get('final_test_error')}); restart=true trains it again")
            return result
        saved_identity = read_json(run_dir / IDENTITY_FILE)
        if saved_identity and saved_identity != identity:
            changed = "; ".join(identity_differences(saved_identity, identity)[:4])
            raise UserError(f"{run_dir} holds a run with another config ({changed}); pass restart=true to replace it, or name=<new name> to keep both")
        if world.is_main:
            write_json(run_dir / IDENTITY_FILE, identity)
            (run_dir / RESULT_FILE).unlink(missing_ok=True)  # a longer max_iters continues a finished run
        with StopRequest() as stop:
            try:
                result = train(config, run_dir, world, stop)
            except TrainingInterrupted as interrupted:
                print(f"resdeep: stopped at iteration {interrupted}; run the same command again to resume", file=sys.stderr)
                barrier(world)  # every rank stops at the same iteration (train agrees on it), so all arrive
                sys.exit(INTERRUPTED_EXIT_CODE)
        if world.is_main:
            write_json(run_dir / RESULT_FILE, result)
            test = result["final_test_error"]
            summary = "diverged" if result["diverged"] else f"final test error {test:.2f}%"
            print(f"resdeep: {result['model']} seed {config.seed}: {summary} after {result['iterations']} iterations -> {run_dir}")
        barrier(world)  # leave together: a rank tearing down its process group early can hang the others
        return result
    finally:
        shutdown(world)
