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
    elif status == "interrupted":  # stopped after its checkpoint at its last evaluation: a rerun resumes there
        (folder / "checkpoints").mkdir()
        (folder / "checkpoints" / f"iter_{records[-1]['iteration']:08d}.pt").write_bytes(b"")
    else:
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
    fake_run(tmp_path, "cifar10", 56, "A", 0, [(40, 42)], status="interrupted", max_iters=64000)  # another length: another config
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
    assert list(longer) == ["resnet56"] and longer["resnet56"][2] == "(42.00)" and "seed 0 interrupted (iter 100/64000)" in longer["resnet56"][6]
    assert table_rows(report, "long · cifar10")["resnet20"][2:6] == ["9.50", "—", "8.75", "+0.75"]  # the paper's schedule: compared
    assert table_rows(report, "default · mnist")["resnet20"][:3] == ["20", "269,434", "1.50"]  # one input channel
    assert "default/cifar10/resnet44/seed0: failed before training started: UserError: data.root missing" in report
    # plain56 has one seed: the 10.8-point gap is stated, and no claim is made on it.
    assert ("default · cifar10 · recipe.max_iters=300, plain: no claim (one seed: depth cannot be told from seed noise; "
            "train seed=0,1,2 to test it): plain56 20.00% vs plain20 9.25 ± 0.35% final training error after 300 iterations "
            "(1 vs 2 seeds); gap +10.8 points") in report
    assert "- default · cifar10 · recipe.max_iters=300: recipe cifar: batch 128, lr 0.1, momentum 0.9, weight decay 0.0001, " \
           "lr x0.1 at iterations 32,000, 48,000; 300 iterations; data cifar10" in report
    with open(tmp_path / "out" / "curves.csv") as stream:
        curve_rows = list(csv.DictReader(stream))
    assert len(curve_rows) == 3 + 3 + 3 + 3 + 1 + 2 + 2  # every evaluation of every run (no TensorBoard log here)
    assert {(r["experiment"], r["config"]) for r in curve_rows if r["model"] == "resnet20" and r["data"] == "cifar10"} == {
        ("default", "recipe.max_iters=300"), ("long", "recipe=cifar, recipe.max_iters=64000")}  # the only config of `long`: still named
    assert {r["run"] for r in curve_rows if r["model"] == "plain20"} == {f"{tmp_path}/default/cifar10/plain20/seed{s}" for s in (0, 1)}
    figures = sorted(p.name for p in (tmp_path / "out").glob("figure*"))
    assert len(figures) == 4 * 3 and {"figure-long-cifar10.png", "figure-default-cifar10-recipe_max_iters=300.svg"} <= set(figures)  # one per config that has curves, each as PNG, PDF, SVG


def test_an_experiment_whose_networks_bring_their_own_recipes_is_named_by_recipe_and_shown_side_by_side(tmp_path):
    """experiment=remedies56 in small: ResNet-20 with the paper's recipe, and with Fixup's recipe (200 epochs) cut
    short at 300 iterations."""
    fake_run(tmp_path, "cifar10", 20, "none", 0, [(60, 62), (50, 49)], experiment="remedies")
    fake_run(tmp_path, "cifar10", 20, "A", 0, [(40, 41), (30, 29)], experiment="remedies")
    fixup = fake_run(tmp_path, "cifar10", 56, "A", 0, [(35, 36), (25, 24)], experiment="remedies")
    identity = json.loads((fixup / "run.json").read_text())
    identity["recipe"].update(name="fixup", scalar_lr_factor=0.1, milestones=[], milestone_epochs=[100.0, 150.0], warmup_min_depth=None)
    (fixup / "run.json").write_text(json.dumps(identity))
    (fixup / ".hydra" / "config.yaml").write_text("name: remedies\nrecipe:\n  name: fixup\n  epochs: 200\n  max_iters: 300\n")
    done = in_process("report", tmp_path, "--out", tmp_path / "out")
    assert done.returncode == 0, done.stderr
    report = (tmp_path / "out" / "report.md").read_text()
    # A config is named by its recipe, not by every setting the recipe brings; the cut is part of its length.
    assert "- remedies · cifar10 · recipe.name=fixup: recipe fixup: " in report
    assert "; the first 300 iterations of 200 epochs; data cifar10" in report
    assert list(table_rows(report, "remedies · cifar10 · recipe.name=cifar")) == ["plain20", "resnet20"]
    side = table_rows(report, "remedies · cifar10: every network side by side")
    assert side == {"plain20": ["plain", "cifar", "300 iterations", "50.00", "49.00", "—", "1 finished"],
                    "resnet20": ["residual", "cifar", "300 iterations", "30.00", "29.00", "—", "1 finished"],
                    "resnet56": ["residual", "fixup", "the first 300 iterations of 200 epochs", "25.00", "24.00", "—", "1 finished"]}
    assert "![side_by_side-remedies-cifar10](side_by_side-remedies-cifar10.png)" in report
    assert {p.name for p in (tmp_path / "out").glob("side_by_side*")} == {f"side_by_side-remedies-cifar10.{s}" for s in ("png", "pdf", "svg")}
    assert "side_by_side-remedies-cifar10.png" in done.stdout  # listed on the console with the other files


