"""What makes a run this run (run.json), and whether a folder's run needs more training."""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

from omegaconf import OmegaConf

from resdeep.config import Config
from resdeep.errors import UserError
from resdeep.runs.records import DamagedFile, read_identity, read_result

# Data options that say where the files are or how they are read, not what the run learns from.
NOT_IDENTITY_DATA = ("root", "download", "verify", "workers", "device_resident")


def run_identity(cfg: Config) -> dict:
    """What makes a run this run: changing any of it needs a new folder (or restart=true)."""
    plain = OmegaConf.to_container(OmegaConf.structured(cfg))
    data = {k: v for k, v in plain["data"].items() if k not in NOT_IDENTITY_DATA}
    recipe = {k: v for k, v in plain["recipe"].items() if k not in ("max_iters", "epochs")}  # a longer run continues
    return {"model": plain["model"], "data": data, "recipe": recipe, "seed": cfg.seed}


def identity_differences(saved: dict, current: dict, prefix: str = "") -> List[str]:
    """Dotted keys whose values differ between two identities."""
    differences = []
    for key in sorted(set(saved) | set(current)):
        a, b = saved.get(key), current.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            differences += identity_differences(a, b, f"{prefix}{key}.")
        elif a != b:
            differences.append(f"{prefix}{key}: {a} -> {b}")
    return differences


def finished_result(run_dir: Path, config: Config) -> Optional[dict]:
    """The result of a run that needs no more training, else None; a folder holding another config is refused first."""
    try:
        saved, result = read_identity(run_dir), read_result(run_dir)
    except DamagedFile as damaged:
        raise UserError(f"{damaged}; pass restart=true to train this run again") from None
    if saved is not None and saved != run_identity(config):
        changed = "; ".join(identity_differences(saved, run_identity(config))[:4])
        raise UserError(f"{run_dir} holds a run with another config ({changed}); pass restart=true to replace it, or name=<new name> to keep both")
    # The length asked for now: max_iters, or (an epoch recipe without one) the whole recipe the run recorded.
    target = config.recipe.max_iters or (result or {}).get("recipe_iters") or (result or {}).get("max_iters", 0)
    if result and (result.get("diverged") or result["iterations"] >= target):
        return result
    return None
