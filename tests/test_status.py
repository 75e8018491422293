"""resdeep status: each run's state, progress and errors, read only from the files a run writes."""
import json
import os
import socket
from pathlib import Path

from resdeep.engine.status import find_runs, format_table, run_status


def fake_run(root, name, seed, *, result=None, crashed=False, checkpoint=False, alive_pid=None, metrics=(), log=""):
    """A run folder as train writes it, without training."""
    folder = Path(root) / name / f"seed{seed}"
    (folder / ".hydra").mkdir(parents=True)
    (folder / ".hydra" / "config.yaml").write_text(f"seed: {seed}\nrecipe:\n  max_iters: 1000\n  batch_size: 100\n")
    if result:
        (folder / "result.json").write_text(json.dumps(result))
    if crashed:
        (folder / "error.log").write_text("Traceback ...")
    if checkpoint:
        (folder / "checkpoints").mkdir()
        (folder / "checkpoints" / "iter_00000400.pt").write_bytes(b"")
    if alive_pid:
        (folder / ".lock").write_text(f"process {alive_pid} on {socket.gethostname()} (since now)")
    (folder / "metrics.jsonl").write_text("".join(json.dumps(m) + "\n" for m in metrics))
    (folder / "train.log").write_text(log)
    return folder


def test_every_state_is_read_from_the_files(tmp_path):
    dead_pid = 2 ** 22 + 12345  # above Linux's default pid_max: no such process
    fake_run(tmp_path, "resnet20", 0, result={"status": "finished", "model": "resnet20", "iterations": 1000, "max_iters": 1000},
             metrics=[{"iteration": 1000, "train_error": 1.5, "test_error": 8.25}])
    fake_run(tmp_path, "plain56", 0, result={"status": "diverged", "model": "plain56", "iterations": 300, "max_iters": 1000})
    fake_run(tmp_path, "resnet56", 0, alive_pid=os.getpid(), metrics=[{"iteration": 400, "train_error": 20.0, "test_error": 25.0}],
             log="2026-01-01 00:00:00  resnet56 on cifar10: 855,770 parameters\n2026-01-01 00:00:01  iter 500/1000  loss 0.5  train error 18.00%  lr 0.1  1,000 img/s\n")
    fake_run(tmp_path, "resnet110", 0, checkpoint=True, alive_pid=dead_pid)
    fake_run(tmp_path, "resnet32", 0, crashed=True)
    fake_run(tmp_path, "resnet44", 0)
    rows = {Path(row["run"]).parent.name: row for row in map(run_status, find_runs(tmp_path))}
    assert {name: row["state"] for name, row in rows.items()} == {
        "resnet20": "finished", "plain56": "diverged", "resnet56": "running", "resnet110": "interrupted", "resnet32": "failed", "resnet44": "queued"}
    running = rows["resnet56"]
    assert (running["network"], running["iteration"], running["total"], running["images_per_s"]) == ("resnet56", 500, 1000, 1000.0)
    assert running["seconds_left"] == 500 * 100 / 1000  # 500 iterations of 100 images at 1,000 images/s
    assert (rows["resnet20"]["train_error"], rows["resnet20"]["test_error"]) == (1.5, 8.25)
    table = format_table(list(rows.values()), tmp_path)
    assert table.splitlines()[-1].startswith("6 run(s): 1 queued, 1 running, 1 interrupted, 1 finished, 1 diverged, 1 failed")
    assert "0m50s" in table
