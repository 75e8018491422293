"""Finding the Hydra configs, composing them outside @hydra.main, and checking a whole sweep up front."""
from __future__ import annotations

import re
from pathlib import Path
from typing import List, Optional

from hydra import compose, initialize_config_dir
from hydra.errors import HydraException, MissingConfigException
from omegaconf import DictConfig, OmegaConf, open_dict
from omegaconf.errors import OmegaConfBaseException

from resdeep.args import check_writable
from resdeep.config import Config, register_configs, validate
from resdeep.errors import UserError


def config_dir() -> Path:
    """conf/ shipped inside the installed package, or conf/ at the top of a source checkout."""
    packaged = Path(__file__).resolve().parent / "conf"
    if (packaged / "config.yaml").is_file():
        return packaged
    return Path(__file__).resolve().parents[2] / "conf"


def group_options(group: str) -> List[str]:
    """The preset names available in a config group (model, data, recipe, ...)."""
    return sorted(path.stem for path in (config_dir() / group).glob("*.yaml"))


def hydra_error_line(error: Exception) -> str:
    """Hydra's multi-line messages folded into one line the user can act on."""
    if isinstance(error, MissingConfigException) and error.missing_cfg_file and "/" in error.missing_cfg_file:
        group, name = error.missing_cfg_file.rsplit("/", 1)
        options = list(error.options or group_options(group))
        return f"unknown {group} '{name}'; choose one of: {', '.join(options)}"
    text = str(error)
    if "is not in struct" in text or "Could not override" in text:
        key = re.search(r"'([^']+)'", text)
        key = key.group(1) if key else "?"
        return f"unknown config key '{key}'; check the spelling (resdeep train --cfg job shows every key), or prefix it with + to add a new one"
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return " ".join(lines[:3]) if lines else type(error).__name__


def compose_config(overrides: List[str], extra_config_dir: Optional[str] = None, with_hydra: bool = False) -> DictConfig:
    """Compose conf/config.yaml with overrides, turning Hydra's errors into UserError."""
    register_configs()
    overrides = list(overrides)
    if extra_config_dir:
        overrides.append(f"hydra.searchpath=[file://{Path(extra_config_dir).resolve()}]")
    try:
        with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
            return compose("config", overrides=overrides, return_hydra_config=with_hydra)
    except (HydraException, OmegaConfBaseException, ValueError) as error:
        raise UserError(hydra_error_line(error)) from None


def load_config(overrides: List[str], extra_config_dir: Optional[str] = None) -> Config:
    """Compose and validate: the typed config for commands that are not Hydra jobs (summary, bench...)."""
    return validate(compose_config(overrides, extra_config_dir))


def without_hydra(cfg: DictConfig) -> DictConfig:
    """A copy of a composed config without its hydra node, ready for validate()."""
    cfg = cfg.copy()
    with open_dict(cfg):
        cfg.pop("hydra", None)
    return cfg


def check_job(overrides: List[str], extra_config_dir: Optional[str]) -> Config:
    """One job's config, composed and validated, with an out_dir it can write to."""
    config = validate(without_hydra(compose_config(overrides, extra_config_dir, with_hydra=True)))
    check_writable(config.out_dir, f"out_dir={config.out_dir}")
    return config


def run_folder(overrides: List[str]) -> Path:
    """The run folder a train command with these overrides uses (hydra.run.dir: one layout, in conf/)."""
    composed = compose_config(overrides, with_hydra=True)
    validate(without_hydra(composed))
    return Path(composed.hydra.run.dir)


def check_train_arguments(overrides: List[str], extra_config_dir: Optional[str], multirun: bool) -> int:
    """Compose and validate every job a train command would run, before any of them starts; returns the count."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    try:
        parsed = parser.parse_overrides(overrides)
    except HydraException as error:
        raise UserError(hydra_error_line(error)) from None
    if not multirun:
        check_job(overrides, extra_config_dir)
        return 1
    first_job = BasicSweeper.split_arguments(parsed, None)[0][0]
    first = compose_config(first_job, extra_config_dir, with_hydra=True)
    params_node = first.hydra.sweeper.get("params")
    sweep_params = OmegaConf.to_container(params_node, resolve=False) if params_node else {}
    grid = [f"{key}={value}" for key, value in sweep_params.items()] + list(overrides)
    try:
        jobs = BasicSweeper.split_arguments(parser.parse_overrides(grid), None)[0]
    except HydraException as error:
        raise UserError(hydra_error_line(error)) from None
    for job in jobs:
        check_job(job, extra_config_dir)
    return len(jobs)
