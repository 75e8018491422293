"""The one registry of networks: each family file registers its options (a dataclass) and its builder.

A family's presets in conf/model/ start from its schema (`defaults: [base_<family>]`), so Hydra checks keys
and types, and `resdeep train --cfg job` shows only the options that family has.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Callable, Dict, Optional

from omegaconf import DictConfig, OmegaConf
from torch import nn

from resdeep.errors import UserError
from resdeep.presets import config_dir


@dataclass(frozen=True)
class Family:
    """A network family: its options, how to check them, name a run folder after them, build the net, and say
    what kind of network a config is (plain, residual, highway, dense, ...: what reports and TensorBoard group by)."""

    name: str
    schema: type
    build: Callable[[Any, int, int], nn.Module]
    validate: Callable[[Any], None]
    run_name: Callable[[Any], str]
    kind: Callable[[Any], str]
    from_dict: Optional[Callable[[dict], Any]] = None  # a saved or composed dict -> the typed config (default: schema(**dict))


FAMILIES: Dict[str, Family] = {}


def register_family(name: str, schema: type, build, validate, run_name, kind, from_dict=None) -> Family:
    """Make a family available as model.family=<name> (its presets live in conf/model/)."""
    FAMILIES[name] = Family(name, schema, build, validate, run_name, kind, from_dict)
    return FAMILIES[name]


def family(name: str) -> Family:
    """The registered family called name, or one line listing the families there are."""
    if name not in FAMILIES:
        raise UserError(f"model.family={name!r} is not a network family; choose one of: {', '.join(sorted(FAMILIES))}")
    return FAMILIES[name]


def model_config(family_name: str = "cifar", **options) -> Any:
    """A family's typed options: model_config('cifar', depth=56) is ResNet-56's ModelConfig."""
    schema = family(family_name).schema
    known = {f.name for f in fields(schema)}
    unknown = sorted(set(options) - known)
    if unknown:
        raise UserError(f"model.{unknown[0]} is not an option of the {family_name} family; its options: {', '.join(sorted(known - {'family'}))}")
    return schema(family=family_name, **options)


def as_model_config(model: Any) -> Any:
    """A typed config from a dict (run.json), a Hydra node or an already typed config."""
    if hasattr(model, "__dataclass_fields__"):
        return model
    plain = OmegaConf.to_container(model, resolve=True) if isinstance(model, DictConfig) else dict(model)
    name = "custom" if "_target_" in plain else plain.pop("family", "cifar")  # _target_: your own network (models/custom.py)
    if family(name).from_dict is not None:
        return family(name).from_dict(plain)
    return model_config(name, **plain)


def validate_model(model: Any) -> None:
    """Check a network description before anything is built: its family, its schema, its own rules."""
    entry = family(model.family)
    if not isinstance(model, entry.schema):
        raise UserError(
            f"model.family={model.family} cannot be set on a preset of another family; "
            f"choose one of the {model.family} presets instead: model={'|'.join(presets_of(model.family)) or '...'}"
        )
    entry.validate(model)


def presets_of(family_name: str) -> list[str]:
    """The shipped presets (conf/model/*.yaml) that start from this family's options."""
    return sorted(p.stem for p in (config_dir() / "model").glob("*.yaml") if f"base_{family_name}" in p.read_text())


def model_id(model: Any) -> str:
    """A short, unique folder name for a network, e.g. plain56, resnet56-B, resnet110-preact."""
    model = as_model_config(model)
    return family(model.family).run_name(model)


def network_kind(model: Any) -> str:
    """What kind of network a config describes: plain, residual, highway, dense, ... (its family says)."""
    model = as_model_config(model)
    return family(model.family).kind(model)


def build_model(cfg: Any, in_channels: int = 3, num_classes: int = 10) -> nn.Module:
    """Build and initialise the network a family's config describes."""
    cfg = as_model_config(cfg)
    validate_model(cfg)
    return FAMILIES[cfg.family].build(cfg, in_channels, num_classes)

