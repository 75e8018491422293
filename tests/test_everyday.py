"""Everyday use: shareable files, --version, shell completion, console output, eval/export, your own network."""
import os
import shutil
import stat
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from conftest import REPO, resdeep
from resdeep.cli import main
from resdeep.engine.files import atomic_write_text

BIN = Path(sys.executable).parent


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_files_written_atomically_get_the_mode_the_umask_gives(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        atomic_write_text(tmp_path / "result.json", "{}")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "result.json").stat().st_mode) == mode


@pytest.mark.parametrize("argv", [["--version"], ["train", "--version"]])
def test_version_names_resdeep_and_what_it_runs_on(argv, capsys):
    import hydra
    import torch

    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    out = capsys.readouterr().out
    assert exit_info.value.code == 0 and out.startswith(f"resdeep {metadata.version('resdeep')} (")
    assert f"Hydra {hydra.__version__}," in out and f"PyTorch {torch.__version__.split('+')[0]}," in out


def test_the_package_says_its_license_authors_and_links():
    info = metadata.metadata("resdeep")
    assert info["License-Expression"] == "MIT" and "resdeep developers" in info["Author"]
    assert any("arxiv.org/abs/1512.03385" in url for url in info.get_all("Project-URL"))
    assert (REPO / "LICENSE").read_text().startswith("MIT License") and "resdeep developers" in (REPO / "LICENSE").read_text()


def test_bash_completion_completes_commands_config_groups_and_values(tmp_path):
    if shutil.which("bash") is None or not (BIN / "resdeep").is_file():
        pytest.fail("needs bash and the installed resdeep script")
    script = r'''eval "$(resdeep train -sc install=bash)"
    for line in "resdeep train model=resnet20 rec"; do
      COMP_LINE="$line"; COMP_POINT=${#line}; words=($line); COMP_CWORD=$(( ${#words[@]} - 1 ))
      hydra_bash_completion; echo "${COMPREPLY[*]}"
    done'''
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}")
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert done.returncode == 0 and "unknown command" not in done.stderr, done.stderr
    groups = done.stdout.strip()
    assert {"recipe=", "recipe."} <= set(groups.split()) and "data=" not in groups


def completions(line, monkeypatch, capsys):
    monkeypatch.setenv("COMP_LINE", line)
    with pytest.raises(SystemExit) as exit_info:
        main(["-sc", "query=bash"])
    assert exit_info.value.code == 0
    return set(capsys.readouterr().out.split())


def test_completion_offers_commands_then_the_presets_of_a_group(monkeypatch, capsys):
    assert completions("resdeep tr", monkeypatch, capsys) == {"train"}
    assert completions("resdeep ", monkeypatch, capsys) >= {"train", "report", "summary"}
    offered = completions("resdeep summary model=res", monkeypatch, capsys)
    assert {"model=resnet20", "model=resnet56", "model=resnet1202"} <= offered and "model=plain20" not in offered
    assert completions("resdeep report out", monkeypatch, capsys) == set()  # the shell completes file names
