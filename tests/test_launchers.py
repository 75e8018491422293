"""Sweeps under every launcher: parallel jobs match lone runs bitwise, stopped jobs requeue, failures fail the sweep."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from conftest import resdeep
from hydra_plugins.resdeep_parallel_launcher.slots import check_plan, gpu_slots, plan_workers
from resdeep.cli import main as cli_main

TESTS = Path(__file__).resolve().parent


def tiny(out_dir, *extra, iters=30):
    """A seconds-long run on a small slice of the built-in data set (as in test_engine)."""
    return ["data=synthetic", "data.train_size=256", "data.test_size=64", "model=resnet20", "model.depth=8", "recipe=smoke",
            "recipe.batch_size=16", f"recipe.max_iters={iters}", "trainer.log_every=5", "trainer.eval_every=10",
            "trainer.checkpoint_every=5", "trainer.device=cpu", "trainer.progress=lines", f"out_dir={out_dir}",
            "hydra.sweep.subdir=seed${seed}", *extra]


def weights(folder, iteration):
    return torch.load(Path(folder) / "checkpoints" / f"iter_{iteration:08d}.pt", weights_only=False)["model"]


def same_weights(a, b):
    return all(torch.equal(a[key], b[key]) for key in a)


def children(parent, marker):
    """Ids of live processes descended from `parent` whose command line holds `marker` (Linux /proc)."""
    found, frontier = [], [parent]
    while frontier:
        pid = frontier.pop()
        for proc in Path("/proc").glob("[0-9]*"):
            try:
                if int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    frontier.append(int(proc.name))
                    if marker in (proc / "cmdline").read_bytes():
                        found.append(int(proc.name))
            except (OSError, ValueError, IndexError):
                continue
    return found


def signal_job_after_checkpoint(sweep, checkpoint, marker, signum):
    """Wait for a job's first checkpoint, then send its process `signum`."""
    deadline = time.time() + 120
    while not checkpoint.exists() and time.time() < deadline and sweep.poll() is None:
        time.sleep(0.05)
    jobs = children(sweep.pid, marker)
    assert jobs and sweep.poll() is None, "the job should be training"
    for pid in jobs:
        os.kill(pid, signum)


def test_gpu_slots_give_each_job_its_own_gpu_first_then_pack_them():
    assert gpu_slots(["0", "1", "2", "3"]) == ["0", "1", "2", "3"]
    assert gpu_slots(["0", "1"], jobs_per_gpu=3) == ["0", "1", "0", "1", "0", "1"]
    assert gpu_slots(["4", "5", "6", "7"], gpus_per_job=2) == ["4,5", "6,7"]
    assert plan_workers(9, ["0", "1"], 16, None) == (["0", "1"], 8)
    assert plan_workers(4, [], 2, 2) == ([None, None], 1)  # on a CPU the cores are split between the workers
    assert plan_workers(3, [], 64, None) == ([None] * 3, 21)
    assert "workers=0" in check_plan([], 0, 1, 1, None)
    assert "3 visible" in check_plan(["0", "1", "2"], None, 1, 4, None)
    assert "give 2 slot(s)" in check_plan(["0", "1"], 3, 1, 1, None)
    assert check_plan(["0", "1"], 4, 2, 1, None) is None


@pytest.mark.parametrize("override, message", [
    ("hydra.launcher.workers=0", "hydra.launcher.workers=0 must be a positive"),
    ("hydra.launcher.gpus_per_job=2", "gpus_per_job=2 but no GPU is visible"),
    ("hydra.launcher.wrokers=2", "unknown config key 'hydra.launcher.wrokers'"),
])
def test_bad_launcher_fields_get_one_line_and_exit_2_before_any_job(tmp_path, capsys, override, message):
    with pytest.raises(SystemExit) as stopped:
        cli_main(["train", "-m", *tiny(tmp_path), "seed=0,1", "hydra/launcher=parallel", override])
    assert stopped.value.code == 2
    error = capsys.readouterr().err
    assert message in error and error.count("\n") == 1
    assert not list(tmp_path.iterdir())