def test_configs_of_one_recipe_get_no_side_by_side_view(tmp_path):
    fake_run(tmp_path, "cifar10", 20, "A", 0, [(40, 41)], max_iters=300)
    fake_run(tmp_path, "cifar10", 56, "A", 0, [(40, 42)], max_iters=600)
    assert in_process("report", tmp_path).returncode == 0
    assert "side by side" not in (tmp_path / "report.md").read_text() and not list(tmp_path.glob("side_by_side*"))


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


def finding(report: str, family: str) -> str:
    """The one line of the report's findings about a family."""
    return next(line for line in report.splitlines() if line.startswith("- ") and f", {family}: " in line)


def test_two_one_seed_runs_0_9_points_apart_make_no_degradation_claim(tmp_path):
    fake_run(tmp_path, "synthetic", 20, "none", 0, [(60.0, 61.0), (40.0, 42.0), (20.1, 22.0)], max_iters=30)
    fake_run(tmp_path, "synthetic", 56, "none", 0, [(60.0, 61.0), (40.0, 42.0), (21.0, 23.0)], max_iters=30)
    done = in_process("report", tmp_path, "--out", tmp_path / "out")
    assert done.returncode == 0, done.stderr
    report = (tmp_path / "out" / "report.md").read_text()
    line = finding(report, "plain")
    assert line == ("- default · synthetic, plain: no claim (one seed: depth cannot be told from seed noise; train seed=0,1,2 to test it): "
                    "plain56 21.00% vs plain20 20.10% final training error after 30 iterations (1 vs 1 seed); gap +0.9 points")
    assert "degradation" not in line and "trains worse" not in report
    # A one-config report still says how long its runs trained, in the header, the figures' titles and curves.csv.
    assert "- default · synthetic: recipe cifar: " in report and "; 30 iterations; data synthetic" in report
    with open(tmp_path / "out" / "curves.csv") as stream:
        assert {row["config"] for row in csv.DictReader(stream)} == {"recipe=cifar, recipe.max_iters=30"}
    # Every file written is named on the console, the depth figure's too.
    out = tmp_path / "out"
    assert done.stdout.splitlines() == ["2 run(s); wrote:", f"  {out}/report.md", f"  {out}/curves.csv",
                                        f"  {out}/figure.png, figure.pdf, figure.svg", f"  {out}/depth.png, depth.pdf, depth.svg"]
    assert all((out / name).is_file() for name in ("depth.png", "depth.pdf", "depth.svg", "figure.svg"))


def test_three_seeds_a_side_and_a_large_gap_make_the_claim_with_its_numbers(tmp_path):
    for seed, (shallow, deep) in enumerate([(9.0, 75.0), (9.5, 76.0), (10.0, 77.0)]):
        fake_run(tmp_path, "synthetic", 20, "none", seed, [(50.0, 52.0), (shallow, shallow + 2)])
        fake_run(tmp_path, "synthetic", 56, "none", seed, [(90.0, 90.0), (deep, deep + 1)])
    done = in_process("report", tmp_path, "--out", tmp_path / "out")
    assert done.returncode == 0, done.stderr
    line = finding((tmp_path / "out" / "report.md").read_text(), "plain")
    # Worked by hand: means 76.0 and 9.5, stds 1.0 and 0.5; Welch: se^2 = 1/3 + 0.25/3, t = 66.5 / se = 103.02,
    # df = se^4 / ((1/3)^2/2 + (0.25/3)^2/2) = 2.94; t(0.975, 2.94) = 3.20 (tables: 3.18 at df 3), so +-2.07 points.
    assert line.startswith("- default · synthetic, plain: deeper trains worse (the degradation problem): plain56 76.00 ± 1.00% vs "
                           "plain20 9.50 ± 0.50% final training error after 300 iterations (3 vs 3 seeds); gap +66.5 points, "
                           "95% interval +64.4 to +68.6, larger than the spread between seeds (Welch t = 103.02, df = 2.9, p = "), line


