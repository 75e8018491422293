"""What the README promises and no other test checked, each against a number worked out by hand or the paper."""
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch
import yaml

from conftest import in_process
from resdeep.compose import load_config
from resdeep.presets import config_dir
from resdeep.engine.job import run_identity
from resdeep.models import build_model
from resdeep.models.summary import count_params

# He et al. 2016, Table 6 (CIFAR-10 test error %) and Table 2 (ImageNet top-1 %, 10-crop); arXiv:1512.03385.
TABLE6 = {"resnet20": 8.75, "resnet32": 7.51, "resnet44": 7.17, "resnet56": 6.97, "resnet110": 6.43, "resnet1202": 7.93}
TABLE2 = {"plain18": 27.94, "plain34": 28.54, "resnet18": 27.88, "resnet34": 25.03}


def tiny(out_dir, *extra, iters=20):
    """A seconds-long CPU run of a depth-8 net on a slice of the built-in data set."""
    return [
        "data=synthetic", "data.train_size=128", "data.test_size=32", "model=resnet20", "model.depth=8",
        "recipe=smoke", "recipe.batch_size=8", f"recipe.max_iters={iters}", "trainer.log_every=5",
        "trainer.eval_every=10", "trainer.checkpoint_every=5", "trainer.device=cpu", "trainer.progress=lines",
        "trainer.channels_last=false", f"out_dir={out_dir}", *extra,
    ]


def run_dir(out_dir, seed=0, name="default"):
    return Path(out_dir) / name / "synthetic" / "resnet8" / f"seed{seed}"


def checkpoints(folder):
    return sorted(int(p.stem.split("_")[1]) for p in (folder / "checkpoints").glob("iter_*.pt"))


def finished_run(root: Path, model: str, data: str, test_error: float) -> None:
    """A run that followed the paper's schedule to the end: run.json, one metrics record, result.json."""
    folder = root / data / model / "seed0"
    folder.mkdir(parents=True)
    overrides = [f"model={model}", f"data={data}"] + (["data.ten_crop=true"] if data == "imagenet" else [])
    config = load_config(overrides)
    (folder / "run.json").write_text(json.dumps(run_identity(config)))
    end = config.recipe.max_iters
    record = {"iteration": end, "train_error": 1.0, "test_error": test_error, "train_loss": 0.1, "test_loss": 0.3, "lr": 0.001}
    (folder / "metrics.jsonl").write_text(json.dumps(record) + "\n")
    (folder / "result.json").write_text(json.dumps({"status": "finished", "diverged": False, "iterations": end, "max_iters": end,
                                                    "params": 1, "final_test_error": test_error}))


def test_the_report_puts_every_cell_of_table_6_and_table_2_beside_ours(tmp_path):
    for model, paper in TABLE6.items():
        finished_run(tmp_path, model, "cifar10", paper + 1.0)
    for model, paper in TABLE2.items():
        finished_run(tmp_path, model, "imagenet", paper - 0.5)
    done = in_process("report", tmp_path, "--out", tmp_path / "out")
    assert done.returncode == 0, done.stderr
    sections = (tmp_path / "out" / "report.md").read_text().split("\n### ")[1:]
    for data, table, difference in (("cifar10", TABLE6, "+1.00"), ("imagenet", TABLE2, "-0.50")):
        section = next(text for text in sections if text.splitlines()[0].endswith(data))
        rows = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]] for line in section.splitlines() if line.startswith("| ")}
        for model, paper in table.items():
            assert rows[model][4:6] == [f"{paper:.2f}", difference], (model, rows[model])


def test_plain_18_and_34_have_torchvisions_counts_less_the_three_projection_shortcuts():
    # A plain net has no shortcuts; ResNet-18/34 (option B) add a 1x1 conv + BN where the width grows:
    # 64->128, 128->256, 256->512, i.e. (8,192 + 256) + (32,768 + 512) + (131,072 + 1,024) = 173,824.
    projections = (64 * 128 + 2 * 128) + (128 * 256 + 2 * 256) + (256 * 512 + 2 * 512)
    for plain, torchvision_count in (("plain18", 11_689_512), ("plain34", 21_797_672)):
        assert count_params(build_model(load_config([f"model={plain}"]).model, 3, 1000)) == torchvision_count - projections


def test_summary_prints_exact_params_and_macs_for_resnet_20():
    # conv1 32*32*16*27 + stage 1 6*(32*32*16*144) + stage 2 (16*16*32*144 + 5*16*16*32*288)
    # + stage 3 (8*8*64*288 + 5*8*8*64*576) + fc 64*10 multiply-adds.
    macs = 32 * 32 * 16 * 27 + 6 * 32 * 32 * 16 * 144 + 16 * 16 * 32 * (144 + 5 * 288) + 8 * 8 * 64 * (288 + 5 * 576) + 640
    done = in_process("summary", "model=resnet20", "data=cifar10")
    assert done.returncode == 0, done.stderr
    assert f"params: {269_722}" in done.stdout.splitlines() and f"macs: {macs}" in done.stdout.splitlines()


def my_conf(tmp_path) -> Path:
    """A user's config folder with model/mynet.yaml: the shipped resnet20 preset at depth 8."""
    folder = tmp_path / "my_conf"
    (folder / "model").mkdir(parents=True)
    text = (config_dir() / "model" / "resnet20.yaml").read_text()
    assert "depth: 20" in text
    (folder / "model" / "mynet.yaml").write_text(text.replace("depth: 20", "depth: 8"))
    return folder


