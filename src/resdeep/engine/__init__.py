"""The training engine: the loop, its schedule, checkpoints, logging and distribution."""