def test_a_gap_within_the_spread_between_seeds_is_no_claim(tmp_path):
    for seed, (shallow, deep) in enumerate([(20.0, 10.0), (25.0, 30.0), (30.0, 50.0)]):
        fake_run(tmp_path, "synthetic", 20, "A", seed, [(shallow, shallow)])
        fake_run(tmp_path, "synthetic", 56, "A", seed, [(deep, deep)])
    done = in_process("report", tmp_path, "--out", tmp_path / "out")
    line = finding((tmp_path / "out" / "report.md").read_text(), "residual")
    assert line.startswith("- default · synthetic, residual: no claim (the gap is within the spread between seeds): resnet56 30.00 ± 20.00% "
                           "vs resnet20 25.00 ± 5.00% final training error after 300 iterations (3 vs 3 seeds); gap +5.0 points, 95% interval -"), line


def test_welch_t_test_matches_published_t_tables():
    from resdeep.report.evidence import compare, t_quantile, two_sided_p

    assert round(t_quantile(0.975, 1), 3) == 12.706 and round(t_quantile(0.975, 4), 3) == 2.776 and round(t_quantile(0.975, 30), 3) == 2.042
    assert round(two_sided_p(2.228, 10), 3) == 0.050 and round(two_sided_p(2.0, 10), 4) == 0.0734
    one_seed = compare([21.0], [20.1])
    assert not one_seed.tested and not one_seed.beyond_seed_spread and round(one_seed.gap, 6) == 0.9
    same = compare([5.0, 5.0], [3.0, 3.0])  # no spread at all: any gap is beyond it
    assert same.beyond_seed_spread and same.p == 0.0


def test_every_figure_draws_training_error_thin_and_dashed_and_test_error_bold_and_solid(tmp_path):
    import matplotlib.pyplot as plt

    from resdeep.report import depth_figure, figure
    from resdeep.report.groups import group_runs
    from resdeep.report.runs import find_runs

    fake_run(tmp_path, "synthetic", 20, "none", 0, [(31.0, 41.0), (21.0, 27.0)], max_iters=2)
    fake_run(tmp_path, "synthetic", 56, "none", 0, [(61.0, 71.0), (51.0, 57.0)], max_iters=2)
    fake_run(tmp_path, "synthetic", 20, "A", 0, [(33.0, 43.0)], max_iters=2)  # a single evaluation
    fake_run(tmp_path, "synthetic", 56, "A", 0, [(35.0, 45.0)], max_iters=2)
    for folder in tmp_path.glob("default/synthetic/*/seed0"):  # evaluations at iterations 1 and 2
        records = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
        (folder / "metrics.jsonl").write_text("".join(json.dumps({**r, "iteration": r["iteration"] // 100}) + "\n" for r in records))
    [group] = group_runs(find_runs([tmp_path]))
    assert group.family_labels == {"plain": "plain", "resnet": "residual"}

    def styles(axes):
        """{first y value: (line style, width, marker)} of every drawn curve."""
        return {line.get_ydata()[0]: (line.get_linestyle(), line.get_linewidth(), line.get_marker())
                for axis in axes for line in axis.get_lines() if len(line.get_ydata())}

    with plt.rc_context(figure.STYLE):
        figure._draw(group, tmp_path / "figure")
        curves = plt.gcf()
        panels = curves.axes
        assert [axis.get_title() for axis in panels] == ["plain networks", "residual networks"]
        assert curves._suptitle.get_text() == "default · synthetic: recipe cifar, 2 iterations"
        drawn = styles(panels)
        assert drawn[31.0] == drawn[61.0] == ("--", 1.0, "None") and drawn[41.0] == drawn[71.0] == ("-", 2.2, "None")
        assert drawn[33.0] == ("--", 1.0, "o") and drawn[43.0] == ("-", 2.2, "o")  # one evaluation: a dot, not nothing
        assert [t.get_text() for t in curves.legends[0].get_texts()] == ["training error (thin, dashed)", "test error (bold, solid)"]
        for axis in panels:
            assert all(tick == int(tick) for tick in axis.get_xticks()), axis.get_xticks()  # iterations 1 and 2: no 1.5
        plt.close(curves)
        depth = depth_figure._draw(group)
        drawn = styles(depth.axes)
        assert drawn[21.0] == ("--", 1.0, "o") and drawn[27.0] == ("-", 2.2, "o")
        assert [t.get_text() for t in depth.axes[0].get_legend().get_texts()][:2] == ["training error (thin, dashed)", "test error (bold, solid)"]
        assert [t.get_text() for t in depth.axes[0].artists[0].get_texts()] == ["plain", "residual"]
        assert all(tick == int(tick) for tick in depth.axes[0].get_xticks())
        plt.close(depth)
