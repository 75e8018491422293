"""Shared fixtures: the real data subsets in ../shared/data, copied so tests never write there."""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


def resdeep(*args, cwd=None, timeout=600, env=None):
    """Run the real `resdeep` command line in a subprocess and return the CompletedProcess."""
    return subprocess.run(
        [sys.executable, "-m", "resdeep", *map(str, args)],
        cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env,
    )


def in_process(*args):
    """Run a resdeep command in this process (no interpreter start-up), answered as `resdeep()` answers.

    For commands that neither train nor install signal handlers (analyze, report, summary, eval, status)."""
    import contextlib
    import io

    from resdeep.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main([str(a) for a in args])
            code = 0
        except SystemExit as stop:
            code = stop.code or 0
    return subprocess.CompletedProcess(["resdeep", *map(str, args)], code, out.getvalue(), err.getvalue())


def tiny(out_dir, *extra, iters=40):
    """Overrides for a seconds-long CPU run of ResNet-8 on a small slice of the built-in data set."""
    return [
        "data=synthetic", "data.train_size=512", "data.test_size=128", "model=resnet20", "model.depth=8",
        "recipe=smoke", "recipe.batch_size=32", f"recipe.max_iters={iters}", "trainer.log_every=5",
        "trainer.eval_every=10", "trainer.checkpoint_every=10", "trainer.device=cpu", "trainer.progress=lines",
        f"out_dir={out_dir}", *extra,
    ]


def copy_shared(tmp_path, name):
    """A private copy of ../shared/data/<name>, so tests never write into shared data."""
    source = SHARED_DATA / name
    if not source.is_dir():
        pytest.skip(f"../shared/data/{name} is not here")
    return Path(shutil.copytree(source, tmp_path / name))


@pytest.fixture
def cifar_copy(tmp_path):
    """The CIFAR-10 subset in its python-batches format."""
    return copy_shared(tmp_path, "cifar10")


@pytest.fixture
def mnist_copy(tmp_path):
    """The MNIST subset in its gzipped IDX format."""
    return copy_shared(tmp_path, "mnist")
