"""Faults a hostile user found (issue 12): data that lies, faults during a run, one line instead of a traceback."""
import errno
import gzip
import json
import pickle
import resource
import shutil
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from conftest import in_process, tiny
from resdeep.data.cifar10 import read_batch
from resdeep.data.imagefolder import FolderLoader, train_transform
from resdeep.data.mnist import read_split
from resdeep.engine.checkpoint import load_latest_checkpoint, save_checkpoint
from resdeep.engine.logger import RunLogger
from resdeep.engine.train import has_diverged
from resdeep.errors import UserError

CPU = torch.device("cpu")


def run_dir(out_dir, name="default"):
    return Path(out_dir) / name / "synthetic" / "resnet8" / "seed0"


# 4. Data that lies


def test_a_cifar_batch_with_labels_outside_0_to_9_is_refused_naming_the_file(tmp_path):
    labels = [3, 57, 1, 10, 9, -1]  # CIFAR-10 has ten classes, 0..9: three of these are not among them
    path = tmp_path / "data_batch_2"
    path.write_bytes(pickle.dumps({"data": np.zeros((6, 3072), np.uint8), "labels": labels}))
    with pytest.raises(UserError, match=r"data_batch_2 has 3 label\(s\) outside 0..9 \(the first: 57 at position 1\)"):
        read_batch(path)
    path.write_bytes(pickle.dumps({"data": np.zeros((6, 3072), np.uint8), "labels": [0, 1, 2, 3, 8, 9]}))
    assert read_batch(path).labels.tolist() == [0, 1, 2, 3, 8, 9]


def test_an_mnist_label_file_with_a_label_above_9_is_refused_naming_the_file(tmp_path):
    images = struct.pack(">IIII", 2051, 3, 28, 28) + bytes(3 * 28 * 28)
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(images))
    (tmp_path / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(struct.pack(">II", 2049, 3) + bytes([1, 12, 3])))
    with pytest.raises(UserError, match=r"train-labels-idx1-ubyte.gz has 1 label\(s\) outside 0..9 \(the first: 12"):
        read_split(tmp_path, "train_images", "train_labels")


class StillLooping(BaseException):
    """Not an Exception: the loader's per-image `except Exception` must not swallow it."""


def _raise_after(seconds):
    def alarm(_signum, _frame):
        raise StillLooping(f"still looping after {seconds} s")

    signal.signal(signal.SIGALRM, alarm)
    signal.alarm(seconds)


def test_an_image_folder_of_which_nothing_can_be_read_stops_with_one_line(tmp_path):
    folder = tmp_path / "train" / "a"
    folder.mkdir(parents=True)
    for i in range(1, 5):
        (folder / f"{i}.jpg").write_text("not an image\n")
    samples = [(str(folder / f"{i}.jpg"), 0) for i in range(1, 5)]
    transform = train_transform(type("Cfg", (), dict(scale_min=36, scale_max=40, crop_size=32, augment=True))())
    loader = FolderLoader(samples, transform, batch_size=4, seed=0, device=CPU, workers=0)
    _raise_after(30)  # before the fix this looped forever
    try:
        with pytest.raises(UserError, match=r"no training image under .*train could be read .*4 images skipped, e\.g\. .*1\.jpg"):
            loader.next_batch()
    finally:
        signal.alarm(0)
    assert loader.skipped == 4


def write_image_tree(root, corrupt):
    rng = np.random.default_rng(0)
    from PIL import Image

    for split in ("train", "val"):
        for name in ("cat", "dog"):
            (root / split / name).mkdir(parents=True)
            for i in range(6):
                Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(root / split / name / f"{i}.png")
    (root / corrupt).write_bytes(b"not a png")


def test_skipped_corrupt_images_are_counted_in_train_log_and_result_json(tmp_path):
    write_image_tree(tmp_path / "tree", corrupt="train/cat/0.png")
    small = ["data.crop_size=32", "data.test_resize=36", "data.scale_min=36", "data.scale_max=40", "data.workers=0"]
    done = in_process("train", "data=imagenet", f"data.root={tmp_path / 'tree'}", "model=resnet20", "model.depth=8", "recipe=smoke",
                   "recipe.batch_size=4", "recipe.max_iters=6", "trainer.eval_every=6", "trainer.device=cpu",
                   "trainer.progress=off", f"out_dir={tmp_path}", *small)
    assert done.returncode == 0, done.stderr
    folder = tmp_path / "default" / "imagenet" / "resnet8" / "seed0"
    # 12 training images, batches of 4, 6 iterations: two whole passes, so the corrupt image is met twice.
    assert json.loads((folder / "result.json").read_text())["skipped_images"] == 2
    log = (folder / "train.log").read_text()
    assert "2 unreadable training image(s) were skipped" in log
    assert log.count(f"skipped an unreadable training image: {tmp_path / 'tree' / 'train' / 'cat' / '0.png'}") == 2
    # The console gets one line for them all, naming the first, and no warning per image.
    assert done.stderr.count("skipping unreadable training images") == 1 and "UserWarning" not in done.stderr


