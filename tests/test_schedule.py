"""The learning rate follows the paper's recipe, in iterations (or in epochs, where a paper counts epochs)."""
import pytest

from resdeep.compose import load_config
from resdeep.config import RecipeConfig
from resdeep.engine.schedule import (
    ScheduleState, end_warmup_if_ready, in_iterations, learning_rate, needs_warmup, update_plateau, recipe_length,
)
from resdeep.errors import UserError


def test_the_cifar_schedule_divides_the_rate_by_10_at_32k_and_48k_iterations():
    recipe, state = RecipeConfig(), ScheduleState()
    assert learning_rate(0, recipe, state) == 0.1
    assert learning_rate(31_999, recipe, state) == 0.1
    assert abs(learning_rate(32_000, recipe, state) - 0.01) < 1e-12
    assert abs(learning_rate(47_999, recipe, state) - 0.01) < 1e-12
    assert abs(learning_rate(48_000, recipe, state) - 0.001) < 1e-12
    assert recipe.max_iters == 64_000 and recipe.batch_size == 128 and recipe.weight_decay == 1e-4


def test_110_layers_warm_up_at_0_01_until_training_error_is_below_80_percent():
    recipe = RecipeConfig()
    assert needs_warmup(recipe, 110) and needs_warmup(recipe, 1202) and not needs_warmup(recipe, 56)
    state = ScheduleState(warming_up=True)
    assert learning_rate(100, recipe, state) == 0.01
    assert not end_warmup_if_ready(state, 85.0, 300, recipe)
    assert learning_rate(300, recipe, state) == 0.01
    assert end_warmup_if_ready(state, 79.0, 400, recipe)
    assert state.warmup_ended_at == 400 and learning_rate(400, recipe, state) == 0.1
    assert not end_warmup_if_ready(state, 50.0, 500, recipe)  # it ends once


def test_plateau_rule_divides_after_patience_evaluations_without_improvement():
    recipe, state = RecipeConfig(plateau=True, plateau_patience=2, plateau_threshold=0.5), ScheduleState()
    assert not update_plateau(state, 40.0, recipe)
    assert not update_plateau(state, 39.8, recipe)  # not better by the threshold
    assert update_plateau(state, 39.9, recipe)
    assert abs(learning_rate(10, recipe, state) - 0.01) < 1e-12
    assert not update_plateau(state, 30.0, recipe)
    assert update_plateau(state, RecipeConfig().lr, RecipeConfig()) is False  # off unless plateau=true


def test_a_recipe_in_epochs_becomes_full_batches_of_this_training_set():
    # Stochastic depth's recipe: 500 epochs, /10 at 250 and 375, batch 128, on the 45k training images.
    recipe = RecipeConfig(batch_size=128, max_iters=None, milestones=[], epochs=500, milestone_epochs=[250, 375])
    converted = in_iterations(recipe, 45_000)
    per_epoch = 45_000 // 128  # 351 full batches: the loader starts a new epoch instead of a short batch
    assert per_epoch == 351
    assert converted.max_iters == 500 * 351 == 175_500
    assert converted.milestones == [250 * 351, 375 * 351] == [87_750, 131_625]
    # A 5,000-image subset converts through its own size.
    assert in_iterations(recipe, 5_000).max_iters == 500 * 39


def test_a_recipe_in_iterations_is_left_as_the_paper_wrote_it():
    recipe = RecipeConfig()
    assert in_iterations(recipe, 50_000) is recipe


@pytest.mark.parametrize("overrides", [
    ["recipe.epochs=3"],                                           # epochs on a recipe in iterations
    ["recipe.max_iters=null", "recipe.milestones=[]"],             # no length at all
    ["recipe.milestone_epochs=[5]"],                               # epoch milestones without epochs
    ["recipe.epochs=0", "recipe.max_iters=null", "recipe.milestones=[]"],
])
def test_a_schedule_given_twice_or_not_at_all_is_refused(overrides):
    with pytest.raises(UserError):
        load_config(["data=synthetic", *overrides])


def test_max_iters_given_with_an_epoch_recipe_stops_the_run_there_and_leaves_the_milestones():
    # Fixup's recipe (200 epochs, /10 at 100 and 150) on the full CIFAR-10, cut to its first 1,000 iterations.
    recipe = RecipeConfig(batch_size=128, max_iters=1000, milestones=[], epochs=200, milestone_epochs=[100, 150])
    converted = in_iterations(recipe, 50_000)
    assert converted.max_iters == 1000
    assert converted.milestones == [100 * 390, 150 * 390]
    assert recipe_length(recipe, 50_000) == 200 * 390 and recipe_length(RecipeConfig(), 50_000) == 64_000
    assert load_config(["data=synthetic", "recipe=fixup", "recipe.max_iters=1000"]).recipe.max_iters == 1000


def test_the_remedies_experiment_gives_each_net_its_papers_recipe_and_takes_one_length_for_all():
    from resdeep.models import model_id

    arms = {}
    for remedy in ("plain56", "resnet56", "highway56", "fixup56", "looks_linear56", "stochastic_depth56"):
        cfg = load_config(["+experiment=remedies56", f"+remedy={remedy}", "recipe.max_iters=1000"])
        arms[model_id(cfg.model)] = (cfg.recipe.name, cfg.recipe.max_iters, cfg.data.name)
    assert arms == {
        "plain56": ("cifar", 1000, "cifar10"), "resnet56": ("cifar", 1000, "cifar10"), "highway56": ("cifar", 1000, "cifar10"),
        "resnet56-fixup": ("fixup", 1000, "cifar10"), "plain56-crelu-ll": ("cifar", 1000, "cifar10"),
        "resnet56-sd0.5": ("stochastic_depth", 1000, "cifar10"),
    }
