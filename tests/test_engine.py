"""The training engine end to end through the command line (in this process, or a real one where signals or torchrun need it): logs, resume, signals, sweeps, DDP."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from conftest import in_process, tiny
from resdeep.compose import compose_config
from resdeep.config import validate
from resdeep.errors import UserError

TRAIN_TAGS = {"error/train", "loss/train", "lr", "perf/images_per_s", "error/test", "loss/test"}


def run_dir(out_dir, name="default", model="resnet8", seed=0):
    return Path(out_dir) / name / "synthetic" / model / f"seed{seed}"


def scalars(folder, tag):
    events = EventAccumulator(str(Path(folder) / "tb"))
    events.Reload()
    return [(e.step, e.value) for e in events.Scalars(tag)]


def metrics(folder):
    return [{k: v for k, v in json.loads(line).items() if k != "elapsed_s"} for line in (Path(folder) / "metrics.jsonl").read_text().splitlines()]


def final_weights(folder, iteration):
    return torch.load(Path(folder) / "checkpoints" / f"iter_{iteration:08d}.pt", weights_only=False)["model"]


def test_a_short_run_writes_tensorboard_events_metrics_and_result(tmp_path):
    done = in_process("train", *tiny(tmp_path))
    assert done.returncode == 0, done.stderr
    folder = run_dir(tmp_path)
    events = EventAccumulator(str(folder / "tb"))
    events.Reload()
    assert TRAIN_TAGS <= set(events.Tags()["scalars"])
    assert [step for step, _ in scalars(folder, "error/train")] == list(range(5, 41, 5))
    assert [r["iteration"] for r in metrics(folder)] == [10, 20, 30, 40]
    result = json.loads((folder / "result.json").read_text())
    assert result["status"] == "finished" and result["iterations"] == 40 and not result["diverged"]
    assert result["final_test_error"] == metrics(folder)[-1]["test_error"]
    assert result["best_test_error"] == min(r["test_error"] for r in metrics(folder))
    assert (folder / ".hydra" / "config.yaml").is_file()
    log = (folder / "train.log").read_text()
    assert log.count("iter 40/40  loss") == 1 and "iter 40: train error" in log and "fast path:" in log

    again = in_process("train", *tiny(tmp_path))
    assert again.returncode == 0 and "already finished" in again.stdout
    assert [r["iteration"] for r in metrics(folder)] == [10, 20, 30, 40]

    restarted = in_process("train", *tiny(tmp_path), "restart=true")
    assert restarted.returncode == 0 and "already finished" not in restarted.stdout
    assert [r["iteration"] for r in metrics(folder)] == [10, 20, 30, 40]
    assert (folder / "train.log").read_text().count("iter 40/40  loss") == 1, "restart=true starts a new log"


def test_sigterm_saves_a_checkpoint_and_the_resumed_run_is_bitwise_identical(tmp_path):
    iters, narrow = 80, "model.width=4"  # after the checkpoint at 10, 70 more iterations for the signal to land in
    whole = in_process("train", *tiny(tmp_path, "name=whole", narrow, iters=iters))
    assert whole.returncode == 0, whole.stderr

    command = [sys.executable, "-m", "resdeep", "train", *tiny(tmp_path, "name=cut", narrow, iters=iters)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    cut, whole_dir = run_dir(tmp_path, "cut", model="resnet8-w4"), run_dir(tmp_path, "whole", model="resnet8-w4")
    first_checkpoint = cut / "checkpoints" / "iter_00000010.pt"
    deadline = time.time() + 120
    while not first_checkpoint.exists() and time.time() < deadline and process.poll() is None:
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 75, stderr
    assert "stopped at iteration" in stderr
    stopped_at = max(int(p.stem.split("_")[1]) for p in (cut / "checkpoints").glob("iter_*.pt"))
    assert 10 <= stopped_at < iters

    resumed = in_process("train", *tiny(tmp_path, "name=cut", narrow, iters=iters))
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming" in resumed.stdout
    log = (cut / "train.log").read_text()
    assert log.index("stop requested (SIGTERM)") < log.index(f"resuming {cut} from iteration {stopped_at}")
    a, b = final_weights(whole_dir, iters), final_weights(cut, iters)
    assert all(torch.equal(a[key], b[key]) for key in a), "resumed weights must be bitwise equal"
    assert metrics(whole_dir) == metrics(cut)
    assert scalars(whole_dir, "error/train") == scalars(cut, "error/train")
    assert scalars(whole_dir, "error/test") == scalars(cut, "error/test")


def test_a_damaged_latest_checkpoint_is_reported_and_the_previous_one_used(tmp_path):
    assert in_process("train", *tiny(tmp_path, iters=20)).returncode == 0
    folder = run_dir(tmp_path)
    latest = folder / "checkpoints" / "iter_00000020.pt"
    latest.write_bytes(latest.read_bytes()[: latest.stat().st_size // 2])
    longer = in_process("train", *tiny(tmp_path, iters=30))
    assert longer.returncode == 0, longer.stderr
    assert "iter_00000020.pt is damaged" in longer.stderr and "resuming" in longer.stdout
    assert [r["iteration"] for r in metrics(folder)] == [10, 20, 30]
    assert json.loads((folder / "result.json").read_text())["iterations"] == 30


@pytest.mark.parametrize(
    "override, message",
    [
        ("recipe.lr=0", "recipe.lr=0.0 must be a positive learning rate"),
        ("recipe.batch_size=-4", "recipe.batch_size=-4 must be a positive"),
        ("recipe.lrr=0.1", "unknown config key 'recipe.lrr'"),
        ("model=resnet57", "unknown model 'resnet57'"),
        ("model.depth=57", "model.depth=57 is not 6n+2"),
    ],
)
def test_bad_input_gets_one_line_and_exit_2(tmp_path, override, message):
    done = in_process("train", *tiny(tmp_path), override)
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and message in done.stderr
    assert not (tmp_path / "default").exists()


def test_an_unwritable_output_folder_is_refused_before_any_work(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("keep me")
    done = in_process("train", *tiny(blocker / "runs"))
    assert done.returncode == 2 and "not a writable folder" in done.stderr and done.stderr.count("\n") == 1
    assert blocker.read_text() == "keep me"


def test_a_changed_config_does_not_silently_resume_another_run(tmp_path):
    assert in_process("train", *tiny(tmp_path, iters=10)).returncode == 0
    changed = in_process("train", *tiny(tmp_path, "recipe.weight_decay=0.001", iters=20))
    assert changed.returncode == 2 and "recipe.weight_decay: 0.0001 -> 0.001" in changed.stderr


def test_batch_must_divide_among_torchrun_processes(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(UserError, match="does not divide among 2 processes"):
        validate(compose_config(["recipe.batch_size=33"]))


def test_two_gloo_processes_match_one_process_with_the_same_global_batch(tmp_path):
    # lr 0.01: at 0.1 the first steps of this tiny net amplify float rounding chaotically. NCHW: oneDNN's
    # channels_last kernels pick their algorithm by batch size (16 on one process, 8 on each of two), so
    # their rounding differs from the first step (7e-7) and this net grows it to 3e-5 in six steps.
    args = tiny(tmp_path, "trainer.sync_bn=true", "trainer.eval_every=1000", "recipe.lr=0.01", "trainer.channels_last=false", iters=6)
    single = in_process("train", *args, "name=one")
    assert single.returncode == 0, single.stderr
    env = dict(os.environ, OMP_NUM_THREADS="1")
    ddp = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "resdeep", "train", *args, "name=two"],
        capture_output=True, text=True, timeout=300, env=env,
    )
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    result = json.loads((run_dir(tmp_path, "two") / "result.json").read_text())
    assert result["world_size"] == 2
    one, two = final_weights(run_dir(tmp_path, "one"), 6), final_weights(run_dir(tmp_path, "two"), 6)
    for key in one:
        assert torch.allclose(one[key].float(), two[key].float(), atol=1e-5, rtol=0), key


def resdeep_workers(parent):
    """Ids of the resdeep processes whose parent is `parent` (Linux /proc)."""
    workers = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            parent_id = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
            command = (proc / "cmdline").read_bytes()
        except (OSError, ValueError, IndexError):
            continue
        if parent_id == parent and b"resdeep" in command:
            workers.append(int(proc.name))
    return workers


def torchrun(*args, max_restarts=0):
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
               f"--max-restarts={max_restarts}", "-m", "resdeep", "train", *args]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, OMP_NUM_THREADS="1"))


def wait_for(path, process, seconds=120):
    deadline = time.time() + seconds
    while not path.exists() and time.time() < deadline and process.poll() is None:
        time.sleep(0.05)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds torchrun's workers through /proc")
def test_torchrun_runs_resume_bitwise_identical_after_a_killed_worker_or_a_sigterm(tmp_path):
    iters = 80  # after the checkpoint at 10, 70 more iterations to kill a worker or stop torchrun in
    args = tiny(tmp_path, "trainer.checkpoint_every=10", "trainer.eval_every=40", "model.width=4", iters=iters)

    def run(name):
        return run_dir(tmp_path, name, model="resnet8-w4")

    whole = torchrun(*args, "name=whole")
    _, stderr = whole.communicate(timeout=300)
    assert whole.returncode == 0, stderr[-3000:]

    # A worker dies without warning: torchrun restarts the group, which resumes from the last checkpoint.
    killed = torchrun(*args, "name=killed", max_restarts=1)
    wait_for(run("killed") / "checkpoints" / "iter_00000010.pt", killed)
    workers = resdeep_workers(killed.pid)
    assert len(workers) == 2 and killed.poll() is None, "both workers should be training"
    os.kill(max(workers), signal.SIGKILL)
    stdout, stderr = killed.communicate(timeout=300)
    assert killed.returncode == 0, stderr[-3000:]
    assert "resuming" in stdout + stderr, "the restarted workers must resume from the checkpoint"

    # A scheduler stops torchrun: every rank stops at the same iteration after a checkpoint; the same
    # command resumes.
    stopped = torchrun(*args, "name=stopped", max_restarts=1)
    wait_for(run("stopped") / "checkpoints" / "iter_00000010.pt", stopped)
    stopped.send_signal(signal.SIGTERM)
    _, stderr = stopped.communicate(timeout=300)
    # Rank 0 alone announces the stop. torchrun itself ends with 1 and its own SignalException traceback:
    # torch's launcher re-raises the signal after its workers stop, whatever they exit with (README: Several GPUs).
    assert stderr.count("stopped at iteration") == 1, stderr[-3000:]
    assert stopped.returncode == 1 and stderr.count("Traceback") == 1 and "SignalException" in stderr, stderr[-3000:]
    resumed = torchrun(*args, "name=stopped")
    stdout, stderr = resumed.communicate(timeout=300)
    assert resumed.returncode == 0 and "resuming" in stdout + stderr, stderr[-3000:]

    expected = final_weights(run("whole"), iters)
    for name in ("killed", "stopped"):
        folder = run(name)
        weights = final_weights(folder, iters)
        assert all(torch.equal(expected[key], weights[key]) for key in expected), f"{name}: weights must be bitwise equal"
        assert metrics(run("whole")) == metrics(folder), name
        assert scalars(run("whole"), "error/train") == scalars(folder, "error/train"), name


def test_a_sweep_under_torchrun_is_refused_in_one_line_before_anything_runs(tmp_path):
    # Every rank would run the whole sweep, and a job's ranks cannot meet again for the next job: it hung.
    refused = torchrun("-m", *tiny(tmp_path), "seed=0,1")
    _, stderr = refused.communicate(timeout=120)
    assert refused.returncode != 0, stderr[-3000:]  # torchrun's own code for a worker that exited 2
    assert stderr.count("resdeep: error: a sweep (-m) cannot run inside torchrun") == 1, stderr[-3000:]
    assert "hydra/launcher=parallel hydra.launcher.gpus_per_job=N" in stderr
    assert not (tmp_path / "default").exists()


def test_bf16_autocast_and_channels_last_train_like_fp32_on_the_cpu(tmp_path):
    # Same seed, same batches: bf16 autocast must follow fp32's training-loss curve step for step (bf16 on a CPU
    # without AMX is slow, so the curve is short; that dtypes really are bfloat16 is asserted in test_bugs_caught).
    common = ["recipe.milestones=[]", "trainer.log_every=10", "trainer.eval_every=30", "model.width=8"]
    fp32 = in_process("train", *tiny(tmp_path, *common, "name=fp32", "trainer.precision=fp32", "trainer.channels_last=false", iters=30))
    fast = in_process("train", *tiny(tmp_path, *common, "name=fast", "trainer.precision=bf16", iters=30))
    assert fp32.returncode == 0 and fast.returncode == 0, fp32.stderr + fast.stderr
    assert "fast path: off" in fp32.stdout
    assert "bf16" in fast.stdout and "channels_last" in fast.stdout  # channels_last is the CPU default
    curves = [[loss for _, loss in scalars(run_dir(tmp_path, name, model="resnet8-w8"), "loss/train")] for name in ("fp32", "fast")]
    assert len(curves[0]) == len(curves[1]) == 3
    assert curves[0][-1] < 0.8 * curves[0][0], "the run must have learned for the comparison to mean anything"
    assert all(abs(a - b) < 0.05 for a, b in zip(*curves)), curves