# 5. Faults during a run


def test_deleting_tb_and_metrics_mid_run_loses_no_row_and_does_not_crash(tmp_path):
    logger = RunLogger(tmp_path, 0, 40, "seed: 0", "off")
    logger.train_point(5, 50.0, 1.5, 0.1, 100.0)
    logger.eval_point(10, {"iteration": 10, "test_error": 40.0, "test_loss": 1.2})
    shutil.rmtree(tmp_path / "tb")
    (tmp_path / "metrics.jsonl").unlink()
    (tmp_path / "train.log").unlink()
    logger.train_point(15, 45.0, 1.1, 0.1, 100.0)
    logger.eval_point(20, {"iteration": 20, "test_error": 30.0, "test_loss": 1.0})
    logger.close()
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["iteration"] for r in rows] == [10, 20]
    events = EventAccumulator(str(tmp_path / "tb"))
    events.Reload()
    assert [e.step for e in events.Scalars("error/train")] == [15] and [e.step for e in events.Scalars("error/test")] == [20]
    assert "iter 20: test error 30.00%" in (tmp_path / "train.log").read_text()


def test_a_full_disk_while_checkpointing_is_one_line_and_the_previous_checkpoint_stays(tmp_path):
    save_checkpoint(tmp_path, 10, {"iteration": 10, "weights": torch.zeros(10)}, keep=3)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, hard))  # files stop growing at 100 kB, as on a full disk
    try:
        with pytest.raises(UserError, match=r"cannot write checkpoint .*iter_00000020.pt: File too large; .*iter_00000010.pt is intact"):
            save_checkpoint(tmp_path, 20, {"iteration": 20, "weights": torch.zeros(100_000)}, keep=3)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["iter_00000010.pt"]
    assert load_latest_checkpoint(tmp_path)["iteration"] == 10


def test_temporary_files_left_by_a_kill_during_a_write_are_removed_at_the_next_save_and_start(tmp_path):
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    (folder / ".iter_00000020.pt.k9x2ab").write_bytes(b"half a checkpoint")
    (tmp_path / ".metrics.jsonl.p0q1rs").write_text('{"iteration": 1')
    save_checkpoint(tmp_path, 10, {"iteration": 10}, keep=3)
    assert sorted(p.name for p in folder.iterdir()) == ["iter_00000010.pt"]
    RunLogger(tmp_path, 10, 40, "seed: 0", "off").close()
    assert not list(tmp_path.glob(".metrics.jsonl.*"))


def test_another_models_checkpoint_is_refused_in_one_line(tmp_path):
    save_checkpoint(tmp_path, 10, {"iteration": 10, "model": torch.nn.Linear(4, 3).state_dict(),
                                   "config": {"model": {"depth": 8, "shortcut": "A"}}}, keep=3)
    with pytest.raises(UserError, match=r"iter_00000010.pt holds another model than this run \(2 tensor\(s\) differ"):
        load_latest_checkpoint(tmp_path, torch.nn.Linear(4, 5), {"depth": 8, "shortcut": "A"})
    # Plain and residual nets of one depth have identical tensors: the saved config tells them apart.
    with pytest.raises(UserError, match=r"model.shortcut=A there, none here"):
        load_latest_checkpoint(tmp_path, torch.nn.Linear(4, 3), {"depth": 8, "shortcut": "none"})
    assert load_latest_checkpoint(tmp_path, torch.nn.Linear(4, 3), {"depth": 8, "shortcut": "A", "new_field": 1})["iteration"] == 10


def test_when_every_checkpoint_is_damaged_it_says_starting_from_scratch_once(tmp_path, capsys):
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    for iteration in (10, 20):
        (folder / f"iter_{iteration:08d}.pt").write_bytes(b"garbage")
    assert load_latest_checkpoint(tmp_path, torch.nn.Linear(2, 2), {}) is None
    stderr = capsys.readouterr().err
    assert stderr.count("is damaged") == 2 and stderr.count("starting from scratch") == 1
    assert "using the previous one" not in stderr and stderr.index("iter_00000020") < stderr.index("iter_00000010")


DISK_FULL = OSError(errno.ENOSPC, "No space left on device")  # naming no file, as a failed write(2) does


class FullDiskStream:
    """A file whose writes fail as on a full disk."""

    def __init__(self, stream):
        self.stream = stream

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stream.close()

    def write(self, _data):
        raise DISK_FULL

    def __getattr__(self, attribute):
        return getattr(self.stream, attribute)


