"""scripts/gpu_figure6.sh: Figure 6 within a time budget, rehearsed on the CPU at toy size (RESDEEP_SMOKE=1).

The rehearsal depends on no timing: its first call has a 1-second budget, which the bench alone overruns on
any machine, so the plan starts plain-56 and ResNet-56 anyway and the sweep is stopped as soon as they have
begun training (each keeps a checkpoint; 40 iterations are far more than a stop lets through); the second
call has ten minutes, far more than the toy runs need anywhere, and finishes them."""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

from test_cifar10_mosaic import write_mosaics

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "gpu_figure6.sh"
NETS = ("plain56", "resnet56", "plain20", "resnet20")
ESTIMATE = re.compile(r"^figure6: estimate (\w+) +(\d+) of (\d+) iterations left at [\d.]+ ms, \d+ evaluation\(s\) of [\d.]+ s, "
                      r"start-up \d+ s: about .+ alone$")


def figure6(*args, timeout=600):
    """The script at toy size on the CPU, its output and errors in one stream, in the order they came."""
    env = dict(os.environ, RESDEEP_SMOKE="1", PYTHON=sys.executable, RESDEEP=f"{sys.executable} -m resdeep")
    return subprocess.run(["bash", str(SCRIPT), *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=timeout, env=env)


def estimates(output: str) -> dict:
    """{net: (iterations left, total)} from the estimate lines."""
    found = {}
    for line in output.splitlines():
        match = ESTIMATE.match(line)
        if match:
            found[match.group(1)] = (int(match.group(2)), int(match.group(3)))
    return found


def first_index(lines, prefix):
    return next(i for i, line in enumerate(lines) if line.startswith(prefix) or prefix in line)


def test_help_says_how_to_run_within_a_budget_and_how_to_continue():
    shown = subprocess.run(["bash", str(SCRIPT), "--help"], capture_output=True, text=True)
    assert shown.returncode == 0 and shown.stdout.startswith("usage: scripts/gpu_figure6.sh OUT_DIR [--budget SECONDS] [--data DIR]")
    text = " ".join(shown.stdout.split())
    for promise in ("--budget SECONDS wall time for this call", "run the same command again with the same OUT_DIR",
                    "Finished runs are skipped, stopped ones resume from their checkpoints", "exits 75",
                    "plain-56 and ResNet-56 before the 20-layer nets", "Keep OUT_DIR/keep (a few MB, no checkpoints)",
                    "folder of the WebP mosaics"):
        assert promise in text, promise
    for wrong, says in ((["--budget", "soon", "out"], "--budget takes a whole number of seconds"), ([], "usage:"),
                        (["out", "--frobnicate"], "unknown option --frobnicate"), (["out", "--budget"], "--budget needs a value"),
                        (["out", "--budget=0"], "--budget takes a whole number of seconds above 0")):
        refused = subprocess.run(["bash", str(SCRIPT), *wrong], capture_output=True, text=True)
        assert refused.returncode == 2 and says in refused.stderr and len(refused.stderr.strip().splitlines()) == 1, refused.stderr


def test_a_missing_part_of_the_mosaics_is_one_line_naming_it_before_any_work(tmp_path):
    write_mosaics(tmp_path / "mosaics")
    (tmp_path / "mosaics" / "data_batch_3.webp").unlink()
    done = figure6(tmp_path / "out", "--data", tmp_path / "mosaics")
    assert done.returncode == 2, done.stdout
    assert done.stdout.strip() == (f"resdeep: error: {tmp_path / 'mosaics' / 'data_batch_3.webp'} is missing: a CIFAR-10 mosaic folder "
                                   "holds data_batch_1, data_batch_2, data_batch_3, data_batch_4, data_batch_5, test_batch, each as .webp and .labels")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [], "nothing trained, nothing unpacked"
    (tmp_path / "empty").mkdir()
    done = figure6(tmp_path / "out", "--data", tmp_path / "empty")
    assert done.returncode == 2 and "holds neither cifar-10-batches-py/ nor the CIFAR-10 WebP mosaics" in done.stdout, done.stdout


def test_the_rehearsal_estimates_stops_at_the_budget_with_checkpoints_continues_and_keeps_the_report(tmp_path):
    write_mosaics(tmp_path / "mosaics")  # 10x10 images a batch: 500 training and 100 test images, unpacked on the fly
    out = tmp_path / "out"
    first = figure6(out, "--budget", "1", "--data", tmp_path / "mosaics")
    log = first.stdout
    assert first.returncode == 75, log[-3000:]
    lines = log.splitlines()
    assert estimates(log) == {net: (40, 40) for net in NETS}, log[-3000:]
    assert first_index(lines, "figure6: estimate") < first_index(lines, "figure6: $ ") < first_index(lines, "Launching"), \
        "the estimate is printed before training starts"
    assert "figure6: plan: not even one run fits before the stop; starting plain56, resnet56 anyway" in log
    assert "figure6: budget: stopping the sweep now" in log
    assert (out / "data" / "cifar-10-batches-py" / "batches.meta").is_file()
    runs = out / "figure6" / "cifar10"
    started = {net for net in NETS if (runs / f"{net}-w4" / "seed0" / "train.log").is_file()}
    assert "plain56" in started and started <= {"plain56", "resnet56"}, "only the 56-layer nets start when none fits"
    saved = {net: sorted(p.name for p in (runs / f"{net}-w4" / "seed0" / "checkpoints").glob("iter_*.pt")) for net in started}
    assert all(saved.values()), f"every run started keeps a checkpoint: {saved}"
    # The stop waits until both have begun: the first may train on meanwhile (even to its end on a fast machine),
    # the last is stopped within a few iterations of its first.
    stopped = {net for net in started if not (runs / f"{net}-w4" / "seed0" / "result.json").exists()}
    assert stopped, "the budget stopped a run"
    status = (out / "keep" / "status.txt").read_text()
    assert all(re.search(rf"^{net} +\d+/40 +stopped, resumes next call$", status, re.M) for net in stopped), status
    assert re.search(r"^plain20 +0/40 +not started$", status, re.M), status
    assert "plan: not even one run fits" in (out / "keep" / "bench.txt").read_text()

    second = figure6(out, "--budget", "600", "--data", tmp_path / "mosaics")
    log = second.stdout
    assert second.returncode == 0, log[-3000:]
    assert "figure6: bench: reusing" in log
    left = estimates(log)
    assert set(left) == set(NETS) - (started - stopped), f"a finished run is skipped: {left}"
    assert all(left[net][0] < 40 for net in stopped) and left["plain20"] == left["resnet20"] == (40, 40), \
        f"the estimate counts only what is left: {left}"
    assert log.strip().endswith(f"figure 6 is complete: {out}/keep/report.md (keep {out}/keep)")
    for net in NETS:
        result = json.loads((runs / f"{net}-w4" / "seed0" / "result.json").read_text())
        assert result["status"] == "finished" and result["iterations"] == 40
    assert all("resuming" in (runs / f"{net}-w4" / "seed0" / "train.log").read_text() for net in stopped), "resumed, not started over"
    keep = out / "keep"
    kept = sorted(str(p.relative_to(keep)) for p in keep.rglob("*") if p.is_file())
    assert {"report.md", "curves.csv", "figure.png", "figure.svg", "depth.png", "status.txt", "bench.txt", "device.txt"} <= set(kept), kept
    assert sorted(k for k in kept if k.endswith("result.json")) == [f"runs/cifar10/{net}-w4/seed0/result.json" for net in sorted(NETS)]
    assert not any(k.endswith(".pt") for k in kept) and sum(p.stat().st_size for p in keep.rglob("*") if p.is_file()) < 5 * 2**20
    assert all(re.search(rf"^{net} +40/40 +finished$", (keep / "status.txt").read_text(), re.M) for net in NETS)
    assert "CPU" in (keep / "device.txt").read_text() and "torch" in (keep / "device.txt").read_text()
    assert "plain56-w4" in (keep / "report.md").read_text()
