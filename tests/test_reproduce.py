"""scripts/reproduce.sh: Table 6 through the parallel launcher, then the report (run here at its smoke size)."""
import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "reproduce.sh"


def reproduce(out_dir, **env):
    return subprocess.run(["bash", str(SCRIPT), str(out_dir)], capture_output=True, text=True, timeout=300, env=dict(os.environ, **env))


def test_at_full_size_it_sweeps_the_five_depths_and_five_seeds_on_every_gpu(tmp_path):
    commands = reproduce(tmp_path, RESDEEP="echo resdeep").stdout.splitlines()  # what it would run, without running it
    train, report = commands
    assert train.startswith("resdeep train -m +experiment=table6 model=resnet110,resnet56,resnet44,resnet32,resnet20 seed=0,1,2,3,4")
    assert "hydra/launcher=parallel" in train and f"out_dir={tmp_path}" in train and "restart" not in train
    assert report == f"resdeep report {tmp_path}/table6"


def test_at_smoke_size_the_runs_train_in_parallel_and_the_report_is_written(tmp_path):
    done = reproduce(tmp_path, RESDEEP_SMOKE="1", RESDEEP=f"{sys.executable} -m resdeep")
    assert done.returncode == 0, done.stderr[-3000:]
    sweep = tmp_path / "table6"
    runs = sorted(p.parent.relative_to(sweep).as_posix() for p in sweep.glob("**/result.json"))
    assert runs == ["synthetic/resnet20-w4/seed0", "synthetic/resnet20-w4/seed1"], done.stderr[-3000:]
    assert all((sweep / run / "console.log").is_file() for run in runs), "the parallel launcher ran each job in its own process"
    assert "resnet20-w4" in (sweep / "report.md").read_text() and (sweep / "figure.png").is_file()
