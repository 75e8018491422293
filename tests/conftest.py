"""Shared fixtures: the real data subsets in ../shared/data, copied so tests never write there."""
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

# The test workers share the cores: each worker, and every process it starts, gets its share of threads. More
# threads than cores makes OpenMP's waiting threads spin on cores another test needs (the suite took 1.5x longer).
os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")))))

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


def resdeep(*args, cwd=None, timeout=600, env=None):
    """Run the real `resdeep` command line in a subprocess and return the CompletedProcess."""
    return subprocess.run(
        [sys.executable, "-m", "resdeep", *map(str, args)],
        cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env,
    )


def in_process(*args, cwd=None, env=None):
    """Run a resdeep command in this process, answered as `resdeep()` answers, without an interpreter start-up.

    Importing torch and Hydra costs a new process about five seconds of CPU; this pays it once per test worker.
    Everything a command changes process-wide is put back: sys.argv, the working folder, environment variables,
    signal handlers (a stopped run ignores SIGINT/SIGTERM while it winds down), the root logger's handlers,
    torch's thread count, and Hydra's global state. Commands that must meet a real process (signals sent from
    outside, torchrun, launchers that start processes) use `resdeep()`."""
    import contextlib
    import io
    import logging
    import signal

    import torch
    from hydra.core.global_hydra import GlobalHydra

    from resdeep.cli import main

    saved_argv, saved_cwd, saved_environ = sys.argv[:], os.getcwd(), dict(os.environ)
    signals = (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1, signal.SIGUSR2)
    saved_handlers = {signum: signal.getsignal(signum) for signum in signals}
    root = logging.getLogger()
    saved_logging = (root.handlers[:], root.level)
    saved_threads = torch.get_num_threads()
    out, err = io.StringIO(), io.StringIO()
    try:
        if cwd is not None:
            os.chdir(cwd)
        if env is not None:
            os.environ.clear()
            os.environ.update(env)
            if "OMP_NUM_THREADS" in env:
                torch.set_num_threads(int(env["OMP_NUM_THREADS"]))
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main([str(a) for a in args])
                code = 0
            except SystemExit as stop:
                code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
    finally:
        sys.argv[:] = saved_argv
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_environ)
        for signum, handler in saved_handlers.items():
            signal.signal(signum, handler)
        root.handlers[:] = saved_logging[0]
        root.setLevel(saved_logging[1])
        torch.set_num_threads(saved_threads)
        GlobalHydra.instance().clear()
    return subprocess.CompletedProcess(["resdeep", *map(str, args)], code, out.getvalue(), err.getvalue())


def fast_path(**on):
    """A FastPath with every switch off but those named (a new one each time: make_train_step turns switches off in place)."""
    from resdeep.engine.fast_path import FastPath

    return FastPath(**{**dict.fromkeys(("channels_last", "bf16", "compile", "cuda_graphs", "fused_optimizer"), False), **on})


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


@pytest.fixture
def one_thread():
    """One torch thread: tiny nets run faster so, far faster when other jobs share the cores, and a fixed thread
    count sums gradients in a fixed order (test_unchanged_outputs.py's fixture was written with one)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def sigterm_at_step(monkeypatch, step: int) -> None:
    """Make the next run in this process send itself a real SIGTERM from inside its `step`-th training step."""
    import resdeep.engine.train as engine

    real_make_train_step, calls = engine.make_train_step, []

    def make_train_step(*args, **kwargs):
        train_step = real_make_train_step(*args, **kwargs)

        def step_that_is_interrupted(images, labels):
            calls.append(1)
            if len(calls) == step:
                os.kill(os.getpid(), signal.SIGTERM)
            return train_step(images, labels)
        step_that_is_interrupted.prepare, step_that_is_interrupted.autocast = train_step.prepare, train_step.autocast  # evaluation uses them
        return step_that_is_interrupted

    monkeypatch.setattr(engine, "make_train_step", make_train_step)
