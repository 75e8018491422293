"""What a run writes as it goes: TensorBoard events, metrics.jsonl, train.log, state.json, and a progress bar or lines."""
from __future__ import annotations

import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Dict, Optional

from resdeep.atomic_files import atomic_write_text, naming, remove_stale_temporaries
from resdeep.runs.layout import LOG_FILE, METRICS_FILE, TB_DIR
from resdeep.runs.state import StateWriter


def _clock(seconds: float) -> str:
    """H:MM:SS."""
    hours, rest = divmod(int(seconds), 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}"


class RunLogger:
    """Rank 0's writer. On resume it drops whatever was logged after the checkpoint, so curves never repeat.

    A user deleting tb/, metrics.jsonl or train.log mid-run costs no rows: metrics.jsonl is rewritten
    whole from memory, and TensorBoard and train.log go on in new files. state.json (`state`, for machines:
    `resdeep status`, `report`) says at each log point where the run is, and says it stopped when it does."""

    def __init__(self, run_dir: Path, start_iteration: int, max_iters: int, config_text: str, progress: str, enabled: bool = True,
                 records: Optional[list] = None, state: Optional[StateWriter] = None):
        self.run_dir, self.enabled, self.max_iters = Path(run_dir), enabled, max_iters
        self.writer = None
        self.bar = None
        self.log = None
        self.state, self.checkpoint = state, start_iteration or None
        self.warned_skipping = False
        if not enabled:
            return
        # Every line, whatever the console shows, appended across resumes.
        self.log = open(self.run_dir / LOG_FILE, "a", buffering=1)
        remove_stale_temporaries(self.run_dir, METRICS_FILE)  # left by a process killed while rewriting it
        self.records = list(records or [])  # the checkpoint's: what was evaluated up to the iteration it resumes from
        self._write_all_metrics()
        self._state("running", start_iteration)
        self.writer = self._open_tensorboard(purge_step=start_iteration + 1 if start_iteration else None)
        if start_iteration == 0:
            self.writer.add_text("config", "```\n" + config_text + "\n```", 0)
            self.writer.add_custom_scalars(
                {"degradation": {"error (%): train vs test": ["Multiline", ["error/train", "error/test", "error/val"]]},
                 "loss": {"loss: train vs test": ["Multiline", ["loss/train", "loss/test", "loss/val"]]}}
            )
        # Progress goes to stdout, so `| tee log` and `> log` get it: a bar on a terminal, plain lines otherwise.
        style = progress if progress != "auto" else ("bar" if sys.stdout.isatty() else "lines")
        if style == "bar":
            from tqdm import tqdm

            self.bar = tqdm(total=max_iters, initial=start_iteration, unit="it", dynamic_ncols=True, file=sys.stdout)
        self.style = style
        self.started, self.start_iteration = time.perf_counter(), start_iteration

    def _open_tensorboard(self, purge_step: Optional[int] = None):
        from torch.utils.tensorboard import SummaryWriter

        return SummaryWriter(str(self.run_dir / TB_DIR), purge_step=purge_step)

    def _tensorboard(self):
        """The writer, reopened in a new event file when tb/ (or our event file) was deleted mid-run."""
        # A private attribute of tensorboard's EventFileWriter; if it ever goes, only the folder is checked.
        event_file = getattr(self.writer.file_writer.event_writer, "_file_name", None)
        if (self.run_dir / TB_DIR).is_dir() and (event_file is None or os.path.exists(event_file)):
            return self.writer
        try:
            self.writer.close()
        except OSError:  # its file went with the folder; the events still queued are lost with it
            pass
        self.writer = self._open_tensorboard()
        self._to_file("tb/ or its event file was deleted during the run: TensorBoard goes on in a new event file")
        return self.writer

    def _write_all_metrics(self) -> None:
        atomic_write_text(self.run_dir / METRICS_FILE, "".join(json.dumps(r) + "\n" for r in self.records))

    def train_point(self, iteration: int, train_error: float, train_loss: float, lr: float, images_per_s: float) -> None:
        """One point of the training curve (running over the last logging window)."""
        if not self.enabled:
            return
        writer = self._tensorboard()
        for tag, value in (("error/train", train_error), ("loss/train", train_loss), ("lr", lr), ("perf/images_per_s", images_per_s)):
            writer.add_scalar(tag, value, iteration)
        line = f"iter {iteration}/{self.max_iters}  loss {train_loss:.4f}  train error {train_error:.2f}%  lr {lr:g}  {images_per_s:,.0f} img/s  {self._timing(iteration)}"
        self._to_file(line)
        self._state("running", iteration, train_error=train_error, train_loss=train_loss, lr=lr, images_per_s=images_per_s)
        if self.bar is not None:
            self.bar.set_postfix(loss=f"{train_loss:.3f}", err=f"{train_error:.1f}%", img_s=f"{images_per_s:,.0f}", refresh=False)
            self.bar.update(iteration - self.bar.n)
        elif self.style == "lines":
            print(line, flush=True)

    def skipped_images(self, skipped: list, total: int) -> None:
        """Each skipped image in train.log; on the console one line, the first time, with the first few."""
        if not self.enabled:
            return
        for image in skipped:
            self._to_file(f"skipped an unreadable training image: {image}")
        if not self.warned_skipping:
            self.warned_skipping = True
            print(f"resdeep: warning: skipping unreadable training images ({total} so far, e.g. {'; '.join(skipped[:3])}); "
                  f"each is named in {self.run_dir / LOG_FILE}", file=sys.stderr, flush=True)

    def checkpoint_saved(self, iteration: int) -> None:
        """The newest checkpoint's iteration, said in the next state.json."""
        self.checkpoint = iteration

    def interrupted(self, iteration: int) -> None:
        """A requested stop, after its checkpoint: a rerun resumes at `iteration`."""
        self._state("interrupted", iteration)

    def _state(self, state: str, iteration: int, **values) -> None:
        if self.enabled and self.state is not None:
            self.state.write(state, iteration, total=self.max_iters, checkpoint=self.checkpoint, **values)

    def step(self) -> None:
        """One training iteration done: the bar moves (a counter on the host, no device sync)."""
        if self.bar is not None:
            self.bar.update(1)

    def _timing(self, iteration: int) -> str:
        """'elapsed 0:01:05  left 0:10:50', from this session's pace (evaluations included)."""
        elapsed = time.perf_counter() - self.started
        done = iteration - self.start_iteration
        left = elapsed / done * (self.max_iters - iteration) if done > 0 else 0.0
        return f"elapsed {_clock(elapsed)}  left {_clock(left)}"

    def eval_point(self, iteration: int, record: Dict) -> None:
        """One evaluation: error/loss per set in TensorBoard, and one record in metrics.jsonl."""
        if not self.enabled:
            return
        writer = self._tensorboard()
        for name in ("test", "val"):
            if f"{name}_error" in record:
                writer.add_scalar(f"error/{name}", record[f"{name}_error"], iteration)
                writer.add_scalar(f"loss/{name}", record[f"{name}_loss"], iteration)
        self.records.append(record)
        if (self.run_dir / METRICS_FILE).is_file():
            with naming(self.run_dir / METRICS_FILE), open(self.run_dir / METRICS_FILE, "a") as stream:
                stream.write(json.dumps(record) + "\n")
                stream.flush()
                os.fsync(stream.fileno())
        else:  # deleted mid-run: every row is still in memory
            self._write_all_metrics()
            self._to_file(f"{METRICS_FILE} was deleted during the run: rewritten with all {len(self.records)} records")
        writer.flush()
        text = "  ".join(f"{k.replace('_', ' ')} {v:.2f}%" for k, v in record.items() if k.endswith("_error"))
        self.message(f"iter {iteration}: {text}")

    def message(self, text: str, iteration: Optional[int] = None) -> None:
        """A notable event (warm-up ended, diverged, stopped): printed, and kept in TensorBoard's text tab."""
        if not self.enabled:
            return
        if iteration is not None:
            self._tensorboard().add_text("events", text, iteration)
        self._to_file(text)
        if self.bar is not None:
            self.bar.write(text, file=sys.stdout)
        elif self.style != "off":
            print(text, flush=True)

    def _to_file(self, line: str) -> None:
        if not (self.run_dir / LOG_FILE).is_file():  # deleted mid-run: go on in a new one
            self.log.close()
            self.log = open(self.run_dir / LOG_FILE, "a", buffering=1)
        self.log.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')}  {line}\n")

    def scalar(self, tag: str, value: float, iteration: int) -> None:
        if self.enabled:
            self._tensorboard().add_scalar(tag, value, iteration)

    def hparams(self, hparams: Dict, metrics: Dict, iteration: int) -> None:
        """The run's row in TensorBoard's hparams view, in the run's own event file (add_hparams would add a
        second run, tb/hparams): hparams without a value are left out; a metric without one stays blank."""
        if not self.enabled:
            return
        from torch.utils.tensorboard.summary import hparams as hparams_summary

        writer = self._tensorboard()
        for summary in hparams_summary({k: v for k, v in hparams.items() if v is not None}, dict.fromkeys(metrics, 0.0)):
            writer.file_writer.add_summary(summary)  # the experiment (columns), this session's values, its end
        for tag, value in metrics.items():
            if value is not None and math.isfinite(value):
                writer.add_scalar(tag, value, iteration)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        if self.writer is not None:
            try:
                self._tensorboard().close()
            except OSError:  # tb/ deleted in the last instant: the run's result matters more than its last events
                pass
        if self.log is not None:
            self.log.close()


class Stopwatch:
    """Images per second between two reads."""

    def __init__(self):
        self.start, self.images = time.perf_counter(), 0

    def add(self, images: int) -> None:
        self.images += images

    def restart(self) -> None:
        """Leave out time spent outside training steps (evaluation, checkpoints)."""
        self.start, self.images = time.perf_counter(), 0

    def rate(self) -> float:
        now = time.perf_counter()
        rate = self.images / max(now - self.start, 1e-9)
        self.start, self.images = now, 0
        return rate
