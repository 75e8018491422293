"""`resdeep report` groups runs like Figure 6 and tabulates them like Table 6, beside the paper."""
import csv
import json
from pathlib import Path

from conftest import in_process
from resdeep.config import Config, DataConfig
from resdeep.models import model_config
from resdeep.engine.job import run_identity


def fake_run(root: Path, data: str, depth: int, shortcut: str, seed: int, curve, status="finished", max_iters=300, experiment="default"):
    """A run folder as the engine writes it: run.json, .hydra/config.yaml, metrics.jsonl, result.json once ended
    (error.log instead when the job failed)."""
    config = Config(model=model_config("cifar", depth=depth, shortcut=shortcut), data=DataConfig(name=data), seed=seed)
    name = ("plain" if shortcut == "none" else "resnet") + str(depth)
    folder = root / experiment / data / name / f"seed{seed}"
    folder.mkdir(parents=True)
    (folder / "run.json").write_text(json.dumps(run_identity(config)))
    (folder / ".hydra").mkdir()
    (folder / ".hydra" / "config.yaml").write_text(f"name: {experiment}\nrecipe:\n  name: cifar\n  max_iters: {max_iters}\n")
    records = [{"iteration": 100 * (i + 1), "train_error": train, "test_error": test, "train_loss": 1.0, "test_loss": 1.0, "lr": 0.1}
               for i, (train, test) in enumerate(curve)]
    (folder / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    if status == "failed":
        (folder / "error.log").write_text("Traceback (most recent call last):\n  ...\nRuntimeError: CUDA out of memory\n")
    elif status != "in progress":
        (folder / "result.json").write_text(json.dumps({
            "status": status, "diverged": status == "diverged", "iterations": records[-1]["iteration"] if records else 50,
            "max_iters": max_iters, "params": 0, "final_test_error": records[-1]["test_error"] if records else None,
        }))
    return folder


def table_rows(report: str, heading: str) -> dict:
    """{network: [cells after the name]} of the table under one '### heading'."""
    section = report.split(f"### {heading}\n")[1].split("###")[0].split("## ")[0]
    return {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]] for line in section.splitlines() if line.startswith(("| plain", "| resnet"))}


def test_report_on_a_folder_without_runs_says_so_and_fails(tmp_path):
    done = in_process("report", tmp_path)
    assert done.returncode == 2 and "no runs found" in done.stderr and done.stderr.count("\n") == 1
    assert not (tmp_path / "report.md").exists()


def test_report_groups_by_experiment_and_config_and_averages_only_seeds(tmp_path):
    fake_run(tmp_path, "cifar10", 20, "none", 0, [(30, 32), (12, 14), (9.0, 11.0)])
    fake_run(tmp_path, "cifar10", 20, "none", 1, [(31, 33), (13, 15), (9.5, 12.0)])
    fake_run(tmp_path, "cifar10", 56, "none", 0, [(50, 52), (30, 31), (20.0, 22.0)])
    fake_run(tmp_path, "cifar10", 20, "A", 0, [(25, 27), (10, 12), (8.0, 9.0)])
    fake_run(tmp_path, "cifar10", 56, "A", 0, [(40, 42)], status="in progress", max_iters=64000)  # another length: another config
    fake_run(tmp_path, "cifar10", 110, "A", 0, [], status="diverged")
    fake_run(tmp_path, "cifar10", 32, "A", 0, [], status="failed")
    fake_run(tmp_path, "mnist", 20, "A", 0, [(5, 4), (1, 1.5)])
    fake_run(tmp_path, "cifar10", 20, "A", 0, [(20, 22), (9, 9.5)], max_iters=64000, experiment="long")  # another experiment
    (tmp_path / "default" / "cifar10" / "resnet44" / "seed0").mkdir(parents=True)
    (tmp_path / "default" / "cifar10" / "resnet44" / "seed0" / "error.log").write_text("UserError: data.root missing\n")
    done = in_process("report", tmp_path, "--out", tmp_path / "out")
    assert done.returncode == 0, done.stderr
    report = (tmp_path / "out" / "report.md").read_text()
    assert "9 run(s) of 2 experiment(s) (default, long) in 4 config(s)" in report
    short = table_rows(report, "default · cifar10 · recipe.max_iters=300")
    assert short["plain20"][2:4] == ["11.00", "11.50 ± 0.71"]  # best of two seeds, then mean ± std
    assert short["plain20"][1] == "269,722"  # counted from the network when result.json has none
    assert short["resnet20"][2:6] == ["9.00", "—", "—", "—"]  # 300 iterations are not the paper's 64k: no paper column
    assert short["resnet110"][2] == "diverged" and short["resnet32"][6] == "seed 0 failed: RuntimeError: CUDA out of memory"
    assert "Not compared with the paper: this config is not the paper's schedule (recipe.max_iters=300 (paper: 64000))" in report
    longer = table_rows(report, "default · cifar10 · recipe.max_iters=64000")
    assert list(longer) == ["resnet56"] and longer["resnet56"][2] == "(42.00)" and "in progress (iter 100/64000)" in longer["resnet56"][6]
    assert table_rows(report, "long · cifar10")["resnet20"][2:6] == ["9.50", "—", "8.75", "+0.75"]  # the paper's schedule: compared
    assert table_rows(report, "default · mnist")["resnet20"][:3] == ["20", "269,434", "1.50"]  # one input channel
    assert "default/cifar10/resnet44/seed0: failed before training started (error.log: UserError: data.root missing)" in report
    assert "default · cifar10 · recipe.max_iters=300, plain: deeper trains worse by 10.8 points (the degradation problem)" in report
    with open(tmp_path / "out" / "curves.csv") as stream:
        curve_rows = list(csv.DictReader(stream))
    assert len(curve_rows) == 3 + 3 + 3 + 3 + 1 + 2 + 2  # every evaluation of every run (no TensorBoard log here)
    assert {(r["experiment"], r["config"]) for r in curve_rows if r["model"] == "resnet20" and r["data"] == "cifar10"} == {
        ("default", "recipe.max_iters=300"), ("long", "")}
    assert {r["run"] for r in curve_rows if r["model"] == "plain20"} == {f"{tmp_path}/default/cifar10/plain20/seed{s}" for s in (0, 1)}
    figures = sorted(p.name for p in (tmp_path / "out").glob("figure*"))
    assert len(figures) == 4 * 3 and {"figure-long-cifar10.png", "figure-default-cifar10-recipe_max_iters=300.svg"} <= set(figures)  # one per config that has curves, each as PNG, PDF, SVG


def test_report_works_on_a_single_run_folder(tmp_path):
    folder = fake_run(tmp_path, "synthetic", 20, "A", 0, [(50, 40), (20, 18)])
    done = in_process("report", folder)
    assert done.returncode == 0 and (folder / "report.md").is_file()
    assert "| resnet20 | 20 |" in (folder / "report.md").read_text()


def test_the_demo_runs_the_sweep_and_writes_the_report(tmp_path):
    done = in_process("demo", f"out_dir={tmp_path}", "recipe.max_iters=20", "trainer.eval_every=10", "trainer.log_every=5",
                   "data.train_size=256", "data.test_size=64", "recipe.batch_size=16", "model=plain20,resnet20", "model.depth=8", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"tensorboard --logdir {tmp_path}/demo" in done.stdout
    report = (tmp_path / "demo" / "report.md").read_text()
    assert "| plain8 | 8 |" in report and "| resnet8 | 8 |" in report
    assert (tmp_path / "demo" / "figure.png").is_file() and (tmp_path / "demo" / "synthetic" / "plain8" / "seed0" / "tb").is_dir()
