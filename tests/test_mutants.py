"""Tests that kill mutants `make mutation` found surviving (docs/testing.md lists them)."""
from resdeep.engine.schedule import iterations_per_epoch


def test_an_epoch_is_the_number_of_full_batches_in_the_training_set():
    # CIFAR-10's 50,000 images in batches of 128: 390 full batches (the 80 left over start the next epoch).
    assert iterations_per_epoch(50_000, 128) == 390
    assert iterations_per_epoch(45_000, 128) == 351
    assert iterations_per_epoch(255, 128) == 1 and iterations_per_epoch(128, 128) == 1  # one batch: one iteration
    assert iterations_per_epoch(256, 128) == 2