def test_slurm_without_submitit_names_the_extra_to_install(tmp_path, capsys, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if "submitit" in name else real(name, *a))
    with pytest.raises(SystemExit) as stopped:
        cli_main(["train", "-m", *tiny(tmp_path), "hydra/launcher=slurm"])
    assert stopped.value.code == 2 and "pip install 'resdeep[slurm]'" in capsys.readouterr().err


def test_a_parallel_sweep_matches_lone_runs_bitwise_and_a_stopped_job_resumes(tmp_path):
    """4 jobs, 2 at a time on 2 cores (1 thread each), one of them stopped mid-run by SIGUSR1 (rerun, resumed),
    against each job alone with 1 thread; then submitit's local executor, whose job is stopped by SIGUSR2."""
    env = dict(os.environ, OMP_NUM_THREADS="1")
    alone = resdeep("train", "-m", *tiny(tmp_path, "name=alone"), "seed=0,1,2,3", env=env)
    assert alone.returncode == 0, alone.stderr

    command = [sys.executable, "-m", "resdeep", "train", "-m", *tiny(tmp_path, "name=parallel"), "seed=0,1,2,3",
               "hydra/launcher=parallel", "hydra.launcher.workers=2"]
    sweep = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = tmp_path / "parallel" / "seed0"
    signal_job_after_checkpoint(sweep, first / "checkpoints" / "iter_00000005.pt", b"job0.pkl", signal.SIGUSR1)
    _, stderr = sweep.communicate(timeout=300)
    assert sweep.returncode == 0, stderr[-3000:]
    log = (first / "train.log").read_text()
    assert log.index("stop requested (SIGUSR1)") < log.index("resuming"), "the stopped job is rerun and resumes"
    assert "iter 30/30" in (first / "console.log").read_text(), "each job's console output goes to its run folder"
    for seed in range(4):
        assert same_weights(weights(tmp_path / "alone" / f"seed{seed}", 30), weights(tmp_path / "parallel" / f"seed{seed}", 30)), seed

    command = [sys.executable, "-m", "resdeep", "train", "-m", *tiny(tmp_path, "name=submitit"), "seed=0",
               "hydra/launcher=submitit_local", "hydra.launcher.timeout_min=10"]
    sweep = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    job = tmp_path / "submitit" / "seed0"
    signal_job_after_checkpoint(sweep, job / "checkpoints" / "iter_00000005.pt", b"submitit.core._submit", signal.SIGUSR2)
    _, stderr = sweep.communicate(timeout=300)
    assert sweep.returncode == 0, stderr[-3000:]
    log = (job / "train.log").read_text()
    assert log.index("stop requested (SIGUSR2)") < log.index("resuming"), "submitit requeues the job, which resumes"
    assert same_weights(weights(tmp_path / "alone" / "seed0", 30), weights(job, 30))


@pytest.mark.parametrize("launcher", ["basic", "parallel", "joblib", "submitit_local"])
def test_a_diverged_job_is_a_failure_for_hydra_its_callbacks_and_the_exit_code(tmp_path, launcher):
    statuses = tmp_path / "statuses.txt"
    done = resdeep(
        "train", "-m", *tiny(tmp_path, iters=5), "recipe.lr=0.1,1e30", "hydra.sweep.subdir=lr${recipe.lr}", f"hydra/launcher={launcher}",
        "+hydra.callbacks.record._target_=launcher_callback.RecordStatus", f"+hydra.callbacks.record.path={statuses}",
        env=dict(os.environ, PYTHONPATH=f"{TESTS}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"),
    )
    assert done.returncode == 1, done.stderr[-3000:]
    assert "diverged at iteration 5" in done.stderr and "Traceback" not in done.stderr
    assert sorted(statuses.read_text().split()) == ["COMPLETED", "FAILED"]
