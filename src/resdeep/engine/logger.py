"""What a run writes as it goes: TensorBoard events, metrics.jsonl, train.log, state.json, and a progress bar or lines
(and, with trainer.loggers=[...,mlflow], the same curves in MLflow: engine/mlflow_logger.py)."""
from __future__ import annotations

import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from resdeep.atomic_files import atomic_write_text, naming, remove_stale_temporaries
from resdeep.runs.layout import LOG_FILE, METRICS_FILE, TB_DIR
from resdeep.runs.state import StateWriter

# The columns TensorBoard's HPARAMS view shows without a click. Its dashboard checks the first five hparams once
# those marked `differs` come first (the backend sorts by differs, then name: backend_context.py
# _sort_and_reduce_to_hparams_limit; the query pane then ticks Math.min(5, ...) of them). Each run declares these
# as differing (they are what a sweep varies) and every other column as not, so these five are the ones shown.
SHOWN_HPARAMS = ("kind", "depth", "shortcut", "seed", "status")
HPARAM_TITLES = {"kind": "network kind"}


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
                 records: Optional[list] = None, state: Optional[StateWriter] = None, loggers: Sequence[str] = ("tensorboard",),
                 config: Any = None):
        self.run_dir, self.enabled, self.max_iters = Path(run_dir), enabled, max_iters
        self.use_tensorboard = "tensorboard" in loggers
        self.writer = None
        self.bar = None
        self.log = None
        self.state, self.checkpoint = state, start_iteration or None
        self.warned_skipping = False
        self.trackers: List[Any] = []  # other experiment trackers (MLflow), told every point TensorBoard is
        if not enabled:
            return
        if "mlflow" in loggers:  # first: a store that cannot be opened stops the run before it writes anything
            from resdeep.engine.mlflow_logger import MlflowLogger  # an optional extra: only when asked for

            self.trackers.append(MlflowLogger(config, self.run_dir, start_iteration, self.message))
        # Every line, whatever the console shows, appended across resumes.
        self.log = open(self.run_dir / LOG_FILE, "a", buffering=1)
        remove_stale_temporaries(self.run_dir, METRICS_FILE)  # left by a process killed while rewriting it
        self.records = list(records or [])  # the checkpoint's: what was evaluated up to the iteration it resumes from
        self._write_all_metrics()
        self._state("running", start_iteration)
        self.writer = self._open_tensorboard(purge_step=start_iteration + 1 if start_iteration else None) if self.use_tensorboard else None
        if self.writer is not None and start_iteration == 0:
            self.writer.add_text("config", "```\n" + config_text + "\n```", 0)
            self.writer.add_custom_scalars(
                {"degradation": {"error (%): train vs test": ["Multiline", ["error/train", "error/test", "error/val"]]},
                 "loss": {"loss: train vs test": ["Multiline", ["loss/train", "loss/test", "loss/val"]]}}
            )
        # Progress goes to stdout, so `| tee log` and `> log` get it: a bar on a terminal, plain lines otherwise.
        style = progress if progress != "auto" else ("bar" if sys.stdout.isatty() else "lines")
        if style == "bar":
            from tqdm import tqdm  # only for a progress bar

            self.bar = tqdm(total=max_iters, initial=start_iteration, unit="it", dynamic_ncols=True, file=sys.stdout)
        self.style = style
        self.started, self.start_iteration = time.perf_counter(), start_iteration

    def _open_tensorboard(self, purge_step: Optional[int] = None):
        from torch.utils.tensorboard import SummaryWriter  # start-up: TensorBoard's writer takes a second to import

        return SummaryWriter(str(self.run_dir / TB_DIR), purge_step=purge_step)

    def _tensorboard(self):
        """The writer, reopened in a new event file when tb/ (or our event file) was deleted mid-run."""
        if self.writer is None:  # trainer.loggers without tensorboard
            return _NO_WRITER
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
        point = {"error/train": train_error, "loss/train": train_loss, "lr": lr, "perf/images_per_s": images_per_s}
        for tag, value in point.items():
            writer.add_scalar(tag, value, iteration)
        self._track("metrics", point, iteration)
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
        point = {f"{kind}/{name}": record[f"{name}_{kind}"] for name in ("test", "val") if f"{name}_error" in record for kind in ("error", "loss")}
        for tag, value in point.items():
            writer.add_scalar(tag, value, iteration)
        self._track("metrics", point, iteration)
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
            self._track("metrics", {tag: value}, iteration)

    def hparams(self, hparams: Dict, metrics: Dict, iteration: int) -> None:
        """The run's row in TensorBoard's hparams view, in the run's own event file (add_hparams would add a
        second run, tb/hparams): every run declares the same columns ("n/a" where a network has no such option);
        a metric without a value stays blank."""
        if not self.enabled:
            return
        values = {name: "n/a" if value is None else value for name, value in hparams.items()}
        final = {tag: value for tag, value in metrics.items() if value is not None and math.isfinite(value)}
        self._track("hparams", values, final, iteration)
        if self.writer is None:
            return
        writer = self._tensorboard()
        for summary in hparams_summaries(values, list(metrics)):
            writer.file_writer.add_summary(summary)  # the experiment (columns), this session's values, its end
        for tag, value in final.items():
            writer.add_scalar(tag, value, iteration)

    def _track(self, method: str, *args) -> None:
        """Hand a point to the other trackers (MLflow)."""
        for tracker in self.trackers:
            getattr(tracker, method)(*args)

    def close(self, result: Optional[dict] = None) -> None:
        """Close every output; result is the run's result record, or None when it stopped before its end."""
        if self.bar is not None:
            self.bar.close()
        if self.writer is not None:
            try:
                self._tensorboard().close()
            except OSError:  # tb/ deleted in the last instant: the run's result matters more than its last events
                pass
        for tracker in self.trackers:  # train.log is line-buffered: whole when a tracker copies it
            tracker.close(result)
        if self.log is not None:
            self.log.close()


