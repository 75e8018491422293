"""`resdeep train [overrides]`: checks every job's config, then hands the arguments to Hydra unchanged."""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import List

import hydra
from hydra._internal.utils import get_args_parser
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from resdeep.args import one_line_errors
from resdeep.compose import check_train_arguments, compose_config
from resdeep.presets import config_dir
from resdeep.config import register_configs
from resdeep.errors import USAGE_EXIT_CODE, UserError
from resdeep.launchers import JobFailed, check_launcher, register_launchers
from resdeep.runs.layout import ERROR_FILE
from resdeep.runs.state import read_run
from resdeep.runs.sweep import record_sweep
from resdeep.runs.table import format_table
from resdeep.version import version_text


def train_job(cfg: DictConfig) -> dict | None:
    """One Hydra job: a single run, or one point of a sweep.

    In a sweep a failed or diverged job raises JobFailed, so that every launcher (basic, parallel,
    joblib, submitit) hands Hydra and its callbacks a FAILED job, and the sweep exits 1 at the end."""
    from resdeep.engine.job import run_job  # start-up: torch loads in the job, not for --help, --cfg or a refused command

    multirun = HydraConfig.get().mode == RunMode.MULTIRUN
    run_dir = HydraConfig.get().runtime.output_dir
    try:
        result = run_job(cfg, run_dir, hydra_files(cfg), sweep_job=multirun)
    except UserError as error:
        if not multirun:
            # SystemExit passes through Hydra's error reporting, so the user sees one line, no traceback.
            print(f"resdeep: error: {error}", file=sys.stderr)
            sys.exit(USAGE_EXIT_CODE)
        print(f"resdeep: error in job {run_dir}: {error}", file=sys.stderr)
        raise JobFailed(f"job {run_dir} failed: {error}") from None
    except Exception as error:  # noqa: BLE001 - a sweep must go on when one job crashes
        if not multirun:
            raise
        log = Path(run_dir) / ERROR_FILE  # run_job wrote the traceback there
        print(f"resdeep: job {run_dir} failed: {type(error).__name__}: {error} (traceback in {log})", file=sys.stderr)
        raise JobFailed(f"job {run_dir} failed: {type(error).__name__}: {error}") from None
    if multirun and result.get("diverged"):
        raise JobFailed(f"job {run_dir} diverged at iteration {result['iterations']}")
    return result


def refuse_sweep_in_several_processes() -> None:
    """`torchrun ... resdeep train -m` (or srun with several tasks) would run the whole sweep in every process, and
    the processes of one job cannot meet again for the next: refuse before anything runs, in one line from rank 0."""
    several, rank = int(os.environ.get("WORLD_SIZE", "1")) > 1, os.environ.get("RANK", "0")
    if not several and ("SLURM_PROCID" in os.environ or "SUBMITIT_LOCAL_GLOBALID" in os.environ):
        from resdeep.engine.distributed import scheduler_environment  # imports torch: only under a scheduler

        found = scheduler_environment()
        several, rank = found is not None, (found or {}).get("RANK", rank)
    if not several:
        return
    if rank != "0":
        # Rank 0 says why, once. torchrun stops the others as soon as one exits: waiting lets rank 0's line out first.
        time.sleep(30)
        sys.exit(USAGE_EXIT_CODE)
    raise UserError("a sweep (-m) cannot run inside torchrun or a SLURM step with several tasks: each process would run "
                    "every job; start the sweep once, and give each job several GPUs with hydra/launcher=parallel "
                    "hydra.launcher.gpus_per_job=N (or hydra/launcher=slurm hydra.launcher.tasks_per_node=N)")


def hydra_files(cfg: DictConfig) -> dict:
    """What Hydra would have written to .hydra/ (conf/config.yaml turns that off): the job writes it once it trains."""
    hydra_cfg = HydraConfig.instance().cfg
    return {
        "config.yaml": OmegaConf.to_yaml(cfg),
        "hydra.yaml": OmegaConf.to_yaml(hydra_cfg),
        "overrides.yaml": OmegaConf.to_yaml(hydra_cfg.hydra.overrides.task),
    }


def run_train_command(args: List[str], table_when_all_finish: bool = True) -> int:
    """Validate the whole command up front, then run it through @hydra.main.

    A sweep ends with one table of its jobs; `resdeep demo`, which prints its own findings, asks for it only
    when a job did not finish (table_when_all_finish=False)."""
    if "--version" in args:  # Hydra's own --version names only Hydra
        print(version_text())
        return 0
    parsed = one_line_errors(get_args_parser(), "resdeep train").parse_args(args)
    informational = parsed.help or parsed.hydra_help or parsed.info or parsed.shell_completion or parsed.cfg
    register_launchers()
    plan = None
    if not informational:
        if parsed.multirun:
            refuse_sweep_in_several_processes()
        check_launcher(parsed.overrides, None)  # a missing extra or scheduler, before composing a config that names it
        plan = check_train_arguments(parsed.overrides, parsed.config_dir, parsed.multirun)
        if parsed.multirun:
            check_launcher(parsed.overrides, launcher_config(parsed.overrides, parsed.config_dir))
            record_sweep(plan.sweep_dir, plan.jobs, ["resdeep", "train", *args])
    register_configs()
    main = hydra.main(version_base="1.3", config_path=str(config_dir()), config_name="config")(train_job)
    # Hydra's completion script names the program after argv[0]: it must be the `resdeep` the shell runs.
    sys.argv = ["resdeep" if parsed.shell_completion else "resdeep train", *with_overrides(args, parsed.overrides, plan.extra_overrides if plan else [])]
    try:
        main()
    except ValueError as error:  # Hydra's own argument checks (job errors never reach here)
        raise UserError(str(error).splitlines()[0]) from None
    except SystemExit as stopped:
        if parsed.multirun and plan is not None:
            print_sweep_end(plan, file=sys.stderr)
        raise
    if parsed.multirun and plan is not None and table_when_all_finish:
        print_sweep_end(plan, file=sys.stdout)
    return 0


def print_sweep_end(plan, file) -> None:
    """The end of a sweep: every job's state in one table, the jobs that failed or diverged named, where to look."""
    runs = [read_run(folder) for _, folder in plan.jobs if folder is not None]
    unplaced = sum(folder is None for _, folder in plan.jobs)
    print(f"\nresdeep: the sweep's {len(plan.jobs)} job(s):", file=file)
    print(format_table(runs, plan.sweep_dir, unplaced), file=file)
    print(f"resdeep: `resdeep status {plan.sweep_dir}` shows every job's state again; `resdeep report {plan.sweep_dir}` writes the table and figures", file=file)


def with_overrides(args: List[str], overrides: List[str], extra: List[str]) -> List[str]:
    """args with extra overrides right after the user's (Hydra's argparse wants all overrides in one run)."""
    count = len(overrides)
    for index in range(len(args) - count + 1):
        if count and args[index:index + count] == overrides:
            return args[:index + count] + extra + args[index + count:]
    return args + extra


def launcher_config(overrides: List[str], extra_config_dir: str | None):
    """The hydra.launcher node the command line composes to (its launcher fields do not depend on the sweep)."""
    chosen = [o for o in overrides if o.lstrip("+~").startswith(("hydra/launcher", "hydra.launcher"))]
    return compose_config(chosen, extra_config_dir, with_hydra=True).hydra.launcher

