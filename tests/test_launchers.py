"""Sweeps under every launcher: parallel jobs match lone runs bitwise, stopped jobs requeue, failures fail the sweep."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from hydra_plugins.resdeep_parallel_launcher.slots import check_plan, gpu_slots, plan_workers
from resdeep.cli import main as cli_main

TESTS = Path(__file__).resolve().parent
ITERS = 40
# One thread per job everywhere, so that a job's result does not depend on the launcher that ran it.
ENV = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=f"{TESTS}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")


def tiny(out_dir, *extra):
    """A run of a fraction of a second on 64 images of the built-in data set, a 5,006-parameter net."""
    return ["data=synthetic", "data.train_size=64", "data.test_size=32", "model=resnet20", "model.depth=8", "model.width=4",
            "recipe=smoke", "recipe.batch_size=16", f"recipe.max_iters={ITERS}", "trainer.log_every=5", "trainer.eval_every=20",
            "trainer.checkpoint_every=20", "trainer.device=cpu", "trainer.progress=lines", f"out_dir={out_dir}",
            "hydra.sweep.subdir=lr${recipe.lr}", *extra]


def start_sweep(tmp_path, launcher, learning_rates, *extra):
    """`resdeep train -m` over learning rates under a launcher, recording each job's status as Hydra's callbacks see it."""
    command = [sys.executable, "-m", "resdeep", "train", "-m", *tiny(tmp_path, f"name={launcher}"), f"recipe.lr={learning_rates}",
               f"hydra/launcher={launcher}", "+hydra.callbacks.record._target_=launcher_callback.RecordStatus",
               f"+hydra.callbacks.record.path={tmp_path / launcher}.statuses", *extra]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)


def signal_when_training(sweep, run, signum):
    """Send `signum` to the process training `run` as soon as it trains (its train.log exists, so its stop handlers are in place)."""
    deadline = time.time() + 300
    while not (run / "train.log").exists() and sweep.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    assert sweep.poll() is None, "the sweep ended before its job trained"
    os.kill(int((run / ".lock").read_text().split()[1]), signum)  # the lock names the process that holds it


def weights(run):
    return torch.load(run / "checkpoints" / f"iter_{ITERS:08d}.pt", weights_only=False)["model"]


def same_weights(a, b):
    return all(torch.equal(a[key], b[key]) for key in a)


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
        cli_main(["train", "-m", *tiny(tmp_path), "recipe.lr=0.1,0.2", "hydra/launcher=parallel", override])
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


def test_every_launcher_fails_a_diverged_job_requeues_a_stopped_one_and_matches_lone_runs(tmp_path):
    """Four sweeps at once, one per launcher, each with a diverged job (lr 1e30) among finished ones:
    - basic: each job alone, one after the other with one thread (the reference);
    - parallel: 3 jobs, 2 at a time, one stopped by SIGUSR1 mid-run (rerun, resumed): bitwise the lone runs;
    - submitit_local: its job stopped by SIGUSR2 is requeued by submitit and resumes: bitwise the lone run;
    - joblib: its one job, diverged in a worker process, is FAILED there too.
    Under every launcher the diverged job is FAILED for Hydra's callbacks and the sweep exits 1, without a traceback."""
    sweeps = {
        "basic": start_sweep(tmp_path, "basic", "0.1,0.05,1e30"),
        "parallel": start_sweep(tmp_path, "parallel", "0.1,0.05,1e30", "hydra.launcher.workers=2", "hydra.launcher.threads_per_job=1"),
        "submitit_local": start_sweep(tmp_path, "submitit_local", "0.1,1e30", "hydra.launcher.timeout_min=10"),
        "joblib": start_sweep(tmp_path, "joblib", "1e30", "hydra.launcher.n_jobs=2"),  # in a worker process: n_jobs=1 would run it in-process
    }
    signal_when_training(sweeps["parallel"], tmp_path / "parallel" / "lr0.1", signal.SIGUSR1)
    signal_when_training(sweeps["submitit_local"], tmp_path / "submitit_local" / "lr0.1", signal.SIGUSR2)
    for launcher, sweep in sweeps.items():
        _, stderr = sweep.communicate(timeout=300)
        assert sweep.returncode == 1, f"{launcher}: {stderr[-3000:]}"
        assert "diverged at iteration 5" in stderr and "Traceback" not in stderr, f"{launcher}: {stderr[-3000:]}"
        finished = {"basic": 2, "parallel": 2, "submitit_local": 1, "joblib": 0}[launcher]
        assert sorted((tmp_path / f"{launcher}.statuses").read_text().split()) == ["COMPLETED"] * finished + ["FAILED"], launcher

    for launcher, signum in (("parallel", "SIGUSR1"), ("submitit_local", "SIGUSR2")):
        log = (tmp_path / launcher / "lr0.1" / "train.log").read_text()
        assert log.index(f"stop requested ({signum})") < log.index("resuming"), f"{launcher}: the stopped job is rerun and resumes"
    assert f"iter {ITERS}/{ITERS}" in (tmp_path / "parallel" / "lr0.05" / "console.log").read_text(), "each job's console output goes to its run folder"
    for lr in ("0.1", "0.05"):
        assert same_weights(weights(tmp_path / "basic" / f"lr{lr}"), weights(tmp_path / "parallel" / f"lr{lr}")), lr
    assert same_weights(weights(tmp_path / "basic" / "lr0.1"), weights(tmp_path / "submitit_local" / "lr0.1"))


def test_a_job_ended_by_the_stop_while_still_starting_is_reported_stopped_not_failed(tmp_path, capsys):
    """A SIGTERM passed on before a job's process has its handlers (it is still importing) ends it by the signal:
    it trained nothing, so the line says stopped, as for a job that saved a checkpoint (exit 75)."""
    from types import SimpleNamespace

    from omegaconf import OmegaConf

    from hydra_plugins.resdeep_parallel_launcher.parallel_launcher import Job, ParallelLauncher

    def ended(code, stop):
        launcher = ParallelLauncher()
        launcher.stop_signal = stop
        job = Job(0, ["model=resnet20"], OmegaConf.create({"hydra": {"job": {"name": "train"}}}), tmp_path, tmp_path / "job0.pkl",
                  tmp_path / "job0.return.pkl", starts=1, process=SimpleNamespace(returncode=code))
        assert launcher._finish(job) is False
        return capsys.readouterr().err

    assert "was stopped; run the sweep again to resume it" in ended(-signal.SIGTERM, signal.SIGTERM)
    assert "was stopped" in ended(75, signal.SIGTERM)
    assert "ended with exit code -15" in ended(-signal.SIGTERM, None), "killed by someone else: a failure"
    assert "ended with exit code -9" in ended(-signal.SIGKILL, signal.SIGTERM)


def test_slurm_on_a_machine_without_slurm_is_one_line_and_leaves_nothing_behind(tmp_path, capsys, monkeypatch):
    import shutil as shell

    monkeypatch.setattr(shell, "which", lambda name, *a: None)  # no sbatch on this machine (as on CI's)
    with pytest.raises(SystemExit) as stopped:
        cli_main(["train", "-m", *tiny(tmp_path / "out"), "seed=0,1", "hydra/launcher=slurm"])
    error = capsys.readouterr().err
    assert stopped.value.code == 2 and error.count("\n") == 1 and "sbatch" in error and "hydra/launcher=parallel" in error
    assert not (tmp_path / "out").exists(), "no sweep folder, no sweep.json, no job folder"
