"""The one grouping every part of a report uses: experiment -> config -> family -> depth -> seeds.

Only seeds are averaged; runs of different experiments, recipes or lengths never share a row or a curve.
"""
from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from typing import Dict, List

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


def _flat(tree: dict, prefix: str = "") -> Dict[str, object]:
    """{'recipe': {'lr': 0.1}} -> {'recipe.lr': 0.1}."""
    flat = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def group_runs(runs: List[Run]) -> List[ConfigGroup]:
    """Runs grouped once for the table, the figures and the CSV, in reading order."""
    by_config: Dict[tuple, List[Run]] = defaultdict(list)
    for run in runs:
        by_config[(run.experiment, json.dumps(run.setup, sort_keys=True))].append(run)
    groups = []
    for experiment, data in sorted({(experiment, by_config[(experiment, setup)][0].data) for experiment, setup in by_config}):
        keys = sorted(key for key, runs in by_config.items() if key[0] == experiment and runs[0].data == data)
        setups = [_flat(json.loads(setup)) for _, setup in keys]
        # Name a config by what sets it apart from the experiment's other configs on the same data.
        differing = sorted({name for setup in setups for name in setup if len({repr(s.get(name)) for s in setups}) > 1})
        for (_, setup_text), flat in zip(keys, setups):
            label = ", ".join(f"{name}={flat.get(name)}" for name in differing)
            groups.append(ConfigGroup(experiment, data, json.loads(setup_text), label, _by_family(by_config[(experiment, setup_text)])))
    return sorted(groups, key=lambda g: (g.experiment, g.data, g.label))


def _by_family(runs: List[Run]) -> Dict[str, List[Network]]:
    """{family: [networks in depth order]}, each network holding its seeds."""
    by_model: Dict[str, List[Run]] = defaultdict(list)
    for run in sorted(runs, key=lambda r: (r.family, r.depth, r.model, r.seed)):
        by_model[run.model].append(run)
    families: Dict[str, List[Network]] = defaultdict(list)
    for model, model_runs in by_model.items():
        families[model_runs[0].family].append(Network(model, model_runs[0].family, model_runs[0].depth, model_runs))
    return dict(families)
