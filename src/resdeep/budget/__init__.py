"""Training within a time budget: measure, plan what fits, stop at the budget with checkpoints (scripts/gpu_figure6.sh).

plan: the arithmetic (pure, unit-tested); measure: the bench; progress: how far a run has got;
__main__: `python -m resdeep.budget plan|run|keep`, what the script calls."""
