"""Whether runs followed the published schedule behind the paper's numbers, and if not, what differs.

The shipped recipe presets (conf/recipe/<name>.yaml) are the papers' schedules, each citing its source;
a run's recipe is compared with the preset of its own name."""
from __future__ import annotations

from functools import lru_cache
from typing import List, Optional

from omegaconf import OmegaConf

from resdeep.config import RecipeConfig
from resdeep.presets import config_dir

NOT_FROM_A_PAPER = ("smoke", "highway_mnist")  # resdeep's own shortened recipes


@lru_cache(maxsize=None)
def published_recipe(name: str) -> Optional[dict]:
    """The preset's values over the schema's defaults, or None when no paper stands behind the name."""
    path = config_dir() / "recipe" / f"{name}.yaml"
    if name in NOT_FROM_A_PAPER or not path.is_file():
        return None
    preset = {k: v for k, v in OmegaConf.to_container(OmegaConf.load(path)).items() if k != "defaults"}
    return OmegaConf.to_container(OmegaConf.merge(OmegaConf.structured(RecipeConfig), preset))


def schedule_differences(setup: dict) -> List[str]:
    """How a config departs from its paper's schedule, e.g. ['recipe.max_iters=1000 (paper: 64000)']; [] if it does not."""
    recipe, data = setup["recipe"], setup["data"]
    published = published_recipe(recipe.get("name", ""))
    if published is None:
        return [f"recipe {recipe.get('name')} is resdeep's own, not a published schedule"]
    def paper(key):  # an epoch recipe has no max_iters: its length is its epochs
        return f"all {published['epochs']:g} epochs" if key == "max_iters" and published[key] is None else published[key]

    differences = [f"recipe.{key}={value} (paper: {paper(key)})" for key, value in recipe.items()
                   if key in published and key != "name" and published[key] != value]
    if data.get("augment") is False:
        differences.append("data.augment=false (the paper augments)")
    if data.get("name") == "imagenet" and not data.get("ten_crop"):
        differences.append("single-crop testing (Table 2 is 10-crop: data.ten_crop=true)")
    return differences