def test_a_users_config_folder_works_through_config_dir_and_hydra_searchpath(tmp_path):
    # ResNet-8 by hand: conv1 432+32, one block per stage: 4,672; 13,952; 55,552; fc 650 -> 75,290.
    folder = my_conf(tmp_path)
    summary = in_process("summary", "--config-dir", folder, "model=mynet", "data=cifar10")
    assert summary.returncode == 0, summary.stderr
    assert "params: 75290" in summary.stdout.splitlines()
    shown = in_process("train", "--cfg", "job", f"hydra.searchpath=[file://{folder}]", "model=mynet", "data=cifar10", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    config = yaml.safe_load(shown.stdout)
    assert config["model"]["depth"] == 8 and config["recipe"]["milestones"] == [32000, 48000] and config["recipe"]["lr"] == 0.1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["my_conf"], "--cfg job runs nothing and writes nothing"


def test_bench_reports_rates_that_agree_with_the_batch_and_the_time(tmp_path):
    out = tmp_path / "bench.json"
    done = in_process("bench", "--iters", "2", "--warmup", "1", "--workers", "0", "--json", out, "model=resnet20", "model.depth=8",
                   "data=synthetic", "data.train_size=64", "data.test_size=16", "recipe.batch_size=8", "trainer.device=cpu")
    assert done.returncode == 0, done.stderr
    report = json.loads(out.read_text())
    parts = [value for value in report.values() if isinstance(value, dict) and "images_per_s" in value]
    assert len(parts) >= 3, report  # the engine, the reference loop and the loader alone
    for part in parts:
        # images/s = batch / seconds per iteration, whatever the speed
        assert abs(part["images_per_s"] * part["ms_per_iter"] / 1000 - 8) < 1e-6 * 8, part
        assert part["peak_memory_mb"] > 0
    assert "images/s" in done.stdout


def test_ctrl_c_saves_a_checkpoint_and_exits_75(tmp_path):
    args = tiny(tmp_path, iters=100000)
    process = subprocess.Popen([sys.executable, "-m", "resdeep", "train", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = run_dir(tmp_path) / "checkpoints" / "iter_00000005.pt"
    deadline = time.time() + 120
    while not first.exists() and time.time() < deadline and process.poll() is None:
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 75, stderr[-2000:]
    stopped = max(checkpoints(run_dir(tmp_path)))
    assert f"stopped at iteration {stopped}" in stderr and "Traceback" not in stderr
    assert f"stop requested (SIGINT): checkpoint saved at iteration {stopped}" in (run_dir(tmp_path) / "train.log").read_text()
    state = torch.load(run_dir(tmp_path) / "checkpoints" / f"iter_{stopped:08d}.pt", weights_only=False)
    assert state["iteration"] == stopped and not (run_dir(tmp_path) / "result.json").exists()


def test_a_crashed_sweep_job_leaves_its_traceback_and_the_rerun_skips_finished_jobs_and_resumes_the_rest(tmp_path):
    # Seed 2 crashes on a checkpoint from another program version (no weights in it); seeds 0 and 1 finish,
    # keeping their last two checkpoints (5 and 10). Then seed 1 is made to look killed after iteration 5.
    args = tiny(tmp_path, "seed=0,1,2", "trainer.keep_checkpoints=2", "trainer.eval_every=5", iters=10)
    foreign = run_dir(tmp_path, seed=2) / "checkpoints" / "iter_00000005.pt"
    foreign.parent.mkdir(parents=True)
    torch.save({"iteration": 5}, foreign)
    first = in_process("train", "-m", *args)
    assert first.returncode == 1, first.stderr[-2000:]
    crashed = run_dir(tmp_path, seed=2)
    assert "Traceback" in (crashed / "error.log").read_text()
    assert str(crashed / "error.log") in first.stderr and "Traceback" not in first.stderr
    assert not (crashed / "result.json").exists()
    for seed in (0, 1):
        assert json.loads((run_dir(tmp_path, seed=seed) / "result.json").read_text())["iterations"] == 10
        assert checkpoints(run_dir(tmp_path, seed=seed)) == [5, 10]
    finished_metrics = (run_dir(tmp_path, seed=0) / "metrics.jsonl").read_bytes()
    killed = run_dir(tmp_path, seed=1)
    (killed / "result.json").unlink()
    (killed / "checkpoints" / "iter_00000010.pt").unlink()
    foreign.unlink()

    again = in_process("train", "-m", *args)
    assert again.returncode == 0, again.stderr[-2000:]
    assert f"{run_dir(tmp_path, seed=0)} already finished at iteration 10" in again.stdout
    assert (run_dir(tmp_path, seed=0) / "metrics.jsonl").read_bytes() == finished_metrics
    assert f"resuming {killed} from iteration 5" in (killed / "train.log").read_text()
    for seed in (1, 2):
        assert json.loads((run_dir(tmp_path, seed=seed) / "result.json").read_text())["iterations"] == 10
        assert [json.loads(line)["iteration"] for line in (run_dir(tmp_path, seed=seed) / "metrics.jsonl").read_text().splitlines()] == [5, 10]
