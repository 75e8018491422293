"""The wheel carries the Hydra configs and the launcher plugin, so an installed resdeep works from any directory."""
import os
import subprocess
import sys
import zipfile

import pytest

from conftest import REPO


@pytest.fixture(scope="module")
def wheel_site(tmp_path_factory):
    """(the built wheel, the folder it is unpacked into): an installed resdeep without the editable checkout's paths."""
    root = tmp_path_factory.mktemp("wheel")
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(root / "dist"), str(REPO)],
        capture_output=True, text=True, timeout=300,
    )
    assert built.returncode == 0, built.stderr[-2000:]
    wheel = next((root / "dist").glob("resdeep-*.whl"))
    zipfile.ZipFile(wheel).extractall(root / "site")
    return wheel, root / "site"


def test_the_wheel_ships_conf_and_runs_from_another_directory(wheel_site, tmp_path):
    wheel, site = wheel_site
    names = zipfile.ZipFile(wheel).namelist()
    assert "resdeep/conf/config.yaml" in names and "resdeep/conf/model/resnet1202.yaml" in names
    env = dict(os.environ, PYTHONPATH=str(site))
    summary = subprocess.run([sys.executable, "-m", "resdeep", "summary", "model=resnet56", "data=cifar10"],
                             cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert summary.returncode == 0, summary.stderr
    assert "params: 853018" in summary.stdout.splitlines()
    where = subprocess.run([sys.executable, "-c", "import resdeep.presets as c; print(c.config_dir())"],
                           cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert where.stdout.strip() == str(site / "resdeep" / "conf")


def test_hydras_own_plugin_scan_finds_the_parallel_launcher_in_an_installed_wheel(wheel_site, tmp_path):
    # Hydra's scan of the hydra_plugins namespace runs each module outside sys.modules: a plugin module that
    # cannot load that way (a dataclass under `from __future__ import annotations`) breaks every command.
    _, site = wheel_site
    scan = ("from hydra.core.plugins import Plugins; from hydra.plugins.launcher import Launcher; "
            "print(sorted(p.__name__ for p in Plugins.instance().discover(Launcher)))")
    found = subprocess.run([sys.executable, "-c", scan], cwd=tmp_path, env=dict(os.environ, PYTHONPATH=str(site)),
                           capture_output=True, text=True, timeout=120)
    assert found.returncode == 0, found.stderr
    assert "ParallelLauncher" in found.stdout