def test_a_full_disk_while_writing_metrics_or_the_result_is_one_line_and_the_same_command_finishes_the_run(tmp_path, monkeypatch):
    import builtins

    import resdeep.engine.job as job
    import resdeep.engine.logger as logger

    args = tiny(tmp_path, "model.width=4", iters=20)
    folder = Path(tmp_path) / "default" / "synthetic" / "resnet8-w4" / "seed0"
    appends = []

    def open_until_the_disk_fills(path, *rest, **options):  # metrics.jsonl's second append (iteration 20) finds it full
        stream = builtins.open(path, *rest, **options)
        if Path(path).name != "metrics.jsonl":
            return stream
        appends.append(path)
        return FullDiskStream(stream) if len(appends) == 2 else stream

    monkeypatch.setattr(logger, "open", open_until_the_disk_fills, raising=False)
    done = in_process("train", *args)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, done.stderr
    assert f"cannot write {folder / 'metrics.jsonl'}: No space left on device; the last checkpoint, {folder / 'checkpoints' / 'iter_00000010.pt'}, is intact" in done.stderr
    monkeypatch.undo()

    real_write_json = job.write_json

    def write_json_on_a_full_disk(path, data):
        if Path(path).name == "result.json":
            raise DISK_FULL
        return real_write_json(path, data)

    monkeypatch.setattr(job, "write_json", write_json_on_a_full_disk)
    again = in_process("train", *args)  # resumes at 10, trains to 20, and cannot record the result
    assert again.returncode == 2 and again.stderr.count("\n") == 1, again.stderr
    assert f"cannot write {folder / 'result.json'}: No space left on device; the last checkpoint, {folder / 'checkpoints' / 'iter_00000020.pt'}, is intact" in again.stderr
    monkeypatch.undo()

    finished = in_process("train", *args)  # nothing left to train: the result is written
    assert finished.returncode == 0, finished.stderr
    result = json.loads((folder / "result.json").read_text())
    assert result["status"] == "finished" and result["iterations"] == 20 and result["final_train_error"] is not None
    assert [json.loads(line)["iteration"] for line in (folder / "metrics.jsonl").read_text().splitlines()] == [10, 20]


@pytest.fixture(scope="module")
def interrupted(tmp_path_factory):
    """A run that got Ctrl-C after Ctrl-C, 0.1 s apart, before its first evaluation: (exit code, stderr, out_dir)."""
    out_dir = tmp_path_factory.mktemp("ctrl_c")
    command = [sys.executable, "-m", "resdeep", "train", *tiny(out_dir, "trainer.eval_every=1000", iters=1000)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for line in process.stdout:
        if line.startswith("iter 5/"):
            break
    deadline = time.time() + 120
    while process.poll() is None and time.time() < deadline:  # the later ones land in every phase of the shutdown
        process.send_signal(signal.SIGINT)
        time.sleep(0.1)
    _, stderr = process.communicate(timeout=10)
    return process.returncode, stderr, out_dir


def test_repeated_ctrl_cs_still_save_and_exit_75(interrupted):
    code, stderr, out_dir = interrupted
    assert code == 75, stderr
    assert "stopped at iteration" in stderr and list((run_dir(out_dir) / "checkpoints").glob("iter_*.pt"))


def test_resuming_with_max_iters_below_the_checkpoint_is_refused_in_one_line(interrupted):
    _, _, out_dir = interrupted
    stopped_at = max(int(p.stem.split("_")[1]) for p in (run_dir(out_dir) / "checkpoints").glob("iter_*.pt"))
    shorter = in_process("train", *tiny(out_dir, "trainer.eval_every=1000", iters=stopped_at - 1))
    assert shorter.returncode == 2 and shorter.stderr.count("\n") == 1 and "Traceback" not in shorter.stderr
    assert f"checkpoint at iteration {stopped_at}, past recipe.max_iters={stopped_at - 1}" in shorter.stderr


def test_the_divergence_rule_catches_an_exploded_loss_not_only_nan():
    # A net starts near ln(10) = 2.3; a loss of 1e30 has exploded (recipe.lr=1000 reached 1.3e30 and "finished").
    assert has_diverged(float("nan"), 1e4) and has_diverged(float("inf"), None)
    assert has_diverged(1.3e30, 1e4) and not has_diverged(1.3e30, None)
    assert not has_diverged(2.3, 1e4) and not has_diverged(1e4, 1e4)


def test_a_learning_rate_of_1000_is_caught_at_the_first_log_point_not_at_the_first_inf(tmp_path):
    done = in_process("train", *tiny(tmp_path, "recipe.lr=1000", iters=20))
    assert done.returncode == 0, done.stderr
    result = json.loads((run_dir(tmp_path) / "result.json").read_text())
    assert result["status"] == "diverged" and result["iterations"] == 5  # log_every=5; NaN/inf alone waited until 20
    assert "diverged at iteration" in (run_dir(tmp_path) / "train.log").read_text()


# 6. One line instead of a traceback


@pytest.mark.parametrize("args, message", [
    (["analyze", "responses", ".", "--images", "0"], "analyze: --images must be at least 1 (got 0)"),
    (["summary", "model=resnet20", "model.width=100000"], "parameters"),  # 9e10 weights in one 3x3 layer alone
    (["bench", "--json", "/proc/resdeep/bench.json", "trainer.device=cpu"], "cannot write to --json /proc/resdeep/bench.json"),
])
def test_impossible_requests_get_one_line_before_any_work(tmp_path, args, message):
    done = in_process(*args, cwd=tmp_path)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, done.stderr
    assert message in done.stderr
    assert "bench:" not in done.stdout, "the --json path is checked before measuring"
