"""resdeep's parallel local launcher for Hydra: `hydra/launcher=parallel` (one job per GPU, or cores split on a CPU)."""
