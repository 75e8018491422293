"""trainer.loggers=[tensorboard,mlflow]: a run's config, curves, final numbers and files, also in MLflow.

One resdeep run is one MLflow run, in the MLflow experiment named after the config's `name` (default, demo,
figure6, ...). The store is $MLFLOW_TRACKING_URI when it is set (a server, a database), else an SQLite file
beside the runs, <out_dir>/mlflow.db, with the files in <out_dir>/mlartifacts/; `mlflow ui --backend-store-uri
sqlite:///outputs/mlflow.db` shows it. A resumed run continues its MLflow run (the id is kept in RUN/mlflow.json).
A store that fails in the middle of a run costs the MLflow copy, never the training: one line, and the run goes on.
"""
from __future__ import annotations

import fcntl
import logging
import math
import os
import time
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Dict, Optional

from omegaconf import OmegaConf

from resdeep.atomic_files import read_json, write_json
from resdeep.config import flatten
from resdeep.errors import UserError
from resdeep.models import model_id, network_kind
from resdeep.runs.layout import HYDRA_DIR, IDENTITY_FILE, LOG_FILE, METRICS_FILE, MLFLOW_FILE as ID_FILE, RESULT_FILE

# What `resdeep report` reads of a run (result.json is logged from memory: it is written after the loggers close).
ARTIFACTS = {IDENTITY_FILE: "", METRICS_FILE: "", LOG_FILE: "", f"{HYDRA_DIR}/config.yaml": "hydra", f"{HYDRA_DIR}/overrides.yaml": "hydra"}
BATCH = 100  # MLflow takes at most 100 params or tags per call


def tracking_uri(out_dir: str) -> str:
    """$MLFLOW_TRACKING_URI, else an SQLite store beside the runs (not in whatever folder the command runs from)."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{Path(out_dir).resolve() / 'mlflow.db'}"


@contextmanager
def _quiet_and_alone(out_dir: Path):
    """MLflow's own INFO lines (creating the database) and its dependencies' warnings off the console, unless
    hydra.verbose asked for debug lines; and one process at a time creating the store, its experiment and a run
    (the jobs of a parallel sweep start together)."""
    verbose = logging.getLogger().getEffectiveLevel() <= logging.DEBUG
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / ".mlflow.lock", "a") as lock, warnings.catch_warnings():
        if not verbose:
            warnings.simplefilter("ignore")
        fcntl.flock(lock, fcntl.LOCK_EX)
        import mlflow  # noqa: F401 - configures its logger on import; quietened just below

        if not verbose:
            logging.getLogger("mlflow").setLevel(logging.WARNING)
        yield


class MlflowLogger:
    """The MLflow side of one run: params when it starts, each point TensorBoard gets, the end and the files."""

    def __init__(self, config, run_dir: Path, start_iteration: int, say: Callable[[str], None]):
        self.run_dir, self.say, self.failed = Path(run_dir), say, False
        self.uri = tracking_uri(config.out_dir)
        try:
            with _quiet_and_alone(Path(config.out_dir)):
                from mlflow.tracking import MlflowClient

                self.client = MlflowClient(self.uri)
                self.run_id = self._resumed(start_iteration) or self._started(config)
        except Exception as error:  # noqa: BLE001 - a store that cannot be used (a bad URI, no server) is one line
            first = (str(error).strip().splitlines() or [type(error).__name__])[0]
            raise UserError(f"trainer.loggers names mlflow, but the MLflow store {self.uri} cannot be used: {first}") from None
        write_json(self.run_dir / ID_FILE, {"tracking_uri": self.uri, "run_id": self.run_id})

    def _resumed(self, start_iteration: int) -> Optional[str]:
        """The MLflow run this run started, when it resumes from a checkpoint into the same store."""
        saved = read_json(self.run_dir / ID_FILE) if start_iteration else None
        if not saved or saved.get("tracking_uri") != self.uri:
            return None
        try:
            self.client.update_run(saved["run_id"], status="RUNNING")
        except Exception:  # noqa: BLE001 - deleted from the store meanwhile: start a new one
            return None
        return saved["run_id"]

    def _started(self, config) -> str:
        """A new MLflow run holding the config as params."""
        from mlflow.entities import Param, RunTag

        experiment = self.client.get_experiment_by_name(config.name)
        if experiment is not None:
            experiment_id = experiment.experiment_id
        else:
            local = "MLFLOW_TRACKING_URI" not in os.environ  # a server decides where its files go
            artifacts = (Path(config.out_dir).resolve() / "mlartifacts").as_uri() if local else None
            experiment_id = self.client.create_experiment(config.name, artifact_location=artifacts)
        base, folder = (Path(config.out_dir) / config.name).resolve(), self.run_dir.resolve()
        name = str(folder.relative_to(base)) if folder.is_relative_to(base) else folder.name  # e.g. synthetic/plain56/seed0
        tags = {"resdeep.run_dir": str(self.run_dir.resolve()), "model": model_id(config.model), "kind": network_kind(config.model)}
        run = self.client.create_run(experiment_id, run_name=name, tags=tags)
        params = [Param(key, str(value)[:6000]) for key, value in flatten(OmegaConf.to_container(OmegaConf.structured(config))).items()]
        for start in range(0, len(params), BATCH):
            self.client.log_batch(run.info.run_id, params=params[start:start + BATCH])
        self.client.log_batch(run.info.run_id, tags=[RunTag("status", "running")])
        return run.info.run_id

    def _safely(self, action: Callable[[], None]) -> None:
        """Do action; the first failure is said once, and MLflow is left alone for the rest of the run."""
        if self.failed:
            return
        try:
            action()
        except Exception as error:  # noqa: BLE001 - the training run matters more than its copy in MLflow
            self.failed = True
            first = (str(error).strip().splitlines() or [type(error).__name__])[0]
            self.say(f"MLflow ({self.uri}) failed: {first}; training goes on, logged by the other loggers")

    def metrics(self, point: Dict[str, float], iteration: int) -> None:
        """Scalars at one iteration, under TensorBoard's tags (error/train, loss/test, lr, ...)."""
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        values = [Metric(tag, float(value), now, iteration) for tag, value in point.items() if value is not None and math.isfinite(value)]
        if values:
            self._safely(lambda: self.client.log_batch(self.run_id, metrics=values))

    def hparams(self, values: Dict[str, Any], final: Dict[str, float], iteration: int) -> None:
        """The run's end in numbers: kind and status as tags, the final errors as metrics (final_test_error, ...)."""
        from mlflow.entities import Metric, RunTag

        now = int(time.time() * 1000)
        tags = [RunTag(key, str(values[key])) for key in ("kind", "status") if key in values]
        metrics = [Metric(tag.split("/", 1)[-1], float(value), now, iteration) for tag, value in final.items()]
        self._safely(lambda: self.client.log_batch(self.run_id, metrics=metrics, tags=tags))

    def close(self, result: Optional[dict]) -> None:
        """result.json and the run's files as artifacts; FINISHED, FAILED (diverged) or KILLED (stopped before its end)."""
        from mlflow.entities import RunTag

        def finish() -> None:
            if result is None:
                self.client.log_batch(self.run_id, tags=[RunTag("status", "stopped")])  # resumes as running
            else:
                self.client.log_dict(self.run_id, result, RESULT_FILE)
                for name, folder in ARTIFACTS.items():
                    if (self.run_dir / name).is_file():
                        self.client.log_artifact(self.run_id, str(self.run_dir / name), folder or None)
            status = "KILLED" if result is None else ("FINISHED" if result["status"] == "finished" else "FAILED")
            self.client.set_terminated(self.run_id, status)

        self._safely(finish)
