"""A run is exactly what its config says: one folder per config, nothing written before every check, one writer."""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import copy_shared
from resdeep.cli import main
from resdeep.compose import check_train_arguments
from resdeep.runs.lock import lock_run_folder


def tiny(out_dir, *extra, iters=2):
    """A run of a couple of seconds on a slice of the built-in data set."""
    return ["data=synthetic", "data.train_size=64", "data.test_size=32", "model=resnet20", "model.depth=8", "recipe=smoke",
            "recipe.batch_size=16", f"recipe.max_iters={iters}", "trainer.log_every=1", "trainer.eval_every=2",
            "trainer.checkpoint_every=2", "trainer.device=cpu", "trainer.progress=off", f"out_dir={out_dir}", *extra]


def train(*args):
    """`resdeep train ARGS` in this process; returns the exit code."""
    with pytest.raises(SystemExit) as stopped:
        main(["train", *map(str, args)])
    return stopped.value.code


def one_line(stderr):
    return stderr.count("\n") == 1 and "Traceback" not in stderr


def snapshot(folder):
    """Every file under folder with its bytes and modification time: any write shows."""
    return {str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(Path(folder).rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """One finished tiny run (out_dir, its folder), trained once for the module."""
    out = tmp_path_factory.mktemp("finished")
    assert train(*tiny(out)) == 0
    return out, out / "default" / "synthetic" / "resnet8" / "seed0"  # a single run keeps the readable path


@pytest.fixture
def run_copy(finished_run, tmp_path):
    out, folder = finished_run
    copy = tmp_path / "out"
    shutil.copytree(out, copy, symlinks=True)
    return copy, copy / folder.relative_to(out)


def test_another_recipe_in_a_finished_runs_folder_is_refused_naming_the_key_and_writes_nothing(run_copy, capsys):
    out, folder = run_copy
    before = snapshot(folder)
    capsys.readouterr()
    assert train(*tiny(out), "recipe.lr=0.05") == 2
    stderr = capsys.readouterr().err
    assert one_line(stderr) and "recipe.lr: 0.1 -> 0.05" in stderr, stderr
    assert "restart=true" in stderr and "name=" in stderr
    assert snapshot(folder) == before


def test_a_skipped_run_keeps_its_own_record(run_copy, capsys):
    out, folder = run_copy
    before = snapshot(folder)
    capsys.readouterr()
    # The progress style is not part of the run: the run is skipped, and its .hydra/ still says how it was trained.
    assert train(*tiny(out), "trainer.progress=lines") == 0
    assert "already finished at iteration 2" in capsys.readouterr().out
    assert snapshot(folder) == before


def test_a_damaged_run_json_gets_one_line(run_copy, capsys):
    out, folder = run_copy
    (folder / "run.json").write_text("[1, 2]\n")
    capsys.readouterr()
    assert train(*tiny(out)) == 2
    stderr = capsys.readouterr().err
    assert one_line(stderr) and "run.json is damaged" in stderr and "restart=true" in stderr, stderr


def test_every_job_of_a_sweep_gets_its_own_folder(tmp_path, capsys):
    assert train("-m", *tiny(tmp_path), "recipe.lr=0.1,0.05") == 0, capsys.readouterr().err
    found = {str(p.parent.relative_to(tmp_path / "default" / "synthetic" / "resnet8")): json.loads(p.read_text())
             for p in tmp_path.rglob("run.json")}
    assert sorted(found) == ["seed0/recipe.lr=0.05", "seed0/recipe.lr=0.1"]
    assert {name: identity["recipe"]["lr"] for name, identity in found.items()} == {"seed0/recipe.lr=0.05": 0.05, "seed0/recipe.lr=0.1": 0.1}


def test_swept_keys_already_in_the_path_stay_out_of_folder_names(tmp_path):
    """Seeds and depths already name the folder (seed1, resnet14): only the learning rate is added."""
    (excluded,) = check_train_arguments([*tiny(tmp_path), "seed=0,1", "model.depth=8,14", "recipe.lr=0.1,0.05"], None, multirun=True).extra_overrides
    assert "'seed'" in excluded and "'model.depth'" in excluded and "'recipe.lr'" not in excluded


@pytest.mark.parametrize(
    "override, message",
    [
        ("recipe.batch_size=100000000", "recipe.batch_size=100000000 is larger than the training set (64 images"),
        ("data.train_size=0", "data.train_size=0 must be a positive number"),
        ("data.train_size=-5", "data.train_size=-5 must be a positive number"),
        ("data.val_size=64", "data.val_size=64 leaves no training images"),
        ("data.test_size=0", "data.test_size=0 must be a positive number"),
        ("recipe.lr_factor=-1", "recipe.lr_factor=-1.0 must be in (0, 1]"),
        ("recipe.warmup_lr=-0.01", "recipe.warmup_lr=-0.01 must be a positive learning rate"),
        ("recipe.lr=fast", "recipe.lr=fast is not valid: recipe.lr takes a number"),
        ("recipe.max_iters=1.5", "recipe.max_iters takes a whole number"),
        ("hydra.run.dir={tmp}/a_file/run", "cannot write to hydra.run.dir="),
        ("--config-dir={tmp}/absent", "--config-dir {tmp}/absent is not a folder"),
    ],
)
def test_a_config_that_cannot_train_is_refused_before_anything_is_written(tmp_path, capsys, override, message):
    (tmp_path / "a_file").write_text("keep me")
    assert train(*tiny(tmp_path / "out"), override.format(tmp=tmp_path)) == 2
    stderr = capsys.readouterr().err
    assert one_line(stderr) and message.format(tmp=tmp_path) in stderr, stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file"]


def test_a_sweep_is_refused_before_its_first_job_when_a_later_one_cannot_train(tmp_path, capsys):
    assert train("-m", *tiny(tmp_path), "recipe.batch_size=16,100000000") == 2
    stderr = capsys.readouterr().err
    assert one_line(stderr) and "recipe.batch_size=100000000" in stderr, stderr
    assert not any(tmp_path.iterdir())


def test_a_data_set_smaller_than_the_batch_leaves_nothing_that_blocks_the_corrected_command(tmp_path, capsys):
    root = copy_shared(tmp_path, "cifar10")  # a subset: far fewer than the 40,000 images a batch asks for below
    args = ["data=cifar10", f"data.root={root}", "data.download=false", "model=resnet20", "model.depth=8", "recipe=smoke",
            "recipe.max_iters=1", "trainer.eval_every=1", "trainer.log_every=1", "trainer.device=cpu", "trainer.progress=off",
            f"out_dir={tmp_path / 'out'}"]
    assert train(*args, "recipe.batch_size=40000") == 2
    stderr = capsys.readouterr().err
    assert one_line(stderr) and "recipe.batch_size=40000 is larger than" in stderr, stderr
    assert not list((tmp_path / "out").rglob("run.json"))
    assert train(*args, "recipe.batch_size=16") == 0, capsys.readouterr().err


def test_a_second_writer_stops_at_once_naming_the_holder_and_a_killed_holder_does_not_block(tmp_path, capsys):
    folder = tmp_path / "default" / "synthetic" / "resnet8" / "seed0"
    held = lock_run_folder(folder)
    held.claim()
    try:
        assert train(*tiny(tmp_path)) == 2
    finally:
        held.release()
    stderr = capsys.readouterr().err
    assert one_line(stderr) and f"in use by process {os.getpid()} on {socket.gethostname()}" in stderr, stderr
    assert not (folder / "run.json").exists()

    # A holder killed with SIGKILL cannot unlock; the kernel drops its lock, so the next run goes ahead.
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from resdeep.runs.lock import lock_run_folder; "
         "lock_run_folder(sys.argv[1]).claim(); print('held', flush=True); time.sleep(600)", str(folder)],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
    assert train(*tiny(tmp_path)) == 0, capsys.readouterr().err
    assert json.loads((folder / "result.json").read_text())["iterations"] == 2
