"""Checkpoints written atomically, kept a few deep, and read back with a fallback past a damaged one."""
from __future__ import annotations

import pickle
import sys
from pathlib import Path
from typing import Any, Dict, Optional

import torch

from resdeep.atomic_files import atomic_write, remove_stale_temporaries
from resdeep.errors import UserError
from resdeep.runs.layout import CHECKPOINT_DIR, checkpoint_path, checkpoint_paths


class _RememberWriteErrors:
    """A file wrapper that keeps the OSError of a failed write: torch.save reports it only as 'unexpected pos'."""

    def __init__(self, stream):
        self.stream, self.error = stream, None

    def write(self, data) -> int:
        try:
            return self.stream.write(data)
        except OSError as error:
            self.error = error
            raise

    def flush(self) -> None:
        self.stream.flush()


def save_checkpoint(run_dir: Path, iteration: int, state: Dict[str, Any], keep: int) -> Path:
    """Write iter_<n>.pt atomically; then drop all but the newest `keep`. A full disk is one clear UserError."""
    target = checkpoint_path(run_dir, iteration)
    remove_stale_temporaries(target.parent, "iter_*.pt")  # left by a process killed while writing
    stream = None

    def write(raw) -> None:
        nonlocal stream
        stream = _RememberWriteErrors(raw)
        torch.save(state, stream)

    try:
        atomic_write(target, write, mode="wb")
    except (OSError, RuntimeError) as error:
        cause = stream.error if stream is not None and stream.error is not None else error
        if not isinstance(cause, OSError):
            raise
        previous = checkpoint_paths(run_dir)
        kept = f"{previous[0][1]} is intact" if previous else "no earlier checkpoint exists"
        raise UserError(
            f"cannot write checkpoint {target}: {cause.strerror or cause}; {kept}. Free some space, then run the same command again to resume"
        ) from None
    for _, old in checkpoint_paths(run_dir)[keep:]:
        old.unlink(missing_ok=True)
    return target


def check_same_model(path: Path, state: Dict[str, Any], model: torch.nn.Module, model_config: Optional[dict]) -> None:
    """Raise one line when the checkpoint holds another network than `model` (say, a copied-in run)."""
    # Plain and residual nets of one depth have the same tensors, so the config is compared as well as the shapes;
    # only keys both configs know, so a field added to the schema later does not lock out older runs.
    saved_config, model_config = (state.get("config") or {}).get("model") or {}, model_config or {}
    shared = sorted(set(saved_config) & set(model_config))
    differing = [f"model.{k}={saved_config[k]} there, {model_config[k]} here" for k in shared if saved_config[k] != model_config[k]]
    ours = {name: tuple(t.shape) for name, t in model.state_dict().items()}
    theirs = {name: tuple(t.shape) for name, t in state["model"].items()}
    if ours != theirs:
        mismatched = sorted(set(ours) ^ set(theirs)) or [n for n in ours if ours[n] != theirs[n]]
        differing.append(f"{len(mismatched)} tensor(s) differ, e.g. {mismatched[0]}")
    if differing:
        raise UserError(f"checkpoint {path} holds another model than this run ({'; '.join(differing[:3])}); move it away, or pass restart=true")


def load_checkpoint_file(path: Path) -> Dict[str, Any]:
    """A checkpoint's contents: tensors and plain Python values only, so torch.load(weights_only=True) reads it."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        if "numpy" not in str(error):
            raise
        # Written before resdeep stored numpy's generator state as a tensor: our own file, read it the old way.
        return torch.load(path, map_location="cpu", weights_only=False)


def load_latest_checkpoint(run_dir: Path, model: Optional[torch.nn.Module] = None, model_config: Optional[dict] = None) -> Optional[Dict[str, Any]]:
    """The newest readable checkpoint; a truncated or corrupt one is reported and the previous one used.

    With `model`, a checkpoint of another network is refused with one line instead of loaded."""
    paths = checkpoint_paths(run_dir)
    for index, (iteration, path) in enumerate(paths):
        try:
            state = load_checkpoint_file(path)
            if state.get("iteration") != iteration:
                raise ValueError(f"it says iteration {state.get('iteration')}")
        except Exception as error:  # noqa: BLE001 - any damage means: fall back to the previous one
            next_step = "trying the previous one" if index + 1 < len(paths) else "no earlier checkpoint is left"
            reason = (str(error).strip().splitlines() or [""])[0]  # torch's unpickling errors run to a dozen lines
            print(f"resdeep: checkpoint {path} is damaged ({type(error).__name__}: {reason}); {next_step}", file=sys.stderr)
            continue
        if model is not None:
            check_same_model(path, state, model, model_config)
        return state
    if paths and model is not None:  # the trainer (which passes its model) goes on without one
        print(f"resdeep: no readable checkpoint in {Path(run_dir) / CHECKPOINT_DIR}: starting from scratch", file=sys.stderr)
    return None
