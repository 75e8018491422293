"""Where the shipped configs (the presets of every group) live, and what each group offers."""
from __future__ import annotations

from pathlib import Path
from typing import List


def config_dir() -> Path:
    """conf/ shipped inside the installed package, or conf/ at the top of a source checkout."""
    packaged = Path(__file__).resolve().parent / "conf"
    if (packaged / "config.yaml").is_file():
        return packaged
    return Path(__file__).resolve().parents[2] / "conf"


def group_options(group: str) -> List[str]:
    """The preset names available in a config group (model, data, recipe, ...)."""
    return sorted(path.stem for path in (config_dir() / group).glob("*.yaml"))
