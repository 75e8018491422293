"""One run folder's life: start, resume, skip when finished, restart on request, record how it ended."""
from __future__ import annotations

import errno
import shutil
import sys
import traceback
from contextlib import contextmanager
from pathlib import Path
from typing import Dict, Optional

import torch.distributed as torch_dist
from omegaconf import DictConfig

from resdeep.atomic_files import atomic_write_text, write_json
from resdeep.config import Config, validate
from resdeep.engine.distributed import World, adopt_scheduler_environment, barrier, setup_world, shutdown
from resdeep.engine.signals import INTERRUPTED_EXIT_CODE, StopRequest
from resdeep.engine.train import TrainingInterrupted, train
from resdeep.errors import UserError
from resdeep.models import model_id
from resdeep.runs.identity import finished_result, run_identity
from resdeep.runs.layout import HYDRA_DIR, IDENTITY_FILE, RESULT_FILE, RUN_OUTPUTS, STATE_FILE, checkpoint_paths
from resdeep.runs.lock import RunLock, lock_run_folder
from resdeep.runs.records import read_identity
from resdeep.runs.state import StateWriter, record_failure

# What a write fails with when the disk, the user's quota or the file-size limit is reached.
DISK_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


def clear_run(run_dir: Path) -> None:
    """restart=true: remove what earlier attempts wrote (the lock stays: this process holds it)."""
    for name in RUN_OUTPUTS:
        path = run_dir / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def forget_run(run_dir: Path) -> None:
    """Undo the start of a run that never trained: what it wrote when it started, so nothing of it remains."""
    for name in (IDENTITY_FILE, STATE_FILE):
        (run_dir / name).unlink(missing_ok=True)
    shutil.rmtree(run_dir / HYDRA_DIR, ignore_errors=True)


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
        where = error.filename or path or f"a file in {run_dir}"
        latest = checkpoint_paths(run_dir)
        kept = f"the last checkpoint, {latest[0][1]}, is intact" if latest else "no checkpoint was written yet"
        raise UserError(f"cannot write {where}: {error.strerror or error}; {kept}. Free some space, then run the same command again to resume") from None


def run_job(cfg: DictConfig, run_dir: str, hydra_files: Optional[Dict[str, str]] = None, sweep_job: bool = False) -> dict:
    """Train the run in run_dir unless it is finished; exit 75 after a requested stop.

    Order matters: compare the config, then skip a finished run, then lock, and only then write, so a
    refused or skipped command leaves the folder exactly as it was. Once the folder is ours, a failure is
    recorded in it (error.log, state.json), except a single run refused by its data before training, which
    leaves nothing: its one line is on the console. A sweep's job records that too (`sweep_job`), so the
    sweep's table and `resdeep status` can name it."""
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
        facts = {"model": model_id(config.model), "seed": config.seed, "batch_size": config.recipe.batch_size, "total": config.recipe.max_iters}
        state = StateWriter(run_dir, **facts) if world.is_main else None
        new_run = config.restart or read_identity(run_dir) is None
        if world.is_main:
            if config.restart:
                clear_run(run_dir)
            lock.claim()
            write_json(run_dir / IDENTITY_FILE, run_identity(config))
            save_hydra_files(run_dir, hydra_files or {})
            (run_dir / RESULT_FILE).unlink(missing_ok=True)  # a longer max_iters continues a finished run
        barrier(world)
        try:
            result = train_and_record(config, run_dir, world, state)
        except UserError as error:
            if world.is_main and new_run and not checkpoint_paths(run_dir):
                forget_run(run_dir)  # refused before training (e.g. by the data): the corrected command starts afresh
            if world.is_main and (sweep_job or not new_run or checkpoint_paths(run_dir)):
                record_failure(run_dir, str(error), **(state.fixed if state else {}))
            raise
        except Exception:  # a crash: why, in the folder, then as before
            if world.is_main:
                record_failure(run_dir, traceback.format_exc(), **(state.fixed if state else {}))
            raise
        barrier(world)  # leave together: a rank tearing down its process group early can hang the others
        return result
    finally:
        if lock is not None:
            lock.release()
        shutdown(world)


def train_and_record(config: Config, run_dir: Path, world: World, state: Optional[StateWriter]) -> dict:
    """Train; then write result.json and the final state, or exit 75 after a requested stop."""
    # The disk check wraps the handlers below: its one line is not a refusal that forgets the run.
    with StopRequest() as stop, one_line_when_the_disk_is_full(run_dir):
        try:
            result = train(config, run_dir, world, stop, state)
        except TrainingInterrupted as interrupted:
            if world.is_main:  # one line, not one per rank
                print(f"resdeep: stopped at iteration {interrupted}; run the same command again to resume", file=sys.stderr)
            barrier(world)  # every rank stops at the same iteration (train agrees on it), so all arrive
            stop.hand_over()  # under submitit: it requeues the job, which resumes from the checkpoint
            sys.exit(INTERRUPTED_EXIT_CODE)
    if world.is_main:
        with one_line_when_the_disk_is_full(run_dir, run_dir / RESULT_FILE):
            write_json(run_dir / RESULT_FILE, result)
            state.write(result["status"], result["iterations"], total=result["max_iters"], checkpoint=result["iterations"],
                        train_error=result["final_train_error"], test_error=result["final_test_error"])
        summary = "diverged" if result["diverged"] else f"final test error {result['final_test_error']:.2f}%"
        print(f"resdeep: {result['model']} seed {config.seed}: {summary} after {result['iterations']} iterations -> {run_dir}")
    return result
