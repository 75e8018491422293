"""TensorBoard: each run is one run there (no tb/hparams sub-run), and the hparams view has every run, diverged too."""
import os
from pathlib import Path

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import plugin_data_pb2

import resdeep.engine.train as engine
from resdeep.compose import load_config
from resdeep.engine.distributed import World
from resdeep.engine.signals import StopRequest


def train_tiny(run_dir: Path, lr: str, *extra: str) -> dict:
    """A 10-iteration run of a depth-8 net in this process (the engine's own train(), no CLI start-up)."""
    cfg = load_config(["data=synthetic", "data.train_size=64", "data.test_size=32", "model=plain20", "model.depth=8",
                       "model.width=4", "recipe=smoke", "recipe.batch_size=16", "recipe.max_iters=10", f"recipe.lr={lr}",
                       "trainer.log_every=5", "trainer.eval_every=10", "trainer.device=cpu", "trainer.progress=off", *extra])
    run_dir.mkdir(parents=True)
    return engine.train(cfg, run_dir, World(), StopRequest())


def hparams_plugin(events: EventAccumulator) -> dict:
    """{tag: HParamsPluginData} of the hparams plugin's summaries in one run's events."""
    return {tag: plugin_data_pb2.HParamsPluginData.FromString(content) for tag, content in events.PluginTagToContent("hparams").items()}


def test_each_run_appears_once_and_the_hparams_view_lists_every_run(tmp_path):
    results = {"finished": train_tiny(tmp_path / "lr0.1", "0.1"), "diverged": train_tiny(tmp_path / "lr1e30", "1e30")}
    assert [r["status"] for r in results.values()] == ["finished", "diverged"]
    # TensorBoard makes one run of each folder holding event files: there must be one per training run.
    event_folders = sorted(Path(folder).relative_to(tmp_path).as_posix() for folder, _, files in os.walk(tmp_path)
                           if any(name.startswith("events.out.tfevents") for name in files))
    assert event_folders == ["lr0.1/tb", "lr1e30/tb"]

    for run, status in (("lr0.1", "finished"), ("lr1e30", "diverged")):
        events = EventAccumulator(str(tmp_path / run / "tb"))
        events.Reload()
        plugin = hparams_plugin(events)
        columns = {info.name for info in plugin["_hparams_/experiment"].experiment.hparam_infos}
        metrics = {info.name.tag for info in plugin["_hparams_/experiment"].experiment.metric_infos}
        assert {"kind", "depth", "family", "shortcut", "model", "seed", "lr", "status"} <= columns, run
        assert {"hparam/final_train_error", "hparam/final_test_error"} <= metrics, run
        values = plugin["_hparams_/session_start_info"].session_start_info.hparams
        assert (values["kind"].string_value, values["depth"].number_value, values["family"].string_value, values["shortcut"].string_value) == (
            "plain", 8, "cifar", "none")
        assert values["status"].string_value == status

    finished = EventAccumulator(str(tmp_path / "lr0.1" / "tb"))
    finished.Reload()
    for metric, curve in (("hparam/final_train_error", "error/train"), ("hparam/final_test_error", "error/test")):
        final, last = finished.Scalars(metric)[-1], finished.Scalars(curve)[-1]
        assert (final.step, final.value) == (last.step, last.value) == (10, final.value), metric
    diverged = EventAccumulator(str(tmp_path / "lr1e30" / "tb"))
    diverged.Reload()
    assert results["diverged"]["iterations"] == 5, "lr 1e30 diverges at the first log point"
    assert "hparam/final_test_error" not in diverged.Tags()["scalars"], "never evaluated: its test error stays blank"


def shown_by_default(logdir: Path) -> list:
    """The HPARAMS columns TensorBoard ticks without a click, worked out as TensorBoard does: its backend builds the
    experiment from the runs' events (hparams plugin, backend_context.py), and the dashboard's query pane sorts the
    columns marked `differs` first and ticks the first five (tf-hparams-query-pane: Math.min(5, hparams.length))."""
    from tensorboard import context
    from tensorboard.backend.event_processing import data_provider, plugin_event_multiplexer
    from tensorboard.plugins import base_plugin
    from tensorboard.plugins.hparams import backend_context

    multiplexer = plugin_event_multiplexer.EventMultiplexer()
    multiplexer.AddRunsFromDirectory(str(logdir))
    multiplexer.Reload()
    provider = data_provider.MultiplexerDataProvider(multiplexer, str(logdir))
    backend = backend_context.Context(base_plugin.TBContext(logdir=str(logdir), data_provider=provider, multiplexer=multiplexer))
    request = context.RequestContext()
    experiment = backend.experiment_from_metadata(request, "", True, backend.hparams_metadata(request, ""),
                                                  backend.hparams_from_data_provider(request, "", limit=None))
    return [info.name for info in sorted(experiment.hparam_infos, key=lambda info: not info.differs)][:5]


def test_the_hparams_view_shows_network_kind_depth_shortcut_seed_and_status_by_default(tmp_path):
    train_tiny(tmp_path / "plain8", "0.1")
    train_tiny(tmp_path / "resnet8", "0.1", "model=resnet20", "model.depth=8", "seed=1")
    assert sorted(shown_by_default(tmp_path)) == ["depth", "kind", "seed", "shortcut", "status"]
    kinds = {}
    for run in ("plain8", "resnet8"):
        events = EventAccumulator(str(tmp_path / run / "tb"))
        events.Reload()
        values = hparams_plugin(events)["_hparams_/session_start_info"].session_start_info.hparams
        kinds[run] = (values["kind"].string_value, values["shortcut"].string_value, values["seed"].number_value, values["family"].string_value)
    assert kinds == {"plain8": ("plain", "none", 0, "cifar"), "resnet8": ("residual", "A", 1, "cifar")}
