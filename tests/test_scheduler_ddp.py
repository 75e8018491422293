"""DDP inside one SLURM job with several tasks: torchrun's variables from SLURM's (or submitit's) environment."""
import pytest

from resdeep.engine.distributed import first_host, scheduler_environment


@pytest.mark.parametrize("nodelist, host", [
    ("node01", "node01"),
    ("node01,node02", "node01"),
    ("gpu[03-05,09],cpu1", "gpu03"),
    ("n[001-002]-ib", "n001-ib"),
    ("rack[2-3]-node[07,01]", "rack2-node07"),
])
def test_the_master_is_the_first_host_of_the_node_list(nodelist, host):
    assert first_host(nodelist) == host


def slurm_task(procid, localid, **more):
    """The variables srun gives task `procid` of an 8-task step on two nodes (4 GPUs each) of job 4242."""
    return {"SLURM_JOB_ID": "4242", "SLURM_STEP_ID": "0", "SLURM_NTASKS": "8", "SLURM_STEP_NUM_TASKS": "8",
            "SLURM_PROCID": str(procid), "SLURM_LOCALID": str(localid), "SLURM_JOB_NODELIST": "gpu[07-08]",
            "SLURM_STEP_NODELIST": "gpu[07-08]", **more}


def test_each_slurm_task_gets_its_rank_the_world_and_one_master():
    tasks = [scheduler_environment(slurm_task(rank, rank % 4)) for rank in range(8)]
    assert [(t["RANK"], t["WORLD_SIZE"], t["LOCAL_RANK"], t["MASTER_ADDR"]) for t in tasks[4:6]] == [("4", "8", "0", "gpu07"), ("5", "8", "1", "gpu07")]
    ports = {t["MASTER_PORT"] for t in tasks}
    assert len(ports) == 1 and 1024 < int(ports.pop()) < 65536, "every task must reach the same port without being told"
    given = scheduler_environment(slurm_task(1, 1, MASTER_ADDR="10.0.0.7", MASTER_PORT="29400"))
    assert (given["MASTER_ADDR"], given["MASTER_PORT"]) == ("10.0.0.7", "29400"), "the user's own address and port win"


def test_submitit_local_tasks_meet_on_this_machine():
    task = scheduler_environment({"SUBMITIT_LOCAL_NTASKS": "2", "SUBMITIT_LOCAL_GLOBALID": "1", "SUBMITIT_LOCAL_LOCALID": "1",
                                  "SUBMITIT_LOCAL_JOB_ID": "31337"})
    assert (task["RANK"], task["WORLD_SIZE"], task["LOCAL_RANK"], task["MASTER_ADDR"]) == ("1", "2", "1", "127.0.0.1")


@pytest.mark.parametrize("environ", [
    {},  # a plain process
    {"SLURM_JOB_ID": "1", "SLURM_NTASKS": "8", "SLURM_PROCID": "0", "SLURM_JOB_NODELIST": "gpu07"},  # a batch script's own shell
    {**slurm_task(0, 0), "SLURM_STEP_NUM_TASKS": "1"},  # srun -n 1 inside an 8-task allocation
    {**slurm_task(3, 3), "WORLD_SIZE": "8", "RANK": "3"},  # torchrun (or the user) set it up already
])
def test_one_process_or_torchrun_is_left_alone(environ):
    assert scheduler_environment(environ) is None
