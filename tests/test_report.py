"""`resdeep report` groups runs like Figure 6 and tabulates them like Table 6, beside the paper."""
import csv
import json
from pathlib import Path

from conftest import resdeep
from resdeep.config import Config, DataConfig
from resdeep.models import model_config
from resdeep.engine.job import run_identity


def fake_run(root: Path, data: str, depth: int, shortcut: str, seed: int, curve, status="finished", max_iters=300):
    """A run folder as the engine writes it: run.json, metrics.jsonl, and result.json once ended."""
    config = Config(model=model_config("cifar", depth=depth, shortcut=shortcut), data=DataConfig(name=data), seed=seed)
    name = ("plain" if shortcut == "none" else "resnet") + str(depth)
    folder = root / data / name / f"seed{seed}"
    folder.mkdir(parents=True)
    (folder / "run.json").write_text(json.dumps(run_identity(config)))
    (folder / ".hydra").mkdir()
    (folder / ".hydra" / "config.yaml").write_text(f"recipe:\n  name: cifar\n  max_iters: {max_iters}\n")
    records = [{"iteration": 100 * (i + 1), "train_error": train, "test_error": test, "train_loss": 1.0, "test_loss": 1.0, "lr": 0.1}
               for i, (train, test) in enumerate(curve)]
    (folder / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    if status != "in progress":
        (folder / "result.json").write_text(json.dumps({
            "status": status, "diverged": status == "diverged", "iterations": records[-1]["iteration"] if records else 50,
            "max_iters": max_iters, "params": 0, "final_test_error": records[-1]["test_error"] if records else None,
        }))
    return folder


def test_report_on_a_folder_without_runs_says_so_and_fails(tmp_path):
    done = resdeep("report", tmp_path)
    assert done.returncode == 2 and "no runs found" in done.stderr and done.stderr.count("\n") == 1
    assert not (tmp_path / "report.md").exists()


def test_report_groups_a_mixed_folder_like_figure_6_and_table_6(tmp_path):
    fake_run(tmp_path, "cifar10", 20, "none", 0, [(30, 32), (12, 14), (9.0, 11.0)])
    fake_run(tmp_path, "cifar10", 20, "none", 1, [(31, 33), (13, 15), (9.5, 12.0)])
    fake_run(tmp_path, "cifar10", 56, "none", 0, [(50, 52), (30, 31), (20.0, 22.0)])
    fake_run(tmp_path, "cifar10", 20, "A", 0, [(25, 27), (10, 12), (8.0, 9.0)])
    fake_run(tmp_path, "cifar10", 56, "A", 0, [(40, 42)], status="in progress", max_iters=64000)
    fake_run(tmp_path, "cifar10", 110, "A", 0, [], status="diverged")
    fake_run(tmp_path, "mnist", 20, "A", 0, [(5, 4), (1, 1.5)])
    done = resdeep("report", tmp_path, "--out", tmp_path / "out")
    assert done.returncode == 0, done.stderr
    report = (tmp_path / "out" / "report.md").read_text()
    cifar_section = report.split("### cifar10")[1].split("###")[0]
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]] for line in cifar_section.splitlines() if line.startswith(("| plain", "| resnet"))}
    assert rows["plain20"][2:4] == ["11.00", "11.50 ± 0.71"]  # best of two seeds, then mean ± std
    assert rows["plain20"][1] == "269,722"  # counted from the network when result.json has none
    assert rows["resnet20"][4:6] == ["8.75", "+0.25"]  # the paper's Table 6 and our difference
    assert rows["resnet56"][2] == "(42.00)" and "in progress (iter 100/64000)" in rows["resnet56"][6]
    assert rows["resnet110"][2] == "diverged"
    assert "| resnet20 | 20 | 269,434 | 1.50 |" in report.split("### mnist")[1]  # one input channel
    assert "cifar10, plain: deeper trains worse by 10.8 points (the degradation problem)" in report
    assert "cifar10, resnet: deeper trains worse by 32.0 points: final training error resnet-56 40.00%" in report
    with open(tmp_path / "out" / "curves.csv") as stream:
        curve_rows = list(csv.DictReader(stream))
    assert len(curve_rows) == 3 + 3 + 3 + 3 + 1 + 2
    assert {r["family"] for r in curve_rows} == {"plain", "resnet"}
    png = (tmp_path / "out" / "figure.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and (tmp_path / "out" / "figure.svg").is_file()


def test_report_works_on_a_single_run_folder(tmp_path):
    folder = fake_run(tmp_path, "synthetic", 20, "A", 0, [(50, 40), (20, 18)])
    done = resdeep("report", folder)
    assert done.returncode == 0 and (folder / "report.md").is_file()
    assert "| resnet20 | 20 |" in (folder / "report.md").read_text()


def test_the_demo_runs_the_sweep_and_writes_the_report(tmp_path):
    done = resdeep("demo", f"out_dir={tmp_path}", "recipe.max_iters=20", "trainer.eval_every=10", "trainer.log_every=5",
                   "data.train_size=256", "data.test_size=64", "recipe.batch_size=16", "model=plain20,resnet20", "model.depth=8", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"tensorboard --logdir {tmp_path}/demo" in done.stdout
    report = (tmp_path / "demo" / "report.md").read_text()
    assert "| plain8 | 8 |" in report and "| resnet8 | 8 |" in report
    assert (tmp_path / "demo" / "figure.png").is_file() and (tmp_path / "demo" / "synthetic" / "plain8" / "seed0" / "tb").is_dir()
