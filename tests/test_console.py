"""A quiet console: `resdeep demo` prints its training lines and its findings, and other libraries' loggers
(fonts being subset for the PDF figures, TensorBoard's event-file reader) reach it only at WARNING."""
import logging
import os
import re
import subprocess
import sys

from omegaconf import OmegaConf

from conftest import REPO

# Every line the demo may print: a run's training lines, then the findings and the files.
DEMO_LINES = [
    r"\S+ on synthetic: [\d,]+ parameters, [\d,]+ training images, device \w+, fast path: .*",
    r"iter \d+/\d+  loss [\d.]+  train error [\d.]+%  lr .*",
    r"iter \d+: train error [\d.]+%  test error [\d.]+%",
    r"resdeep: \S+ seed \d+: final test error [\d.]+% after \d+ iterations -> .*",
    r"",
    r"Demo finished, on the built-in synthetic data set \(it shows optimisation, not CIFAR-10 accuracy\):",
    r"  demo · synthetic, \w+: .*",
    r"  To test a gap against the spread between seeds: resdeep demo seed=0,1,2 .*",
    r"  files:",
    r"    /\S+",
    r"    /\S+(, \S+)+",
    r"  TensorBoard: tensorboard --logdir \S+",
]
# What a font-subsetting or event-file library's logger prints (the lines that used to flood the demo).
NOISE = re.compile(r"pruned|glyph|subset|tfevents|No path found|fontTools|HYDRA", re.IGNORECASE)


def test_the_demo_prints_its_training_lines_and_findings_and_nothing_else(tmp_path):
    # The demo through the real command line, shortened: plain-8 and plain-14, 4 channels wide, 10 iterations. One
    # thread: nets this small gain nothing from two, and lose much when the cores are busy.
    done = subprocess.run(
        [sys.executable, "-m", "resdeep", "demo", f"out_dir={tmp_path}", "model=plain20", "model.depth=8,14", "model.width=4", "data.train_size=64",
         "data.test_size=32", "recipe.batch_size=16", "recipe.max_iters=10", "trainer.log_every=5", "trainer.eval_every=5"],
        cwd=tmp_path, capture_output=True, text=True, timeout=600, env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert done.returncode == 0, done.stderr[-3000:]
    lines = (done.stdout + done.stderr).splitlines()
    assert len(lines) < 100 and not [line for line in lines if NOISE.search(line)]
    assert [line for line in lines if not any(re.fullmatch(pattern, line) for pattern in DEMO_LINES)] == []
    assert sum(line.startswith("resdeep: ") for line in lines) == 2 and sum(line.startswith("iter ") for line in lines) == 2 * 4
    assert any(line.startswith("  demo · synthetic, plain: no claim (one seed") for line in lines)
    assert f"    {tmp_path}/demo/depth.png, depth.pdf, depth.svg" in lines and f"    {tmp_path}/demo/report.md" in lines


def test_library_loggers_are_at_warning_unless_hydra_verbose_asks():
    from hydra.core.utils import configure_log

    root, saved = logging.getLogger(), (logging.getLogger().handlers[:], logging.getLogger().level)
    try:
        for name in ("job_logging", "hydra_logging"):
            config = OmegaConf.load(REPO / "conf" / "hydra" / name / "resdeep.yaml")
            configure_log(config, False)
            assert logging.getLogger("fontTools.subset").getEffectiveLevel() == logging.WARNING, name
            assert logging.getLogger("tensorboard.backend.event_processing").getEffectiveLevel() == logging.WARNING, name
            configure_log(config, "fontTools")  # hydra.verbose=fontTools: that library's debug lines
            assert logging.getLogger("fontTools.subset").getEffectiveLevel() == logging.DEBUG, name
            configure_log(config, True)  # hydra.verbose=true: everything
            assert logging.getLogger("tensorboard").getEffectiveLevel() == logging.DEBUG, name
            logging.getLogger("fontTools").setLevel(logging.NOTSET)
        assert logging.getLogger("hydra").level == logging.INFO  # which jobs a sweep launches stays on the console
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        for name in ("hydra", "hydra_plugins", "fontTools"):
            logging.getLogger(name).setLevel(logging.NOTSET)
