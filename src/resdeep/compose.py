"""Finding the Hydra configs, composing them outside @hydra.main, and checking a whole sweep up front."""
from __future__ import annotations

import re
import typing
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Set, Tuple

from hydra import compose, initialize_config_dir
from hydra._internal.config_loader_impl import get_overrides_dirname
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException, MissingConfigException
from omegaconf import DictConfig, OmegaConf, open_dict, read_write
from omegaconf.errors import OmegaConfBaseException, ValidationError

from resdeep.args import check_writable
from resdeep.config import Config, register_configs, validate
from resdeep.errors import UserError
from resdeep.launchers import register_launchers
from resdeep.presets import config_dir, group_options
from resdeep.runs.identity import finished_result


def hydra_error_line(error: Exception) -> str:
    """Hydra's multi-line messages folded into one line the user can act on."""
    if isinstance(error, MissingConfigException) and error.missing_cfg_file and "/" in error.missing_cfg_file:
        group, name = error.missing_cfg_file.rsplit("/", 1)
        options = list(error.options or group_options(group))
        return f"unknown {group} '{name}'; choose one of: {', '.join(options)}"
    type_error = type_error_line(error)
    if type_error:
        return type_error
    text = str(error)
    if "is not in struct" in text or "Could not override" in text:
        key = re.search(r"'([^']+)'", text)
        key = key.group(1) if key else "?"
        return f"unknown config key '{key}'; check the spelling (resdeep train --cfg job shows every key), or prefix it with + to add a new one"
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return " ".join(lines[:3]) if lines else type(error).__name__


# How each schema type is asked for, in the one line a wrong value gets.
EXPECTED = {int: "a whole number", float: "a number", bool: "true or false", str: "a string"}


def expected_type(annotation) -> str:
    """A schema field's type in words: int -> 'a whole number', Optional[int] -> 'a whole number or null'."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) is typing.Union and len(args) == 1:
        return f"{expected_type(args[0])} or null"
    if typing.get_origin(annotation) in (list, typing.List):
        item = expected_type(args[0]) if args else "values"
        return f"a list of {item.removeprefix('a ')}s, e.g. [1,2]" if args else "a list, e.g. [1,2]"
    return EXPECTED.get(annotation, getattr(annotation, "__name__", str(annotation)))


def type_error_line(error: Exception) -> Optional[str]:
    """'recipe.lr=fast: expected a number' from Hydra's 'Error merging override recipe.lr=fast'."""
    cause = error.__cause__ or error.__context__
    if not isinstance(cause, ValidationError) or not getattr(cause, "full_key", None):
        return None
    key = cause.full_key
    override = re.search(r"override (\S+)", str(error))
    given = override.group(1) if override else key
    schema = getattr(cause, "object_type", None)
    try:
        annotation = typing.get_type_hints(schema)[key.rsplit(".", 1)[-1]]
    except (TypeError, KeyError, NameError):
        return f"{given} is not valid for {key}: {str(cause).splitlines()[0]}"
    return f"{given} is not valid: {key} takes {expected_type(annotation)}"


def compose_config(overrides: List[str], extra_config_dir: Optional[str] = None, with_hydra: bool = False) -> DictConfig:
    """Compose conf/config.yaml with overrides, turning Hydra's errors into UserError."""
    register_configs()
    register_launchers()  # the primary config names hydra/sweeper=resdeep
    overrides = list(overrides)
    if extra_config_dir and not Path(extra_config_dir).is_dir():
        raise UserError(f"--config-dir {extra_config_dir} is not a folder; give a folder of config groups, e.g. my_conf/model/mynet.yaml")
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


def check_job(overrides: List[str], extra_config_dir: Optional[str]) -> Tuple[Config, DictConfig]:
    """One job's config, composed and validated, with an out_dir it can write to; and the composed tree."""
    composed = compose_config(overrides, extra_config_dir, with_hydra=True)
    config = validate(without_hydra(composed))
    check_writable(config.out_dir, f"out_dir={config.out_dir}")
    return config, composed


def run_folder(overrides: List[str]) -> Path:
    """The run folder a train command with these overrides uses (hydra.run.dir: one layout, in conf/)."""
    composed = compose_config(overrides, with_hydra=True)
    validate(without_hydra(composed))
    return Path(composed.hydra.run.dir)


