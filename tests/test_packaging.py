"""The wheel carries the Hydra configs, so an installed resdeep works from any directory."""
import os
import subprocess
import sys
import zipfile

from conftest import REPO


def test_the_wheel_ships_conf_and_runs_from_another_directory(tmp_path):
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path / "dist"), str(REPO)],
        capture_output=True, text=True, timeout=300,
    )
    assert built.returncode == 0, built.stderr[-2000:]
    wheel = next((tmp_path / "dist").glob("resdeep-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "resdeep/conf/config.yaml" in names and "resdeep/conf/model/resnet1202.yaml" in names
    zipfile.ZipFile(wheel).extractall(tmp_path / "site")
    env = dict(os.environ, PYTHONPATH=str(tmp_path / "site"))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    summary = subprocess.run([sys.executable, "-m", "resdeep", "summary", "model=resnet56", "data=cifar10"],
                             cwd=elsewhere, env=env, capture_output=True, text=True, timeout=120)
    assert summary.returncode == 0, summary.stderr
    assert "params: 853018" in summary.stdout.splitlines()
    where = subprocess.run([sys.executable, "-c", "import resdeep.compose as c; print(c.config_dir())"],
                           cwd=elsewhere, env=env, capture_output=True, text=True, timeout=60)
    assert where.stdout.strip() == str(tmp_path / "site" / "resdeep" / "conf")
