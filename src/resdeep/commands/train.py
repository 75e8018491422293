"""`resdeep train [overrides]`: checks every job's config, then hands the arguments to Hydra unchanged."""
from __future__ import annotations

import sys
from typing import List

import hydra
from hydra._internal.utils import get_args_parser
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from resdeep.args import one_line_errors
from resdeep.compose import check_train_arguments, config_dir
from resdeep.config import register_configs
from resdeep.errors import USAGE_EXIT_CODE, UserError

# Jobs of this process that failed, so that a sweep can finish the others and still exit non-zero.
FAILED_JOBS: List[str] = []


def train_job(cfg: DictConfig) -> dict | None:
    """One Hydra job: a single run, or one point of a sweep."""
    from resdeep.engine.job import run_job

    multirun = HydraConfig.get().mode == RunMode.MULTIRUN
    run_dir = HydraConfig.get().runtime.output_dir
    try:
        return run_job(cfg, run_dir)
    except UserError as error:
        if not multirun:
            # SystemExit passes through Hydra's error reporting, so the user sees one line, no traceback.
            print(f"resdeep: error: {error}", file=sys.stderr)
            sys.exit(USAGE_EXIT_CODE)
        print(f"resdeep: error in job {run_dir}: {error}", file=sys.stderr)
        FAILED_JOBS.append(run_dir)
    except Exception as error:  # noqa: BLE001 - a sweep must go on when one job crashes
        if not multirun:
            raise
        from resdeep.engine.job import record_crash

        log = record_crash(run_dir)
        print(f"resdeep: job {run_dir} failed: {type(error).__name__}: {error} (traceback in {log})", file=sys.stderr)
        FAILED_JOBS.append(run_dir)
    return None


def run_train_command(args: List[str]) -> int:
    """Validate the whole command up front, then run it through @hydra.main."""
    parsed = one_line_errors(get_args_parser(), "resdeep train").parse_args(args)
    informational = parsed.help or parsed.hydra_help or parsed.info or parsed.shell_completion or parsed.cfg
    if not informational:
        check_train_arguments(parsed.overrides, parsed.config_dir, parsed.multirun)
    register_configs()
    FAILED_JOBS.clear()
    main = hydra.main(version_base="1.3", config_path=str(config_dir()), config_name="config")(train_job)
    sys.argv = ["resdeep train", *args]
    try:
        main()
    except ValueError as error:  # Hydra's own argument checks (job errors never reach here)
        raise UserError(str(error).splitlines()[0]) from None
    if FAILED_JOBS:
        print(f"resdeep: {len(FAILED_JOBS)} job(s) of the sweep failed: {', '.join(FAILED_JOBS)}", file=sys.stderr)
        return 1
    return 0