def job_folder(composed: DictConfig, multirun: bool, number: int = 0, override_dirname: str = "") -> Optional[Path]:
    """The folder Hydra will give this job: hydra.run.dir, or the sweep's dir/subdir with this override_dirname.

    None when it names something only the launcher knows (e.g. a Slurm job id): then the job checks it itself."""
    if not multirun:
        return Path(composed.hydra.run.dir)
    with read_write(composed), open_dict(composed):
        composed.hydra.job.override_dirname = override_dirname
        composed.hydra.job.num = composed.hydra.job.id = number  # what Hydra's basic launcher sets
    try:
        return Path(composed.hydra.sweep.dir) / str(composed.hydra.sweep.subdir)
    except OmegaConfBaseException:
        return None


def folder_name_keys(jobs: List[list], bases: List[Optional[Path]]) -> Set[str]:
    """Swept keys whose values differ between jobs that would otherwise share a folder: they go into its name.

    A key already in the path (model, data, seed, a depth that changes the model's name) never needs to."""
    shown, by_base = set(), defaultdict(list)
    for job, base in zip(jobs, bases):
        by_base[base].append({o.key_or_group: o.input_line for o in job})
    for group in by_base.values():
        for key in set().union(*group):
            if len({values.get(key) for values in group}) > 1:
                shown.add(key)
    return shown


def sweep_jobs(parser, parsed: list, overrides: List[str], extra_config_dir: Optional[str]) -> List[List[str]]:
    """Every job of a sweep as its list of overrides, the sweeper's params from the config (experiments) included."""
    first_job = BasicSweeper.split_arguments(parsed, None)[0][0]
    first = compose_config(first_job, extra_config_dir, with_hydra=True)
    params_node = first.hydra.sweeper.get("params")
    sweep_params = OmegaConf.to_container(params_node, resolve=False) if params_node else {}
    grid = [f"{key}={value}" for key, value in sweep_params.items()] + list(overrides)
    try:
        return BasicSweeper.split_arguments(parser.parse_overrides(grid), None)[0]
    except HydraException as error:
        raise UserError(hydra_error_line(error)) from None


def check_run_folder(folder: Path, config: Config, named: str) -> None:
    """Before Hydra creates anything: the folder can be written, and it holds no run of another config."""
    check_writable(folder, named)
    if not config.restart:
        finished_result(folder, config)  # raises the one line naming the keys that differ


@dataclass
class TrainPlan:
    """What a checked train command will run: the overrides it adds to the user's, and each job with its folder."""

    extra_overrides: List[str]
    jobs: List[Tuple[List[str], Optional[Path]]]  # (the job's overrides, its run folder; None where the launcher names it)
    sweep_dir: Optional[Path] = None


def check_train_arguments(overrides: List[str], extra_config_dir: Optional[str], multirun: bool) -> TrainPlan:
    """Compose and validate every job a train command would run, and its run folder, before any of them starts.

    The plan's extra overrides are, for a sweep, which keys stay out of the folder names
    (hydra.job.config.override_dirname.exclude_keys), so every job gets its own."""
    parser = OverridesParser.create()
    try:
        parsed = parser.parse_overrides(overrides)
    except HydraException as error:
        raise UserError(hydra_error_line(error)) from None
    if not multirun:
        config, composed = check_job(overrides, extra_config_dir)
        folder = job_folder(composed, False)
        check_run_folder(folder, config, f"hydra.run.dir={composed.hydra.run.dir}")
        return TrainPlan([], [(list(overrides), folder)])
    jobs = sweep_jobs(parser, parsed, overrides, extra_config_dir)
    checked = [check_job(job, extra_config_dir) for job in jobs]
    job_overrides = [[o for o in parser.parse_overrides(job) if not o.is_hydra_override()] for job in jobs]
    bases = [job_folder(composed, True, number) for number, (_, composed) in enumerate(checked)]
    shown = folder_name_keys(job_overrides, bases)
    excluded = sorted({o.key_or_group for job in job_overrides for o in job} - shown)
    planned = []
    for number, ((config, composed), job) in enumerate(zip(checked, job_overrides)):
        separators = composed.hydra.job.config.override_dirname
        folder = job_folder(composed, True, number, get_overrides_dirname(job, excluded, separators.item_sep, separators.kv_sep))
        if folder is not None:
            check_run_folder(folder, config, f"hydra.sweep.dir={composed.hydra.sweep.dir}")
        planned.append((jobs[number], folder))
    exclude = "hydra.job.config.override_dirname.exclude_keys=[" + ",".join(f"'{key}'" for key in excluded) + "]"
    return TrainPlan([exclude], planned, Path(str(checked[0][1].hydra.sweep.dir)))
