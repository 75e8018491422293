"""The one grouping every part of a report uses: experiment -> config -> family -> depth -> seeds.

Only seeds are averaged; runs of different experiments, recipes or lengths never share a row or a curve.
"""
from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from typing import Dict, List

from resdeep.models import network_kind
from resdeep.config import flatten
from resdeep.report.runs import Run


@dataclass
class Network:
    """One network in one config: its runs over seeds."""

    model: str
    family: str
    depth: int
    runs: List[Run]


@dataclass
class ConfigGroup:
    """The runs of one experiment that share data and recipe (the length included)."""

    experiment: str
    data: str
    setup: dict
    label: str  # what sets this config apart from the experiment's others; "" when it is the only one
    families: Dict[str, List[Network]]

    @property
    def title(self) -> str:
        return " · ".join(part for part in (self.experiment, self.data, self.label) if part)

    @property
    def networks(self) -> List[Network]:
        return [network for networks in self.families.values() for network in networks]

    @property
    def config_label(self) -> str:
        """The label, or when this is the experiment's only config, its recipe and length (curves.csv's `config`)."""
        recipe = self.setup["recipe"]
        length = f"recipe.max_iters={recipe.get('max_iters')}"
        if recipe.get("epochs") is not None:
            length = f"recipe.epochs={recipe['epochs']:g}" + (f", {length}" if recipe.get("max_iters") is not None else "")
        return self.label or f"recipe={recipe.get('name')}, {length}"

    @property
    def family_labels(self) -> Dict[str, str]:
        """{family: what a reader calls it}: plain, residual, highway, dense... (network_kind), the family's
        name added where two families of the config are of one kind (residual (resnet-B))."""
        kinds = {family: network_kind(networks[0].runs[0].model_config) for family, networks in self.families.items()}
        shared = {kind for kind in kinds.values() if list(kinds.values()).count(kind) > 1}
        return {family: f"{kind} ({family})" if kind in shared else kind for family, kind in kinds.items()}


def length_text(recipe: dict) -> str:
    """'300 iterations', '200 epochs', or 'the first 1,000 iterations of 200 epochs' (recipe.max_iters cutting
    an epoch recipe short)."""
    if recipe.get("epochs") is not None:
        cut = recipe.get("max_iters")
        return f"the first {cut:,} iterations of {recipe['epochs']:g} epochs" if isinstance(cut, int) else f"{recipe['epochs']:g} epochs"
    iterations = recipe.get("max_iters")
    return f"{iterations:,} iterations" if isinstance(iterations, int) else "length unknown"


def setup_text(setup: dict) -> str:
    """A config in words: 'recipe smoke: batch 32, lr 0.025, momentum 0.9, weight decay 0.0001, constant lr;
    300 iterations; data synthetic (10,000 training / 2,000 test images)'."""
    recipe, data = setup["recipe"], setup["data"]
    momentum = f"{'Nesterov ' if recipe.get('nesterov') else ''}momentum {recipe.get('momentum')}"
    factor = recipe.get("lr_factor", 0.1)
    if recipe.get("plateau"):
        schedule = f"lr x{factor:g} on a plateau"
    elif recipe.get("milestone_epochs"):
        schedule = f"lr x{factor:g} at epochs {', '.join(f'{e:g}' for e in recipe['milestone_epochs'])}"
    elif recipe.get("milestones"):
        schedule = f"lr x{factor:g} at iterations {', '.join(f'{m:,}' for m in recipe['milestones'])}"
    else:
        schedule = "constant lr"
    parts = [f"batch {recipe.get('batch_size')}", f"lr {recipe.get('lr')}", momentum, f"weight decay {recipe.get('weight_decay')}", schedule]
    sizes = [f"{data[key]:,} {what}" for key, what in (("train_size", "training"), ("test_size", "test")) if isinstance(data.get(key), int)]
    details = [" / ".join(sizes) + " images"] if sizes else []
    details += [f"{data['val_size']:,} held out for validation"] if data.get("val_size") else []
    details += ["no augmentation"] if data.get("augment") is False else []
    return (f"recipe {recipe.get('name')}: {', '.join(parts)}; {length_text(recipe)}; "
            f"data {data.get('name')}{' (' + ', '.join(details) + ')' if details else ''}")


def group_runs(runs: List[Run]) -> List[ConfigGroup]:
    """Runs grouped once for the table, the figures and the CSV, in reading order."""
    by_config: Dict[tuple, List[Run]] = defaultdict(list)
    for run in runs:
        by_config[(run.experiment, json.dumps(run.setup, sort_keys=True))].append(run)
    groups = []
    for experiment, data in sorted({(experiment, by_config[(experiment, setup)][0].data) for experiment, setup in by_config}):
        keys = sorted(key for key, runs in by_config.items() if key[0] == experiment and runs[0].data == data)
        setups = [flatten(json.loads(setup)) for _, setup in keys]
        # Name a config by what sets it apart from the experiment's other configs on the same data.
        differing = _naming_keys(setups)
        for (_, setup_text), flat in zip(keys, setups):
            label = ", ".join(f"{name}={flat.get(name)}" for name in differing)
            groups.append(ConfigGroup(experiment, data, json.loads(setup_text), label, _by_family(by_config[(experiment, setup_text)])))
    return sorted(groups, key=lambda g: (g.experiment, g.data, g.label))


def _naming_keys(setups: List[dict]) -> List[str]:
    """The keys whose values differ between the configs, less the recipe's details its name already gives:
    'recipe.name=fixup', not every setting the fixup recipe brings (a detail stays where two configs share a
    recipe's name and differ in it, as recipe.lr when one recipe is run at two rates)."""
    differing = sorted({name for setup in setups for name in setup if len({repr(s.get(name)) for s in setups}) > 1})
    if "recipe.name" not in differing:
        return differing

    def follows_from_the_name(key: str) -> bool:
        values: Dict[str, set] = defaultdict(set)
        for setup in setups:
            values[repr(setup.get("recipe.name"))].add(repr(setup.get(key)))
        return all(len(seen) == 1 for seen in values.values())

    return [key for key in differing if key == "recipe.name" or not (key.startswith("recipe.") and follows_from_the_name(key))]


def _by_family(runs: List[Run]) -> Dict[str, List[Network]]:
    """{family: [networks in depth order]}, each network holding its seeds."""
    by_model: Dict[str, List[Run]] = defaultdict(list)
    for run in sorted(runs, key=lambda r: (r.family, r.depth, r.model, r.seed)):
        by_model[run.model].append(run)
    families: Dict[str, List[Network]] = defaultdict(list)
    for model, model_runs in by_model.items():
        families[model_runs[0].family].append(Network(model, model_runs[0].family, model_runs[0].depth, model_runs))
    return dict(families)
