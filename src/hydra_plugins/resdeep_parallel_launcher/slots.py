"""Which devices and how many CPU threads each job slot gets: pure functions of what the machine has."""

import os
from typing import List, Optional


def visible_gpus(environ=os.environ) -> List[str]:
    """The GPU ids this process may use: CUDA_VISIBLE_DEVICES when set, else every GPU torch sees."""
    listed = environ.get("CUDA_VISIBLE_DEVICES")
    if listed is not None:
        return [gpu.strip() for gpu in listed.split(",") if gpu.strip() and gpu.strip() != "-1"]
    try:
        import torch

        return [str(index) for index in range(torch.cuda.device_count())]
    except Exception:  # noqa: BLE001 - no usable CUDA: a CPU machine
        return []


def gpu_slots(gpus: List[str], jobs_per_gpu: int = 1, gpus_per_job: int = 1) -> List[str]:
    """CUDA_VISIBLE_DEVICES of each job slot, the GPUs' first jobs before any GPU gets a second one."""
    groups = [",".join(gpus[start:start + gpus_per_job]) for start in range(0, len(gpus) - gpus_per_job + 1, gpus_per_job)]
    return [group for _ in range(jobs_per_gpu) for group in groups]


def cpu_count() -> int:
    """Cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def plan_workers(jobs: int, gpus: List[str], cores: int, workers: Optional[int], jobs_per_gpu: int = 1,
                 gpus_per_job: int = 1, threads_per_job: Optional[int] = None) -> tuple[List[Optional[str]], int]:
    """(CUDA_VISIBLE_DEVICES per worker, None on a CPU; CPU threads per job)."""
    if gpus:
        slots: List[Optional[str]] = list(gpu_slots(gpus, jobs_per_gpu, gpus_per_job))
        slots = slots[: workers or len(slots)]
    else:
        slots = [None] * (workers or max(1, min(jobs, cores)))
    threads = threads_per_job or max(1, cores // len(slots))
    return slots, threads


def check_plan(gpus: List[str], workers: Optional[int], jobs_per_gpu: int, gpus_per_job: int, threads_per_job: Optional[int]) -> Optional[str]:
    """What is wrong with the launcher's fields on this machine, in one line, or None."""
    if workers is not None and workers <= 0:
        return f"hydra.launcher.workers={workers} must be a positive number of jobs at once (or null: one per GPU, or per core on a CPU)"
    if jobs_per_gpu <= 0:
        return f"hydra.launcher.jobs_per_gpu={jobs_per_gpu} must be 1 or more"
    if gpus_per_job <= 0:
        return f"hydra.launcher.gpus_per_job={gpus_per_job} must be 1 or more"
    if threads_per_job is not None and threads_per_job <= 0:
        return f"hydra.launcher.threads_per_job={threads_per_job} must be 1 or more (or null: the cores split between the workers)"
    if gpus and gpus_per_job > len(gpus):
        return f"hydra.launcher.gpus_per_job={gpus_per_job} but this machine has {len(gpus)} visible GPU(s); use at most {len(gpus)}"
    if not gpus and gpus_per_job > 1:
        return f"hydra.launcher.gpus_per_job={gpus_per_job} but no GPU is visible; leave it at 1 on a CPU"
    slots = len(gpu_slots(gpus, jobs_per_gpu, gpus_per_job))
    if gpus and workers is not None and workers > slots:
        return (f"hydra.launcher.workers={workers} but {len(gpus)} GPU(s) with jobs_per_gpu={jobs_per_gpu} and gpus_per_job={gpus_per_job} "
                f"give {slots} slot(s); lower workers or raise hydra.launcher.jobs_per_gpu")
    return None
