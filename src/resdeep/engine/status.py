"""The state of a run or a sweep, read only from its files, so it works while the jobs run on other machines."""
from __future__ import annotations

import json
import os
import re
import socket
import time
from pathlib import Path
from typing import List, Optional

import yaml

STATES = ("queued", "running", "interrupted", "finished", "diverged", "failed")
RATE_LINE = re.compile(r"iter (\d+)/(\d+) .* ([\d,]+) img/s")
STALE_S = 600  # a run on another machine that has logged nothing for this long is not counted as running


def find_runs(folder: Path) -> List[Path]:
    """Every run folder at or under `folder`: the ones Hydra started a job in (they hold .hydra/)."""
    folder = Path(folder)
    return sorted({path.parent for path in folder.rglob(".hydra") if path.is_dir()} | ({folder} if (folder / ".hydra").is_dir() else set()))


def _read_json(path: Path) -> Optional[dict]:
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def _holder_alive(run_dir: Path) -> bool:
    """Is the process that holds the run's lock alive? Same host: ask the kernel; another host: a recent log line."""
    try:
        owner = (run_dir / ".lock").read_text()
    except OSError:
        return False
    match = re.match(r"process (\d+) on (\S+)", owner)
    if not match:
        return False
    if match.group(2) == socket.gethostname():
        try:
            os.kill(int(match.group(1)), 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    log = run_dir / "train.log"
    return log.is_file() and time.time() - log.stat().st_mtime < STALE_S


def _last_rate(run_dir: Path) -> tuple[Optional[int], Optional[int], Optional[float]]:
    """(iteration, total, images/s) of the last progress line in train.log."""
    try:
        with open(run_dir / "train.log", "rb") as stream:
            stream.seek(0, os.SEEK_END)
            stream.seek(max(0, stream.tell() - 20000))
            lines = stream.read().decode(errors="replace").splitlines()
    except OSError:
        return None, None, None
    for line in reversed(lines):
        match = RATE_LINE.search(line)
        if match:
            return int(match.group(1)), int(match.group(2)), float(match.group(3).replace(",", ""))
    return None, None, None


def run_status(run_dir: Path) -> dict:
    """One row: network, seed, state, iteration/total, last train and test error, images/s, seconds left."""
    run_dir = Path(run_dir)
    try:
        config = yaml.safe_load((run_dir / ".hydra" / "config.yaml").read_text()) or {}
    except (OSError, yaml.YAMLError):
        config = {}
    recipe = config.get("recipe") or {}
    result = _read_json(run_dir / "result.json")
    records = []
    if (run_dir / "metrics.jsonl").is_file():
        for line in (run_dir / "metrics.jsonl").read_text().splitlines():
            try:
                records.append(json.loads(line))
            except ValueError:
                break
    last = records[-1] if records else {}
    logged_iteration, logged_total, rate = _last_rate(run_dir)
    if result:
        state = result.get("status", "finished")
    elif _holder_alive(run_dir):
        state = "running"
    elif (run_dir / "error.log").is_file():
        state = "failed"
    elif (run_dir / "checkpoints").is_dir() and any((run_dir / "checkpoints").glob("iter_*.pt")):
        state = "interrupted"
    else:
        state = "queued"
    iteration = (result or {}).get("iterations") or logged_iteration or last.get("iteration") or 0
    total = (result or {}).get("max_iters") or recipe.get("max_iters") or logged_total
    batch = recipe.get("batch_size")
    left = None
    if state == "running" and rate and batch and total:
        left = max(0, total - iteration) * batch / rate
    network = (result or {}).get("model") or _network_from_log(run_dir) or run_dir.parent.name
    return {"run": str(run_dir), "network": network, "seed": config.get("seed"), "state": state, "iteration": iteration,
            "total": total, "train_error": last.get("train_error"), "test_error": last.get("test_error"),
            "images_per_s": rate if state == "running" else None, "seconds_left": left}


def _network_from_log(run_dir: Path) -> Optional[str]:
    """The network's name from the first line a run logs ('resnet56 on cifar10: ...')."""
    try:
        with open(run_dir / "train.log", errors="replace") as stream:
            for line in stream:
                match = re.search(r"  (\S+) on \S+: [\d,]+ parameters", line)
                if match:
                    return match.group(1)
    except OSError:
        pass
    return None


def _duration(seconds: Optional[float]) -> str:
    if seconds is None:
        return "-"
    minutes = int(seconds // 60)
    return f"{minutes // 60}h{minutes % 60:02d}m" if minutes >= 60 else f"{minutes}m{int(seconds % 60):02d}s"


def _percent(value) -> str:
    return "-" if value is None else f"{value:.2f}%"


def format_table(rows: List[dict], root: Path) -> str:
    """The table and its summary line."""
    header = ("run", "network", "seed", "state", "iteration", "train err", "test err", "img/s", "time left")
    lines = [header]
    for row in rows:
        where = os.path.relpath(row["run"], root) if row["run"] != str(root) else "."
        progress = f"{row['iteration']}/{row['total'] if row['total'] is not None else '?'}"
        speed = f"{row['images_per_s']:,.0f}" if row["images_per_s"] else "-"
        lines.append((where, row["network"], str(row["seed"]), row["state"], progress, _percent(row["train_error"]),
                      _percent(row["test_error"]), speed, _duration(row["seconds_left"])))
    widths = [max(len(line[k]) for line in lines) for k in range(len(header))]
    text = ["  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip() for line in lines]
    counts = {state: sum(row["state"] == state for row in rows) for state in STATES}
    left = max((row["seconds_left"] or 0 for row in rows), default=0)
    summary = f"{len(rows)} run(s): " + ", ".join(f"{n} {state}" for state, n in counts.items() if n)
    if counts["running"]:
        summary += f"; the slowest running job needs about {_duration(left)} more"
    return "\n".join(text + [summary])
