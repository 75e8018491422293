"""DDP set up from the environment torchrun (or a SLURM job with several tasks) creates; one process is rank 0 of a world of 1."""
from __future__ import annotations

import os
import re
import sys
import zlib
from dataclasses import dataclass
from typing import Dict, Mapping, Optional

import torch
import torch.distributed as torch_dist
from torch import nn
from torch.distributed.constants import default_pg_timeout


@dataclass
class World:
    """This process's place among the training processes."""

    rank: int = 0
    local_rank: int = 0
    size: int = 1

    @property
    def enabled(self) -> bool:
        return self.size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def first_host(nodelist: str) -> str:
    """The first host of a SLURM node list: "gpu[03-05,09],cpu1" -> "gpu03", "n[001-002]-ib" -> "n001-ib"."""
    depth, end = 0, len(nodelist)
    for index, char in enumerate(nodelist):
        depth += (char == "[") - (char == "]")
        if char == "," and depth == 0:
            end = index
            break
    return re.sub(r"\[([^\]]*)\]", lambda group: re.split(r"[,-]", group.group(1))[0], nodelist[:end])


def scheduler_environment(environ: Mapping[str, str] = os.environ) -> Optional[Dict[str, str]]:
    """torchrun's variables (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT) for one task of a SLURM job
    step with several tasks, or of submitit's local stand-in for one; None when torchrun already set them or
    there is a single task.

    SLURM_NTASKS counts only inside a job step (srun, as submitit uses): a batch script's own shell sees the
    allocation's count but is one process, so SLURM_STEP_NUM_TASKS is preferred. Every task derives the same
    port from the job id, so no task has to tell the others."""
    if "WORLD_SIZE" in environ:
        return None
    if "SLURM_PROCID" in environ and ("SLURM_STEP_NUM_TASKS" in environ or "SLURM_STEP_ID" in environ):
        size = environ.get("SLURM_STEP_NUM_TASKS", environ.get("SLURM_NTASKS", "1"))
        rank, local_rank, job = environ["SLURM_PROCID"], environ.get("SLURM_LOCALID", "0"), environ.get("SLURM_JOB_ID", "0")
        nodes = environ.get("SLURM_STEP_NODELIST") or environ.get("SLURM_JOB_NODELIST") or environ.get("SLURM_NODELIST") or "localhost"
        master = first_host(nodes)
    elif "SUBMITIT_LOCAL_GLOBALID" in environ:
        size, rank = environ.get("SUBMITIT_LOCAL_NTASKS", "1"), environ["SUBMITIT_LOCAL_GLOBALID"]
        local_rank, job, master = environ.get("SUBMITIT_LOCAL_LOCALID", "0"), environ.get("SUBMITIT_LOCAL_JOB_ID", "0"), "127.0.0.1"
    else:
        return None
    if int(size) <= 1:
        return None
    port = environ.get("MASTER_PORT") or str(20000 + zlib.crc32(job.encode()) % 40000)
    return {"RANK": rank, "WORLD_SIZE": size, "LOCAL_RANK": local_rank,
            "MASTER_ADDR": environ.get("MASTER_ADDR", master), "MASTER_PORT": port}


def adopt_scheduler_environment() -> None:
    """Under SLURM with several tasks, set torchrun's variables, so that DDP (and the batch check) need no torchrun."""
    found = scheduler_environment()
    if found:
        os.environ.update(found)


