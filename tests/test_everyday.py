"""Everyday use: shareable files, --version, shell completion, console output, eval/export, your own network."""
import csv
import json
import os
import re
import shutil
import stat
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from conftest import REPO, in_process, resdeep
from resdeep.cli import main
from resdeep.atomic_files import atomic_write_text

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


def test_the_schemas_presets_start_from_are_not_offered_as_presets():
    """base_cifar, base_config, ... are ConfigStore schemas: help, errors and completion list only real presets."""
    helped = in_process("train", "--help")  # in_process: Hydra's help sets up logging, which must not outlive the test
    assert helped.returncode == 0, helped.stderr
    groups = {line.split(":")[0]: line.split(": ", 1)[1].split(", ") for line in helped.stdout.splitlines() if line.startswith(("model: ", "data: "))}
    assert groups["data"] == ["cifar10", "imagenet", "mnist", "synthetic"] and "resnet20" in groups["model"]
    assert not [name for names in groups.values() for name in names if name.startswith("base_")]
    unknown = in_process("summary", "model=resnet57")
    assert unknown.returncode == 2 and unknown.stderr.startswith("resdeep: error: unknown model 'resnet57'; choose one of: densenet100_12, ")
    assert "base_" not in unknown.stderr
    offered = set()
    for line in ("resdeep train model=", "resdeep train data="):
        done = in_process("-sc", "query=bash", env=dict(os.environ, COMP_LINE=line))
        offered |= set(done.stdout.split())
    assert {"model=resnet20", "data=synthetic"} <= offered and not [o for o in offered if "base_" in o]
    assert in_process("summary", "model=resnet20", "data=synthetic").returncode == 0  # the presets still start from them