def hparams_summaries(values: Dict[str, Any], metric_tags: List[str]) -> list:
    """The hparams plugin's three summaries (the experiment's columns, this run's values, its end), written as
    torch's add_hparams writes them, with SHOWN_HPARAMS marked so the dashboard shows them by default."""
    from tensorboard.compat.proto.summary_pb2 import Summary, SummaryMetadata  # start-up: as SummaryWriter's
    from tensorboard.plugins.hparams import api_pb2, metadata, plugin_data_pb2

    def summary(tag: str, **content) -> Summary:
        data = plugin_data_pb2.HParamsPluginData(version=metadata.PLUGIN_DATA_VERSION, **content)
        plugin = SummaryMetadata.PluginData(plugin_name=metadata.PLUGIN_NAME, content=data.SerializeToString())
        return Summary(value=[Summary.Value(tag=tag, metadata=SummaryMetadata(plugin_data=plugin))])

    start = plugin_data_pb2.SessionStartInfo(start_time_secs=time.time())
    columns = []
    for name, value in values.items():
        if isinstance(value, bool):
            start.hparams[name].bool_value, kind = value, api_pb2.DATA_TYPE_BOOL
        elif isinstance(value, (int, float)):
            start.hparams[name].number_value, kind = value, api_pb2.DATA_TYPE_FLOAT64
        else:
            start.hparams[name].string_value, kind = str(value), api_pb2.DATA_TYPE_STRING
        columns.append(api_pb2.HParamInfo(name=name, display_name=HPARAM_TITLES.get(name, name), type=kind, differs=name in SHOWN_HPARAMS))
    experiment = api_pb2.Experiment(hparam_infos=columns, metric_infos=[api_pb2.MetricInfo(name=api_pb2.MetricName(tag=tag)) for tag in metric_tags])
    status = api_pb2.STATUS_FAILURE if values.get("status") == "diverged" else api_pb2.STATUS_SUCCESS
    end = plugin_data_pb2.SessionEndInfo(status=status, end_time_secs=time.time())
    return [summary(metadata.EXPERIMENT_TAG, experiment=experiment), summary(metadata.SESSION_START_INFO_TAG, session_start_info=start),
            summary(metadata.SESSION_END_INFO_TAG, session_end_info=end)]


class _NoWriter:
    """TensorBoard's writer when trainer.loggers leaves it out: every call does nothing."""

    def __getattr__(self, name):
        return lambda *args, **kwargs: None


_NO_WRITER = _NoWriter()


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
