"""The sweep launchers resdeep ships or supports, and its sweeper: making them available, checking their fields up front."""
from __future__ import annotations

import importlib.util
import shutil
from typing import List, Optional

from hydra.errors import CompactHydraException

from resdeep.errors import UserError

# Launchers that come from an optional extra, and how to get them.
EXTRAS = {
    "slurm": ("hydra_plugins.hydra_submitit_launcher", "pip install 'resdeep[slurm]'"),
    "submitit_slurm": ("hydra_plugins.hydra_submitit_launcher", "pip install 'resdeep[slurm]'"),
    "submitit_local": ("hydra_plugins.hydra_submitit_launcher", "pip install 'resdeep[slurm]'"),
    "joblib": ("hydra_plugins.hydra_joblib_launcher", "pip install hydra-joblib-launcher"),
}


SLURM_LAUNCHERS = ("slurm", "submitit_slurm")


class JobFailed(CompactHydraException):
    """A sweep job that failed or diverged: Hydra records its job as FAILED and the sweep exits non-zero."""


def register_launchers() -> None:
    """Make hydra/launcher=parallel and hydra/sweeper=resdeep (the default) available.

    Hydra finds plugins by walking the hydra_plugins namespace with pkgutil, which cannot see into a
    PEP 660 editable install (`pip install -e .`); importing the plugins and naming their classes to Hydra's
    registry makes them work there too (a regular install is found by the scan anyway)."""
    # start-up: the plugins (and Hydra's plugin registry) load only for commands that compose or launch
    from hydra.core.plugins import Plugins

    from hydra_plugins.resdeep_parallel_launcher import config  # noqa: F401 - stores hydra/launcher=parallel
    from hydra_plugins.resdeep_parallel_launcher.parallel_launcher import ParallelLauncher
    from hydra_plugins.resdeep_sweeper.sweeper import ResdeepSweeper  # stores hydra/sweeper=resdeep

    for plugin in (ParallelLauncher, ResdeepSweeper):
        Plugins.instance().class_name_to_class.setdefault(f"{plugin.__module__}.{plugin.__name__}", plugin)


def launcher_choice(overrides: List[str]) -> Optional[str]:
    """The launcher a command line picks with hydra/launcher=NAME, if any."""
    chosen = [o.split("=", 1)[1] for o in overrides if o.split("=", 1)[0].lstrip("+~") == "hydra/launcher" and "=" in o]
    return chosen[-1] if chosen else None


def check_launcher(overrides: List[str], launcher) -> None:
    """One line and exit 2 before any job starts: a launcher whose extra is missing, or fields this machine cannot honour."""
    choice = launcher_choice(overrides)
    if choice in EXTRAS and importlib.util.find_spec(EXTRAS[choice][0]) is None:
        raise UserError(f"hydra/launcher={choice} needs a launcher that is not installed; install it with: {EXTRAS[choice][1]}")
    if choice in SLURM_LAUNCHERS and shutil.which("sbatch") is None:
        raise UserError(f"hydra/launcher={choice} submits each job with SLURM's sbatch, which this machine does not have; "
                        "run the sweep on the cluster's login node, or here with hydra/launcher=parallel")
    if launcher is None or not str(launcher.get("_target_", "")).startswith("hydra_plugins.resdeep_parallel_launcher"):
        return
    from hydra_plugins.resdeep_parallel_launcher.slots import check_plan, visible_gpus  # its fields checked only when chosen

    problem = check_plan(visible_gpus(), launcher.workers, launcher.jobs_per_gpu, launcher.gpus_per_job, launcher.threads_per_job)
    if problem:
        raise UserError(problem)