def tiny_run(out_dir, *extra):
    """A seconds-long run with a validation split, evaluated and checkpointed at 10 and 20."""
    return ["train", "data=synthetic", "data.train_size=256", "data.test_size=64", "data.val_size=64", "model=resnet20",
            "model.depth=8", "recipe=smoke", "recipe.batch_size=16", "recipe.max_iters=20", "trainer.log_every=5",
            "trainer.eval_every=10", "trainer.checkpoint_every=10", "trainer.device=cpu", f"out_dir={out_dir}", *extra]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One run trained as `resdeep train ... | tee log` from a terminal: stdout a pipe, stderr a terminal, umask 022."""
    import pty

    out = tmp_path_factory.mktemp("trained")
    terminal, terminal_end = pty.openpty()
    old = os.umask(0o022)
    try:
        done = subprocess.run([sys.executable, "-m", "resdeep", *tiny_run(out)], stdout=subprocess.PIPE,
                              stderr=terminal_end, text=True, timeout=600)
    finally:
        os.umask(old)
        os.close(terminal_end)
    on_terminal = b""
    while True:
        try:
            chunk = os.read(terminal, 65536)
        except OSError:
            break
        if not chunk:
            break
        on_terminal += chunk
    os.close(terminal)
    assert done.returncode == 0, on_terminal.decode()[-2000:]
    return {"folder": out / "default" / "synthetic" / "resnet8" / "seed0", "stdout": done.stdout, "terminal": on_terminal.decode()}


def test_progress_lines_go_to_stdout_with_elapsed_and_time_left(trained):
    lines = [line for line in trained["stdout"].splitlines() if line.startswith("iter ") and "/20" in line]
    assert [line.split()[1] for line in lines] == ["5/20", "10/20", "15/20", "20/20"]
    assert all(re.search(r"elapsed \d+:\d\d:\d\d  left \d+:\d\d:\d\d$", line) for line in lines), lines
    assert lines[-1].endswith("left 0:00:00")
    assert "iter 10: train error" in trained["stdout"] and "iter 5/20" not in trained["terminal"]
    log = (trained["folder"] / "train.log").read_text()
    assert re.search(r"iter 5/20 .* elapsed \d+:\d\d:\d\d  left \d+:\d\d:\d\d", log)


def test_the_bar_moves_every_iteration(tmp_path, capsys):
    from resdeep.engine.logger import RunLogger

    logger = RunLogger(tmp_path, 0, 200, "config", progress="bar")
    for _ in range(3):
        logger.step()
    assert logger.bar.n == 3 and logger.bar.fp is not None
    logger.close()
    assert "3/200" in capsys.readouterr().out  # on stdout, where tee gets it


def test_run_files_and_checkpoints_follow_the_umask(trained):
    folder = trained["folder"]
    written = [folder / name for name in ("metrics.jsonl", "result.json", "run.json")] + sorted((folder / "checkpoints").iterdir())
    assert {path.name: oct(stat.S_IMODE(path.stat().st_mode)) for path in written} == {path.name: "0o644" for path in written}


def test_checkpoints_load_with_weights_only(trained):
    import torch

    state = torch.load(trained["folder"] / "checkpoints" / "iter_00000020.pt", weights_only=True)
    assert state["iteration"] == 20 and "conv1.weight" in "".join(state["model"])


def cli_exit_code(argv) -> int:
    """Run the command line in this process (no interpreter start-up); its exit code."""
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    return exit_info.value.code


def test_eval_gives_the_test_error_the_run_recorded_and_writes_json(trained, tmp_path, capsys):
    folder = trained["folder"]
    recorded = {r["iteration"]: r for r in map(json.loads, (folder / "metrics.jsonl").read_text().splitlines())}
    done = resdeep("eval", folder)
    assert done.returncode == 0, done.stderr
    written = json.loads((folder / "eval" / "iter_00000020.json").read_text())
    assert written["iteration"] == 20 and written["test_images"] == 64
    assert written["test_error"] == pytest.approx(recorded[20]["test_error"]) and f"{recorded[20]['test_error']:.2f}%" in done.stdout
    best = min(recorded, key=lambda i: recorded[i]["val_error"])  # chosen on validation, never on test
    assert cli_exit_code(["eval", str(folder), "--checkpoint", "best", "data.test_size=32", "--out", str(tmp_path / "best.json")]) == 0
    written = json.loads((tmp_path / "best.json").read_text())
    assert written["iteration"] == best and written["test_images"] == 32
    assert cli_exit_code(["eval", str(folder), "--checkpoint", "15"]) == 2
    assert capsys.readouterr().err == f"resdeep: error: {folder} has no checkpoint at iteration 15; kept: 20, 10\n"


def test_export_writes_weights_that_load_with_weights_only_and_through_load_run(trained, tmp_path):
    import torch

    from resdeep import load_run  # the documented API (resdeep.load_run)

    assert cli_exit_code(["export", str(trained["folder"]), "--out", str(tmp_path / "resnet8.pt")]) == 0
    exported = torch.load(tmp_path / "resnet8.pt", weights_only=True)
    assert exported["model_id"] == "resnet8" and exported["iteration"] == 20
    from_file, from_folder = load_run(tmp_path / "resnet8.pt"), load_run(trained["folder"])
    assert from_file.config == from_folder.config and from_file.config.model.depth == 8 and not from_file.model.training
    images = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(from_file.model(images), from_folder.model(images))
    assert set(exported["model"]) == set(from_folder.model.state_dict())


def test_eval_of_an_exported_file_writes_beside_the_file_not_into_the_working_folder(trained, tmp_path, monkeypatch, capsys):
    exports, elsewhere = tmp_path / "exports", tmp_path / "elsewhere"
    exports.mkdir(), elsewhere.mkdir()
    assert cli_exit_code(["export", str(trained["folder"]), "--out", str(exports / "resnet8.pt")]) == 0
    monkeypatch.chdir(elsewhere)
    assert cli_exit_code(["eval", "../exports/resnet8.pt", "data.test_size=32", "--device", "cpu"]) == 0
    assert cli_exit_code(["eval", str(exports / "resnet8.pt"), "--device", "cpu"]) == 0
    assert sorted(p.name for p in exports.iterdir()) == ["resnet8.eval-data.test_size_32.json", "resnet8.eval.json", "resnet8.pt"]
    assert list(elsewhere.iterdir()) == []
    assert json.loads((exports / "resnet8.eval-data.test_size_32.json").read_text())["test_images"] == 32
    assert capsys.readouterr().out.splitlines()[-1].endswith(f"-> {exports / 'resnet8.eval.json'}")


def png_dpi(path):
    """Dots per inch from a PNG's pHYs chunk (pixels per metre)."""
    import struct

    data = path.read_bytes()
    at = data.index(b"pHYs")
    per_metre, _, unit = struct.unpack(">IIB", data[at + 4:at + 13])
    assert unit == 1
    return per_metre * 0.0254


