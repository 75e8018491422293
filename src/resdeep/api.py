"""The Python API for notebooks: `resdeep.load_run(path)` gives back a trained network and its config.

    import resdeep
    run = resdeep.load_run("outputs/default/cifar10/resnet56/seed0")   # or checkpoint="best", or 32000
    run.model            # the network, weights loaded, in eval mode, on the CPU
    run.config           # the typed Config it was trained with (run.config.model, .data, .recipe)
    run.iteration        # the checkpoint's iteration
    run.state            # finished, diverged, running, interrupted or failed: what `resdeep status` says
    run.evaluate()       # {"test_error": ..., "test_loss": ..., ...} on its test set

The same works on a file written by `resdeep export`. The loading itself lives in resdeep.engine.inference.
"""
from resdeep.engine.inference import LoadedRun, load_run

__all__ = ["LoadedRun", "load_run"]
