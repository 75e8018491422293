"""A Hydra launcher that runs several jobs at once, each in its own process with its own GPU or share of cores."""
import logging
import os
import pickle
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional, Sequence

from hydra.core.singleton import Singleton
from hydra.errors import CompactHydraException
from hydra.core.utils import JobReturn, JobStatus, configure_log, filter_overrides, setup_globals
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, open_dict

from hydra_plugins.resdeep_parallel_launcher.slots import check_plan, cpu_count, plan_workers, visible_gpus
from resdeep.runs.layout import CONSOLE_FILE

log = logging.getLogger(__name__)

INTERRUPTED_EXIT_CODE = 75  # resdeep's "checkpoint saved, run me again"


class JobProcessFailed(CompactHydraException):
    """A job's process ended without a result (it crashed, was killed, or stopped too many times)."""


@dataclass
class Job:
    """One point of the sweep and the process running it."""

    index: int
    overrides: List[str]
    config: DictConfig
    run_dir: Path
    job_file: Path
    return_file: Path
    starts: int = 0
    process: Optional[subprocess.Popen] = None
    slot: int = -1
    result: Optional[JobReturn] = field(default=None, repr=False)


class ParallelLauncher(Launcher):
    def __init__(self, workers: Optional[int] = None, jobs_per_gpu: int = 1, gpus_per_job: int = 1,
                 threads_per_job: Optional[int] = None, max_requeues: int = 3) -> None:
        self.workers, self.jobs_per_gpu, self.gpus_per_job = workers, jobs_per_gpu, gpus_per_job
        self.threads_per_job, self.max_requeues = threads_per_job, max_requeues
        self.config: Optional[DictConfig] = None
        self.hydra_context: Optional[HydraContext] = None
        self.task_function: Optional[TaskFunction] = None
        self.stop_signal: Optional[int] = None
        self.running: List[Job] = []

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.config, self.hydra_context, self.task_function = config, hydra_context, task_function

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        setup_globals()
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        gpus = visible_gpus()
        problem = check_plan(gpus, self.workers, self.jobs_per_gpu, self.gpus_per_job, self.threads_per_job)
        if problem:
            raise ValueError(problem)
        slots, threads = plan_workers(len(job_overrides), gpus, cpu_count(), self.workers, self.jobs_per_gpu,
                                      self.gpus_per_job, self.threads_per_job)
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        (sweep_dir / ".launcher").mkdir(parents=True, exist_ok=True)
        where = f"GPU(s) {', '.join(s for s in slots if s)}" if gpus else f"{threads} CPU thread(s) each"
        log.info(f"Launching {len(job_overrides)} jobs, {len(slots)} at a time ({where})")
        jobs = [self._prepare(initial_job_idx + k, list(overrides), sweep_dir) for k, overrides in enumerate(job_overrides)]
        self._run_all(jobs, slots, threads)
        return [job.result for job in jobs]

    def _prepare(self, index: int, overrides: List[str], sweep_dir: Path) -> Job:
        """Compose the job's config and write what its process needs to run it."""
        config = self.hydra_context.config_loader.load_sweep_config(self.config, overrides)
        with open_dict(config):
            config.hydra.job.id = index
            config.hydra.job.num = index
        run_dir = sweep_dir / str(config.hydra.sweep.subdir)
        job = Job(index, overrides, config, run_dir, sweep_dir / ".launcher" / f"job{index}.pkl", sweep_dir / ".launcher" / f"job{index}.return.pkl")
        state = Singleton.get_state()
        state.pop("omegaconf_resolvers")  # closures: the job's process registers its own when it imports the app
        payload = {"hydra_context": self.hydra_context, "task_function": self.task_function, "config": config, "singleton_state": state}
        job.job_file.write_bytes(pickle.dumps(payload))
        job.return_file.unlink(missing_ok=True)
        log.info(f"\t#{index} : {' '.join(filter_overrides(overrides))}")
        return job

    def _run_all(self, jobs: List[Job], slots: List[Optional[str]], threads: int) -> None:
        """Keep every slot busy until each job has a result; a stop request is passed on to the jobs."""
        waiting, running = list(jobs), self.running
        free = list(range(len(slots)))
        previous = {s: signal.signal(s, self._on_stop) for s in (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1, signal.SIGUSR2)}
        try:
            while waiting or running:
                while waiting and free and self.stop_signal is None:
                    job = waiting.pop(0)
                    job.slot = free.pop(0)
                    self._start(job, slots[job.slot], threads)
                    running.append(job)
                for job in [j for j in running if j.process.poll() is not None]:
                    running.remove(job)
                    free.append(job.slot)
                    if self._finish(job):
                        waiting.insert(0, job)  # interrupted on its own: run it again, it resumes
                if self.stop_signal is not None and not running:
                    break
                time.sleep(0.1)
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)
        if self.stop_signal is not None:
            log.info("Sweep stopped; run the same command again to resume it")
            sys.exit(INTERRUPTED_EXIT_CODE)

    def _on_stop(self, signum, _frame) -> None:
        """Stop starting jobs and ask the running ones to checkpoint and stop."""
        self.stop_signal = signum
        for job in self.running:
            if job.process.poll() is None:
                job.process.send_signal(signum)

    def _start(self, job: Job, devices: Optional[str], threads: int) -> None:
        job.run_dir.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
        if devices is not None:
            env["CUDA_VISIBLE_DEVICES"] = devices
        worker = ["-m", "hydra_plugins.resdeep_parallel_launcher.worker", str(job.job_file), str(job.return_file)]
        if self.gpus_per_job > 1:
            worker = ["-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={self.gpus_per_job}", *worker]
        console = open(job.run_dir / CONSOLE_FILE, "a")
        job.process = subprocess.Popen([sys.executable, *worker], stdout=console, stderr=subprocess.STDOUT, env=env,
                                       start_new_session=True)  # Ctrl-C reaches the jobs through the launcher only
        console.close()
        job.starts += 1

    def _finish(self, job: Job) -> bool:
        """Record a job whose process ended; True when it should run again."""
        code = job.process.returncode
        if job.return_file.is_file():
            answer = pickle.loads(job.return_file.read_bytes())
            job.result = self._job_return(job, answer["status"], answer["value"])
            return False
        if code == INTERRUPTED_EXIT_CODE and self.stop_signal is None and job.starts <= self.max_requeues:
            log.info(f"job #{job.index} stopped (exit 75); starting it again to resume")
            return True
        # Under torchrun (gpus_per_job > 1) a stop passed on by the launcher ends with torchrun's 1, not 75 (README: Several GPUs);
        # a job still starting (importing, before its handlers) when the stop came ends by the signal itself, having trained nothing.
        stopped = code == INTERRUPTED_EXIT_CODE or (self.stop_signal is not None and (self.gpus_per_job > 1 or code == -self.stop_signal))
        reason = "was stopped; run the sweep again to resume it" if stopped else f"ended with exit code {code}"
        job.result = self._job_return(job, JobStatus.FAILED, JobProcessFailed(f"job {job.run_dir} {reason} (console output in {job.run_dir / CONSOLE_FILE})"))
        print(f"resdeep: job {job.run_dir} {reason}", file=sys.stderr)
        return False

    @staticmethod
    def _job_return(job: Job, status: JobStatus, value) -> JobReturn:
        """What Hydra's sweeper and callbacks get for a job, as from its own launchers."""
        return JobReturn(overrides=job.overrides, cfg=job.config, hydra_cfg=job.config, working_dir=str(job.run_dir),
                         task_name=str(job.config.hydra.job.name), status=status, _return_value=value)
