"""The parallel launcher's fields, stored in Hydra's ConfigStore as hydra/launcher=parallel."""
from dataclasses import dataclass
from typing import Optional

from hydra.core.config_store import ConfigStore


@dataclass
class ParallelLauncherConf:
    _target_: str = "hydra_plugins.resdeep_parallel_launcher.parallel_launcher.ParallelLauncher"
    workers: Optional[int] = None  # jobs at once; null: one per GPU slot, or one per core (at most the sweep's size) on a CPU
    jobs_per_gpu: int = 1  # pack several small runs on one GPU
    gpus_per_job: int = 1  # more than 1: the job runs under torchrun (DDP) on that many GPUs of its own
    threads_per_job: Optional[int] = None  # CPU threads of each job; null: the cores split evenly between the workers
    max_requeues: int = 3  # a job that stops with exit 75 (interrupted) is started again, resuming, this many times


ConfigStore.instance().store(group="hydra/launcher", name="parallel", node=ParallelLauncherConf, provider="resdeep")
