"""One run folder's life: start, resume, skip when finished, restart on request, record the result."""
from __future__ import annotations

import errno
import shutil
import sys
import traceback
from contextlib import contextmanager
from pathlib import Path
from typing import Dict, Optional

import torch.distributed as torch_dist
from omegaconf import DictConfig, OmegaConf

from resdeep.config import Config, validate
from resdeep.engine.distributed import World, adopt_scheduler_environment, barrier, setup_world, shutdown
from resdeep.engine.files import atomic_write_text, read_json, write_json
from resdeep.engine.lock import RunLock, lock_run_folder
from resdeep.engine.signals import INTERRUPTED_EXIT_CODE, StopRequest
from resdeep.engine.train import TrainingInterrupted, train
from resdeep.errors import UserError

RESULT_FILE = "result.json"
IDENTITY_FILE = "run.json"
CRASH_FILE = "error.log"
HYDRA_DIR = ".hydra"
# What a write fails with when the disk, the user's quota or the file-size limit is reached.
DISK_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
RUN_OUTPUTS = ("checkpoints", "tb", "metrics.jsonl", "train.log", RESULT_FILE, IDENTITY_FILE, CRASH_FILE, HYDRA_DIR)


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
    """restart=true: remove what earlier attempts wrote (the lock stays: this process holds it)."""
    for name in RUN_OUTPUTS:
        path = run_dir / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def forget_run(run_dir: Path) -> None:
    """Undo the start of a run that never trained: its identity and Hydra's files, so nothing of it remains."""
    (run_dir / IDENTITY_FILE).unlink(missing_ok=True)
    shutil.rmtree(run_dir / HYDRA_DIR, ignore_errors=True)


def record_crash(run_dir: str) -> Path:
    """Keep the traceback of a crashed sweep job in its folder."""
    path = Path(run_dir) / CRASH_FILE
    path.write_text(traceback.format_exc())
    return path


def read_record(path: Path) -> dict | None:
    """A run's JSON record (run.json, result.json): None when absent, one line when it is not a JSON object."""
    if not path.exists():
        return None
    record = read_json(path)
    if not isinstance(record, dict):
        raise UserError(f"{path} is damaged (not a JSON object); pass restart=true to train this run again")
    return record


def finished_result(run_dir: Path, config: Config) -> dict | None:
    """The result of a run that needs no more training, else None; a folder holding another config is refused first."""
    saved = read_record(run_dir / IDENTITY_FILE)
    if saved is not None and saved != run_identity(config):
        changed = "; ".join(identity_differences(saved, run_identity(config))[:4])
        raise UserError(f"{run_dir} holds a run with another config ({changed}); pass restart=true to replace it, or name=<new name> to keep both")
    result = read_record(run_dir / RESULT_FILE)
    if result and (result.get("diverged") or result.get("iterations", 0) >= (config.recipe.max_iters or result.get("max_iters", 0))):
        return result
    return None


def hold_run_folder(run_dir: Path, world: World) -> RunLock | None:
    """Rank 0 takes the folder's lock; if it is in use, every rank stops with the same one line."""
    lock, refusal = None, None
    if world.is_main:
        try:
            lock = lock_run_folder(run_dir)
        except UserError as error:
            refusal = str(error)
    if world.enabled:
        shared = [refusal]
        torch_dist.broadcast_object_list(shared, src=0)
        refusal = shared[0]
    if refusal:
        raise UserError(refusal)
    return lock


def save_hydra_files(run_dir: Path, hydra_files: Dict[str, str]) -> None:
    """Hydra's record of the command (config.yaml, hydra.yaml, overrides.yaml), written once the run is really ours."""
    for name, text in hydra_files.items():
        atomic_write_text(run_dir / HYDRA_DIR / name, text)


@contextmanager
def one_line_when_the_disk_is_full(run_dir: Path, path: Optional[Path] = None):
    """A full disk (or quota, or file-size limit) outside a checkpoint, e.g. in metrics.jsonl, train.log or result.json,
    becomes one line naming the file (`path` when the error names none) and the last checkpoint.

    The checkpoints are written atomically, so the last one is whole and the same command resumes from it."""
    try:
        yield
    except OSError as error:
        if error.errno not in DISK_FULL:
            raise
        from resdeep.engine.checkpoint import checkpoint_paths

        where = error.filename or path or f"a file in {run_dir}"
        latest = checkpoint_paths(run_dir)
        kept = f"the last checkpoint, {latest[0][1]}, is intact" if latest else "no checkpoint was written yet"
        raise UserError(f"cannot write {where}: {error.strerror or error}; {kept}. Free some space, then run the same command again to resume") from None


def run_job(cfg: DictConfig, run_dir: str, hydra_files: Optional[Dict[str, str]] = None) -> dict:
    """Train the run in run_dir unless it is finished; exit 75 after a requested stop.

    Order matters: compare the config, then skip a finished run, then lock, and only then write, so a
    refused or skipped command leaves the folder exactly as it was."""
    adopt_scheduler_environment()  # a SLURM job's tasks: before validate, which divides the batch among them
    config = validate(cfg)
    run_dir = Path(run_dir)
    world = setup_world(config.trainer.device)
    lock = None
    try:
        result = None if config.restart else finished_result(run_dir, config)
        if result is None:
            lock = hold_run_folder(run_dir, world)
            result = None if config.restart else finished_result(run_dir, config)  # another process may have finished it meanwhile
        if result is not None:
            if world.is_main:
                print(f"resdeep: {run_dir} already {result['status']} at iteration {result['iterations']} (test error {result.get('final_test_error')}); restart=true trains it again")
            return result
        identity = run_identity(config)
        new_run = config.restart or read_record(run_dir / IDENTITY_FILE) is None
        if world.is_main:
            if config.restart:
                clear_run(run_dir)
            lock.claim()
            write_json(run_dir / IDENTITY_FILE, identity)
            save_hydra_files(run_dir, hydra_files or {})
            (run_dir / RESULT_FILE).unlink(missing_ok=True)  # a longer max_iters continues a finished run
        barrier(world)
        # The disk check wraps the handlers below: its one line is not a refusal that forgets the run.
        with StopRequest() as stop, one_line_when_the_disk_is_full(run_dir):
            try:
                result = train(config, run_dir, world, stop)
            except UserError:
                if new_run and world.is_main and not (run_dir / "checkpoints").exists():
                    forget_run(run_dir)  # refused before training (e.g. by the data): the corrected command starts afresh
                raise
            except TrainingInterrupted as interrupted:
                if world.is_main:  # one line, not one per rank
                    print(f"resdeep: stopped at iteration {interrupted}; run the same command again to resume", file=sys.stderr)
                barrier(world)  # every rank stops at the same iteration (train agrees on it), so all arrive
                stop.hand_over()  # under submitit: it requeues the job, which resumes from the checkpoint
                sys.exit(INTERRUPTED_EXIT_CODE)
        if world.is_main:
            with one_line_when_the_disk_is_full(run_dir, run_dir / RESULT_FILE):
                write_json(run_dir / RESULT_FILE, result)
            test = result["final_test_error"]
            summary = "diverged" if result["diverged"] else f"final test error {test:.2f}%"
            print(f"resdeep: {result['model']} seed {config.seed}: {summary} after {result['iterations']} iterations -> {run_dir}")
        barrier(world)  # leave together: a rank tearing down its process group early can hang the others
        return result
    finally:
        if lock is not None:
            lock.release()
        shutdown(world)
