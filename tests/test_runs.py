"""One owner of the run folder (resdeep.runs): status, report, curves.csv and load_run say the same thing about every
run, a sweep knows every job it was given, and a damaged file is one line, never a crash."""
import csv
import json
import shutil
import socket
from pathlib import Path

import pytest

from conftest import in_process, sigterm_at_step, tiny
from resdeep.runs import read_run, survey
from resdeep.runs.layout import checkpoint_paths
from resdeep.runs.table import format_table


def tiny_sweep(tmp_path, *extra):
    """Overrides of a seconds-long sweep of ResNet-8 jobs, each in out_dir/default/job<n>."""
    return ["train", "-m", "model=resnet20", "model.depth=8", "model.width=4", "recipe=smoke", "recipe.batch_size=16",
            "recipe.max_iters=10", "trainer.log_every=5", "trainer.eval_every=10", "trainer.device=cpu", "trainer.progress=off",
            f"out_dir={tmp_path}", "hydra.sweep.subdir=job${hydra.job.num}", *extra]


def status(folder):
    """`resdeep status FOLDER`: (exit code, {job folder name: its row's cells})."""
    done = in_process("status", folder)
    lines = done.stdout.splitlines()
    table = lines[1:next(i for i, line in enumerate(lines) if " run(s): " in line)]  # the rows, up to the line counting states
    return done, {line.split()[0]: line.split() for line in table}


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A finished 20-iteration ResNet-8 run (checkpoints at 10 and 20), copied by the tests that change it."""
    out = tmp_path_factory.mktemp("finished")
    done = in_process("train", *tiny(out, iters=20))
    assert done.returncode == 0, done.stderr
    return next(out.rglob("result.json")).parent


def copy_run(finished_run, tmp_path, name="run"):
    return Path(shutil.copytree(finished_run, tmp_path / "default" / "synthetic" / "resnet8" / name))


def test_a_sweep_with_a_job_failing_before_training_and_one_diverging_accounts_for_all_four(tmp_path, cifar_copy):
    sweep = in_process(*tiny_sweep(tmp_path, "data=cifar10", f"data.root={cifar_copy},{tmp_path}/absent", "recipe.lr=0.1,1e30", "data.download=false"))
    assert sweep.returncode == 1, sweep.stderr
    folder = tmp_path / "default"
    # Each failed job says why in one line of its own as it fails, and the other jobs go on.
    for job in ("job2", "job3"):
        assert sweep.stderr.count(f"resdeep: error in job {folder / job}: CIFAR-10 not found") == 1, sweep.stderr
    assert (folder / "job0" / "result.json").is_file() and (folder / "job1" / "result.json").is_file()
    # The end of the sweep: one table of the four jobs, then each bad job named, then the real sweep folder.
    end = sweep.stderr.split("the sweep's 4 job(s):")[1]
    table = {line.split()[0]: line.split()[3] for line in end.splitlines()[2:6]}
    assert table == {"job0": "finished", "job1": "diverged", "job2": "failed", "job3": "failed"}, end
    assert "4 run(s): 2 failed, 1 diverged, 1 finished" in end
    assert "failed: job2: CIFAR-10 not found" in end and "failed: job3: CIFAR-10 not found" in end and "diverged at iteration 5: job1" in end
    assert f"resdeep status {folder}" in end and "<sweep folder>" not in sweep.stderr and "HYDRA_FULL_ERROR" not in sweep.stderr
    assert "Traceback" not in sweep.stderr
    # The job that failed before training has its error in its folder, for status and report.
    assert "CIFAR-10 not found" in (folder / "job2" / "error.log").read_text()
    done, rows = status(folder)
    assert done.returncode == 1
    assert {name: row[3] for name, row in rows.items()} == table
    assert done.stdout.count("\n") >= 6 and "4 run(s): 2 failed, 1 diverged, 1 finished" in done.stdout
    report = in_process("report", folder)
    assert report.returncode == 0, report.stderr
    text = (folder / "report.md").read_text()
    assert f"{folder / 'job2'}: failed before training started: CIFAR-10 not found" in text
    assert f"{folder / 'job3'}: failed before training started: CIFAR-10 not found" in text
    assert "| diverged |" in text and "1 diverged (seed 0)" in text


def test_a_job_whose_folder_is_gone_or_never_made_is_listed_as_not_started(tmp_path):
    assert in_process(*tiny_sweep(tmp_path, "data=synthetic", "data.train_size=64", "data.test_size=32", "seed=0,1")).returncode == 0
    folder = tmp_path / "default"
    shutil.rmtree(folder / "job1")
    done, rows = status(folder)
    assert done.returncode == 0
    assert (rows["job0"][3], rows["job1"][3:5]) == ("finished", ["not", "started"])
    assert "no folder" in done.stdout and "2 run(s): 1 not started, 1 finished" in done.stdout
    # A job started but stopped before it wrote anything (an empty folder with the lock) is not started either.
    (folder / "job1").mkdir()
    (folder / "job1" / ".lock").write_text("")
    assert read_run(folder / "job1").state == "not started"


def test_an_interrupted_run_has_one_state_and_iteration_in_status_report_curves_and_load_run(tmp_path, monkeypatch):
    """The stop comes as a real SIGTERM from inside step 13; the run saves a checkpoint there and exits 75."""
    sigterm_at_step(monkeypatch, 13)
    stopped = in_process("train", *tiny(tmp_path, iters=40))
    monkeypatch.undo()
    assert stopped.returncode == 75, stopped.stderr
    run = next(tmp_path.rglob("run.json")).parent
    assert_one_answer(run, tmp_path, "interrupted", 13)


def test_a_killed_run_is_interrupted_at_its_newest_checkpoint_everywhere(finished_run, tmp_path):
    """Killed at iteration 17 (kill -9: state.json still says running at its last log point, 15), with checkpoints
    at 10 and 20 gone to 10: a rerun resumes at 10, so every command says interrupted at 10."""
    run = copy_run(finished_run, tmp_path)
    (run / "result.json").unlink()
    (run / "checkpoints" / "iter_00000020.pt").unlink()
    state = json.loads((run / "state.json").read_text())
    state.update(state="running", iteration=15, pid=2 ** 22 + 12345)  # above Linux's default pid_max: no such process
    (run / "state.json").write_text(json.dumps(state))
    (run / ".lock").write_text(f"process {2 ** 22 + 12345} on {socket.gethostname()} (since now)")
    assert_one_answer(run, tmp_path, "interrupted", 10)


def assert_one_answer(run, top, state, iteration):
    """status, report (report.md and curves.csv) and load_run all say `state` at `iteration`."""
    import resdeep

    done, rows = status(top)
    (row,) = rows.values()
    assert (row[3], row[4]) == (state, f"{iteration}/40" if "40" in row[4] else f"{iteration}/20"), done.stdout
    assert in_process("report", top).returncode == 0
    assert f"seed 0 {state} (iter {iteration}/" in (top / "report.md").read_text()
    with open(top / "curves.csv") as stream:
        points = list(csv.DictReader(stream))
    assert {p["status"] for p in points} == {state} and max(int(p["iteration"]) for p in points) <= iteration  # none past it
    loaded = resdeep.load_run(run)
    assert (loaded.state, loaded.iteration) == (state, iteration)
    assert checkpoint_paths(run)[0][0] == iteration


@pytest.mark.parametrize("name, content", [
    ("run.json", '{"model": {"family": "cifar", "dep'),  # truncated
    ("run.json", "[1, 2, 3]"),                          # valid JSON of the wrong shape
    ("run.json", ""),                                    # empty
    ("result.json", '{"status": "finished", "iterations": 2'),
    ("result.json", '"finished"'),
    ("result.json", ""),
    ("state.json", "[]"),
    ("metrics.jsonl", '{"iteration": 10, "test_error": 5.0}\n[1]\n{"iteration": 20}\n'),
    ("metrics.jsonl", '"a line"\n{"iteration": 20}\n'),
])
def test_a_damaged_file_makes_its_run_unreadable_in_one_line_and_the_others_are_still_shown(finished_run, tmp_path, name, content):
    good = copy_run(finished_run, tmp_path, "good")
    bad = copy_run(finished_run, tmp_path, "bad")
    (bad / name).write_text(content)
    done, rows = status(tmp_path)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert rows["default/synthetic/resnet8/good"][3] == "finished" and rows["default/synthetic/resnet8/bad"][3] == "unreadable"
    assert f"unreadable: default/synthetic/resnet8/bad: {bad / name} is damaged" in done.stdout
    report = in_process("report", tmp_path)
    assert report.returncode == 0 and "Traceback" not in report.stderr, report.stderr
    text = (tmp_path / "report.md").read_text()
    assert f"bad: unreadable: {bad / name} is damaged" in text and "| resnet8 |" in text


def test_an_empty_metrics_file_and_a_torn_last_line_are_what_a_run_can_leave_not_damage(finished_run, tmp_path):
    run = copy_run(finished_run, tmp_path)
    whole = (run / "metrics.jsonl").read_text()
    (run / "metrics.jsonl").write_text(whole + '{"iteration": 30, "test_err')  # a crash while appending
    assert read_run(run).state == "finished" and [r["iteration"] for r in read_run(run).records] == [10, 20]
    (run / "metrics.jsonl").write_text("")
    assert read_run(run).state == "finished" and read_run(run).records == []


def test_state_json_says_where_a_run_is_at_each_log_point_and_how_it_ended(finished_run, tmp_path):
    state = json.loads((finished_run / "state.json").read_text())
    assert (state["state"], state["iteration"], state["total"], state["model"], state["seed"]) == ("finished", 20, 20, "resnet8", 0)
    assert state["host"] == socket.gethostname() and state["checkpoint"] == 20
    # A running run: the lock is held (this process), state.json has its last log point.
    run = copy_run(finished_run, tmp_path)
    (run / "result.json").unlink()
    (run / "state.json").write_text(json.dumps({**state, "state": "running", "iteration": 15, "images_per_s": 100.0, "batch_size": 32, "total": 20}))
    from resdeep.runs.lock import lock_run_folder

    lock = lock_run_folder(run)
    lock.claim()
    try:
        running = read_run(run)
        assert (running.state, running.iteration, running.images_per_s, running.seconds_left) == ("running", 15, 100.0, 5 * 32 / 100)
        assert "running" in format_table(survey(tmp_path), tmp_path) and "1 running; the slowest running job needs about 0m01s more" in format_table(survey(tmp_path), tmp_path)
    finally:
        lock.release()
    assert read_run(run).state == "interrupted"  # the lock's holder let go without saying it stopped


def test_a_run_of_an_older_resdeep_without_state_json_still_reads(finished_run, tmp_path):
    run = copy_run(finished_run, tmp_path)
    (run / "state.json").unlink()
    assert read_run(run).state == "finished"
    (run / "result.json").unlink()
    assert (read_run(run).state, read_run(run).iteration) == ("interrupted", 20)
    (run / "error.log").write_text("Traceback ...\nRuntimeError: boom\n")
    assert (read_run(run).state, read_run(run).detail) == ("failed", "RuntimeError: boom")


def test_an_epoch_recipe_cut_short_by_max_iters_stops_there_and_the_whole_recipe_continues_it(tmp_path):
    """64 images in batches of 32: 3 epochs are 6 iterations. recipe.max_iters=2 trains the first 2 of them (the
    milestone at epoch 2, iteration 4, where the epochs put it); the same run without it goes on to 6."""
    epochs = ["data=synthetic", "data.train_size=64", "data.test_size=32", "model=resnet20", "model.depth=8", "model.width=4",
              "recipe=smoke", "recipe.batch_size=32", "recipe.epochs=3", "recipe.milestone_epochs=[2]", "recipe.milestones=[]",
              "trainer.log_every=2", "trainer.eval_every=2", "trainer.device=cpu", "trainer.progress=lines", f"out_dir={tmp_path}"]
    cut = in_process("train", *epochs, "recipe.max_iters=2")
    assert cut.returncode == 0, cut.stderr
    run = next(tmp_path.rglob("result.json")).parent
    assert "3 epochs of 2 iterations = 6 iterations, lr milestones at [4]; this run stops at iteration 2" in cut.stdout
    result = json.loads((run / "result.json").read_text())
    assert (result["iterations"], result["max_iters"], result["recipe_iters"]) == (2, 2, 6)
    whole = in_process("train", *epochs, "recipe.max_iters=null")
    assert whole.returncode == 0, whole.stderr
    assert "resuming" in whole.stdout and json.loads((run / "result.json").read_text())["iterations"] == 6
    again = in_process("train", *epochs, "recipe.max_iters=null")
    assert "already finished at iteration 6" in again.stdout