def test_the_report_of_a_real_run_uses_every_logged_point_and_figures_are_reproducible(trained, tmp_path):
    from resdeep.report.write import write_report

    first = write_report([trained["folder"]], tmp_path / "a")
    write_report([trained["folder"]], tmp_path / "b")  # the same report again, to compare the bytes
    with open(first["csv"]) as stream:
        rows = list(csv.DictReader(stream))
    assert [(r["iteration"], bool(r["train_error"]), r["test_error"] != "") for r in rows] == [
        ("5", True, False), ("10", True, True), ("15", True, False), ("20", True, True)]  # log_every=5, eval_every=10
    assert {r["run"] for r in rows} == {str(trained["folder"])} and {r["experiment"] for r in rows} == {"default"}
    assert sorted(p.name for p in first["figures"]) == ["figure.pdf", "figure.png", "figure.svg"]
    for path in first["figures"]:
        assert path.read_bytes() == (tmp_path / "b" / path.name).read_bytes(), path.name
    svg = (tmp_path / "a" / "figure.svg").read_text()
    assert "<text" in svg and "iterations</text>" in svg.replace("\n", "") and "<dc:date>" not in svg
    assert b"CreationDate" not in (tmp_path / "a" / "figure.pdf").read_bytes()
    assert round(png_dpi(tmp_path / "a" / "figure.png")) >= 200  # stored as whole pixels per metre
    report = first["report"].read_text()
    assert "recipe smoke is resdeep's own" not in report and "The papers report no numbers on synthetic." in report


USER_NETWORK = '''
from torch import nn


class TinyNet(nn.Module):
    """A user's own network: `depth` conv layers of `width` channels, then a classifier."""

    def __init__(self, in_channels, num_classes, depth=2, width=8):
        super().__init__()
        layers = [nn.Conv2d(in_channels, width, 3, padding=1), nn.ReLU()]
        for _ in range(depth - 2):
            layers += [nn.Conv2d(width, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU()]
        self.body = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.fc = nn.Linear(width, num_classes)

    def forward(self, x):
        return self.fc(self.body(x))
'''


@pytest.fixture
def user_network(tmp_path, monkeypatch):
    """mynets.TinyNet on PYTHONPATH and my_conf/model/tiny.yaml pointing at it, as the README shows."""
    (tmp_path / "mynets.py").write_text(USER_NETWORK)
    (tmp_path / "my_conf" / "model").mkdir(parents=True)
    (tmp_path / "my_conf" / "model" / "tiny.yaml").write_text("_target_: mynets.TinyNet\ndepth: 3\nwidth: 8\n")
    (tmp_path / "my_conf" / "model" / "missing.yaml").write_text("_target_: mynets.NoSuchNet\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def test_your_own_network_is_counted_and_a_wrong_target_gets_one_line(user_network, capsys):
    # conv 3->8 (3*8*9+8 = 224) + conv 8->8 (8*8*9+8 = 584) + BN (16) + fc (8*10+10 = 90) = 914, counted by hand
    with pytest.raises(SystemExit) as exit_info:
        main(["summary", "--config-dir", str(user_network / "my_conf"), "model=tiny", "data=synthetic"])
    assert exit_info.value.code == 0 and "params: 914" in capsys.readouterr().out.splitlines()
    with pytest.raises(SystemExit) as exit_info:
        main(["summary", "--config-dir", str(user_network / "my_conf"), "model=missing"])
    stderr = capsys.readouterr().err
    assert exit_info.value.code == 2 and stderr.startswith("resdeep: error: model._target_=mynets.NoSuchNet cannot be imported")
    assert stderr.count("\n") == 1


def test_your_own_network_is_swept_reported_and_analysed(user_network):
    env = dict(os.environ, PYTHONPATH=f"{user_network}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    out = user_network / "out"
    done = resdeep("train", "-m", "--config-dir", user_network / "my_conf", "model=tiny", "model.depth=3,5",
                   *(arg for arg in tiny_run(out)[1:] if not arg.startswith("model")), cwd=user_network, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    runs = out / "default" / "synthetic"
    assert sorted(p.name for p in runs.iterdir()) == ["tinynet3-width8", "tinynet5-width8"]
    identity = json.loads((runs / "tinynet5-width8" / "seed0" / "run.json").read_text())
    assert identity["model"]["_target_"] == "mynets.TinyNet" and identity["model"]["depth"] == 5
    done = resdeep("report", out / "default", cwd=user_network, env=env)
    assert done.returncode == 0, done.stderr
    report = (out / "default" / "report.md").read_text()
    assert "| tinynet3-width8 | 3 | 914 |" in report and "| tinynet5-width8 | 5 |" in report
    done = resdeep("analyze", "gradients", out / "default", "--batches", "1", cwd=user_network, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (runs / "analysis" / "gradients.csv").is_file()
