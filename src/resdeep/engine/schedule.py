"""The learning rate as a function of the iteration (the paper's unit), plus the two stateful rules."""
from __future__ import annotations

from dataclasses import dataclass, replace

from resdeep.config import RecipeConfig


@dataclass
class ScheduleState:
    """What the rate depends on besides the iteration: the 110-layer warm-up and plateau drops."""

    warming_up: bool = False
    warmup_ended_at: int | None = None
    plateau_drops: int = 0
    plateau_best: float | None = None
    plateau_waited: int = 0


def iterations_per_epoch(train_size: int, batch_size: int) -> int:
    """Full batches in one pass over the training set (the loader starts a new epoch rather than a short batch)."""
    return max(train_size // batch_size, 1)


def in_iterations(recipe: RecipeConfig, train_size: int) -> RecipeConfig:
    """A recipe published in epochs, converted through this training set's size; others unchanged.

    A max_iters given with the epochs stops the run there (the recipe's first max_iters iterations, its
    milestones where the epochs put them)."""
    if recipe.epochs is None:
        return recipe
    per_epoch = iterations_per_epoch(train_size, recipe.batch_size)
    return replace(
        recipe,
        max_iters=recipe.max_iters or recipe_length(recipe, train_size),
        milestones=[round(epoch * per_epoch) for epoch in recipe.milestone_epochs],
    )


def recipe_length(recipe: RecipeConfig, train_size: int) -> int:
    """The whole recipe's length in iterations: its epochs in full batches of this training set, or max_iters."""
    if recipe.epochs is None:
        return recipe.max_iters
    return max(round(recipe.epochs * iterations_per_epoch(train_size, recipe.batch_size)), 1)


def needs_warmup(recipe: RecipeConfig, depth: int) -> bool:
    """Section 4.2: nets of 110 layers and more start at 0.01 until training error is below 80%."""
    return recipe.warmup_min_depth is not None and depth >= recipe.warmup_min_depth


def learning_rate(iteration: int, recipe: RecipeConfig, state: ScheduleState) -> float:
    """The rate for this iteration: warm-up, then base rate divided at each milestone (or plateau)."""
    if state.warming_up:
        return recipe.warmup_lr
    drops = state.plateau_drops if recipe.plateau else sum(iteration >= m for m in recipe.milestones)
    return recipe.lr * recipe.lr_factor**drops


def end_warmup_if_ready(state: ScheduleState, train_error: float, iteration: int, recipe: RecipeConfig) -> bool:
    """Leave the warm-up once the running training error is below the threshold; True when it just ended."""
    if state.warming_up and train_error < recipe.warmup_until_error:
        state.warming_up, state.warmup_ended_at = False, iteration
        return True
    return False


def update_plateau(state: ScheduleState, error: float, recipe: RecipeConfig) -> bool:
    """Divide the rate when the watched error has not improved by plateau_threshold for plateau_patience evaluations."""
    if not recipe.plateau:
        return False
    if state.plateau_best is None or error < state.plateau_best - recipe.plateau_threshold:
        state.plateau_best, state.plateau_waited = error, 0
        return False
    state.plateau_waited += 1
    if state.plateau_waited >= recipe.plateau_patience:
        state.plateau_drops, state.plateau_waited, state.plateau_best = state.plateau_drops + 1, 0, error
        return True
    return False
