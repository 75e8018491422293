"""hydra/sweeper=resdeep (resdeep's default): Hydra's basic sweeper, with a different end.

The basic sweeper runs a batch of jobs, then re-raises the first failed job's exception, which Hydra prints
with a hint about HYDRA_FULL_ERROR and a stack trace setting. This one runs every batch of the sweep,
then exits 1 when a job failed: each job already said why in its own line (and its folder's error.log),
and `resdeep train` ends every sweep with one table of every job's state. Hydra's callbacks still see each
failed job as FAILED (on_job_end)."""
import sys
from dataclasses import dataclass
from pathlib import Path

from hydra._internal.core_plugins import basic_sweeper
from hydra.core.config_store import ConfigStore
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.utils import JobStatus
from hydra.plugins.sweeper import Sweeper
from omegaconf import OmegaConf

SWEEP_FAILED_EXIT_CODE = 1


@dataclass
class ResdeepSweeperConf(basic_sweeper.BasicSweeperConf):
    _target_: str = "hydra_plugins.resdeep_sweeper.sweeper.ResdeepSweeper"


class ResdeepSweeper(Sweeper):
    """The basic sweeper's batches and checks, held rather than inherited: Hydra's plugin scan re-executes the
    basic sweeper's module, and its own super() call then refuses a subclass of the class that was replaced."""

    def __init__(self, max_batch_size=None, params=None):
        self.basic = basic_sweeper.BasicSweeper(max_batch_size=max_batch_size, params=params)  # the module's class now

    def setup(self, *, hydra_context, task_function, config) -> None:
        self.basic.setup(hydra_context=hydra_context, task_function=task_function, config=config)

    def sweep(self, arguments):
        """Every job of every batch, then exit 1 if any failed (the jobs' results, as the basic sweeper's, otherwise)."""
        basic = self.basic
        parser = OverridesParser.create(config_loader=basic.hydra_context.config_loader)
        basic.overrides = basic.split_arguments(parser.parse_overrides(basic._parse_config() + list(arguments)), basic.max_batch_size)
        sweep_dir = Path(basic.config.hydra.sweep.dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(basic.config, sweep_dir / "multirun.yaml")  # Hydra's record of the sweep, as the basic sweeper keeps it
        returns, first_job, failed = [], 0, 0
        while not basic.is_done():
            batch = basic.get_job_batch()
            basic.validate_batch_is_legal(batch)
            results = basic.launcher.launch(batch, initial_job_idx=first_job)
            failed += sum(result.status == JobStatus.FAILED for result in results)
            first_job += len(batch)
            returns.append(results)
        if failed:
            sys.exit(SWEEP_FAILED_EXIT_CODE)
        return returns


ConfigStore.instance().store(group="hydra/sweeper", name="resdeep", node=ResdeepSweeperConf, provider="resdeep")