def setup_world(device_choice: str) -> World:
    """Join the process group when torchrun or a SLURM job step started several of us (WORLD_SIZE > 1): NCCL on CUDA, gloo on CPU."""
    adopt_scheduler_environment()
    size = int(os.environ.get("WORLD_SIZE", "1"))
    world = World(int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0")), size)
    if world.enabled and not torch_dist.is_initialized():
        use_cuda = device_choice != "cpu" and torch.cuda.is_available()
        if use_cuda:
            torch.cuda.set_device(world.local_rank)
        backend = "nccl" if use_cuda else "gloo"
        store = attempt_store()
        if store is None:
            torch_dist.init_process_group(backend)
        else:
            torch_dist.init_process_group(backend, store=store, rank=world.rank, world_size=world.size)
    return world


def attempt_store():
    """A key-value store of this torchrun attempt's own, or None for torch's default.

    torchrun keeps one store across worker restarts (`--max-restarts`) and the process group's keys
    are not separated by attempt (PyTorch issue #135712): a restarted group reads the addresses of the
    workers that died and cannot connect. On one node every worker has the same restart count, so a
    prefix per attempt separates them. Across nodes the counts can differ; there PyTorch's own switch,
    TORCH_DISABLE_SHARE_RDZV_TCP_STORE=1 for torchrun, gives each attempt a fresh store."""
    if os.environ.get("TORCHELASTIC_USE_AGENT_STORE") != "True":
        return None
    if int(os.environ.get("GROUP_WORLD_SIZE", "1")) > 1:
        if int(os.environ.get("TORCHELASTIC_MAX_RESTARTS", "0")) > 0 and os.environ.get("RANK") == "0":
            print("resdeep: warning: restarts across several nodes need TORCH_DISABLE_SHARE_RDZV_TCP_STORE=1 "
                  "in torchrun's environment (PyTorch issue #135712), or the restarted workers cannot connect", file=sys.stderr)
        return None
    shared = torch_dist.TCPStore(os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"]), is_master=False, timeout=default_pg_timeout)
    return torch_dist.PrefixStore(f"resdeep/attempt{os.environ.get('TORCHELASTIC_RESTART_COUNT', '0')}/", shared)


def all_reduce_sum(tensor: torch.Tensor, world: World) -> torch.Tensor:
    """Sum a tensor over all processes (identity in a world of one)."""
    if world.enabled:
        torch_dist.all_reduce(tensor)
    return tensor


def barrier(world: World) -> None:
    if world.enabled:
        torch_dist.barrier()


def shutdown(world: World) -> None:
    if world.enabled and torch_dist.is_initialized():
        torch_dist.destroy_process_group()


class GlobalBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm whose batch statistics span every process; works with gloo on the CPU, where
    torch.nn.SyncBatchNorm does not. Gradients flow through the all-reduce."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and torch_dist.is_initialized()):
            return super().forward(x)
        from torch.distributed.nn.functional import all_reduce  # only under DDP with synchronised BN

        channels = x.shape[1]
        local_count = torch.tensor([x.numel() / channels], dtype=x.dtype, device=x.device)
        sums = all_reduce(torch.cat([x.sum((0, 2, 3)), local_count]))
        total = sums[-1]
        mean = sums[:channels] / total
        centred = x - mean.view(1, channels, 1, 1)
        var = all_reduce((centred * centred).sum((0, 2, 3))) / total  # two passes: no cancellation
        with torch.no_grad():
            self.num_batches_tracked += 1
            unbiased = var * total / (total - 1)
            self.running_mean.mul_(1 - self.momentum).add_(self.momentum * mean)
            self.running_var.mul_(1 - self.momentum).add_(self.momentum * unbiased)
        shape = (1, channels, 1, 1)
        normalised = centred / torch.sqrt(var.view(shape) + self.eps)
        return normalised * self.weight.view(shape) + self.bias.view(shape)


def convert_sync_batchnorm(model: nn.Module, device: torch.device) -> nn.Module:
    """torch's SyncBatchNorm on GPUs; GlobalBatchNorm2d elsewhere."""
    if device.type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(model)
    for name, child in model.named_children():
        if isinstance(child, nn.BatchNorm2d):
            replacement = GlobalBatchNorm2d(child.num_features, child.eps, child.momentum)
            replacement.load_state_dict(child.state_dict())
            setattr(model, name, replacement)
        else:
            convert_sync_batchnorm(child, device)
    return model
