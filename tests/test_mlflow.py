"""trainer.loggers: TensorBoard by default, MLflow on request (the resdeep[mlflow] extra), mistakes in one line."""
import json

import pytest

from conftest import in_process, tiny


def test_tensorboard_is_the_default_and_unknown_or_missing_loggers_are_one_line(tmp_path, monkeypatch):
    from resdeep.compose import load_config

    assert load_config(["data=synthetic"]).trainer.loggers == ["tensorboard"]
    unknown = in_process("summary", "data=synthetic", "trainer.loggers=[tensorboard,wandb]")
    assert unknown.returncode == 2 and unknown.stderr == (
        "resdeep: error: trainer.loggers='wandb' is not valid; choose one of: tensorboard, mlflow\n")
    import resdeep.config

    real = resdeep.config.importlib.util.find_spec
    monkeypatch.setattr(resdeep.config.importlib.util, "find_spec", lambda name, *a: None if name == "mlflow" else real(name, *a))
    missing = in_process("train", *tiny(tmp_path), "trainer.loggers=[tensorboard,mlflow]")
    assert missing.returncode == 2 and missing.stderr == ("resdeep: error: trainer.loggers=[tensorboard,mlflow] names mlflow, "
                                                          "which is not installed: pip install 'resdeep[mlflow]'\n")
    assert not (tmp_path / "default").exists()  # refused before any job started
    monkeypatch.undo()
    without = in_process("train", *tiny(tmp_path, "trainer.eval_every=5", "trainer.loggers=[]", iters=5))
    run_dir = tmp_path / "default" / "synthetic" / "resnet8" / "seed0"
    assert without.returncode == 0 and not (run_dir / "tb").exists() and json.loads((run_dir / "result.json").read_text())["iterations"] == 5


def test_mlflow_gets_params_curves_final_numbers_and_files_and_a_resumed_run_continues_its_mlflow_run(tmp_path, monkeypatch):
    pytest.importorskip("mlflow")  # not in the test extra: CI stays small
    from mlflow.tracking import MlflowClient

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    command = ["train", "data=synthetic", "data.train_size=64", "data.test_size=32", "model=plain20", "model.depth=8", "model.width=4",
               "recipe=smoke", "recipe.batch_size=16", "trainer.log_every=5", "trainer.eval_every=5", "trainer.device=cpu",
               "trainer.progress=off", "trainer.loggers=[tensorboard,mlflow]", f"out_dir={tmp_path}"]
    first = in_process(*command, "recipe.max_iters=5")
    assert first.returncode == 0, first.stderr
    # trainer.progress=off: resdeep's closing line is all there is; MLflow's INFO lines and warnings stay off the console.
    assert [line.split(":")[0] for line in (first.stdout + first.stderr).splitlines()] == ["resdeep"], first.stdout + first.stderr
    second = in_process(*command, "recipe.max_iters=10")  # a longer run continues the finished one from its checkpoint
    assert second.returncode == 0, second.stderr

    run_dir = tmp_path / "default" / "synthetic" / "plain8-w4" / "seed0"
    result = json.loads((run_dir / "result.json").read_text())
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")  # the default store: beside the runs, not in the working folder
    experiment = client.get_experiment_by_name("default")
    [run] = client.search_runs([experiment.experiment_id])
    assert (run.info.run_name, run.info.status, run.data.tags["status"], run.data.tags["kind"]) == (
        "synthetic/plain8-w4/seed0", "FINISHED", "finished", "plain")
    assert run.data.params["model.depth"] == "8" and run.data.params["recipe.lr"] == "0.1" and run.data.params["seed"] == "0"
    assert [m.step for m in client.get_metric_history(run.info.run_id, "error/train")] == [5, 10]
    assert [(m.step, m.value) for m in client.get_metric_history(run.info.run_id, "error/test")][-1] == (10, result["final_test_error"])
    assert run.data.metrics["final_test_error"] == result["final_test_error"]
    assert {a.path for a in client.list_artifacts(run.info.run_id)} >= {"result.json", "metrics.jsonl", "run.json", "train.log"}
    logged = json.loads((tmp_path / "mlartifacts").joinpath(run.info.run_id, "artifacts", "result.json").read_text())
    assert logged == result
