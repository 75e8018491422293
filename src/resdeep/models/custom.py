"""Your own network, without forking resdeep: a model config whose `_target_` names a callable.

    # my_conf/model/tiny.yaml            resdeep train --config-dir my_conf model=tiny model.depth=4
    _target_: mynets.TinyNet             # importable: its folder on PYTHONPATH
    depth: 6                             # optional; the report's depth axis, passed on like every option
    width: 8

The callable is called as `TinyNet(in_channels=..., num_classes=..., depth=6, width=8)` (hydra.utils.instantiate)
and returns an nn.Module that maps images to class scores; it initialises its own weights.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Dict, Optional

from hydra.utils import get_object, instantiate
from torch import nn

from resdeep.errors import UserError
from resdeep.models.registry import register_family


@dataclass
class CustomConfig:
    """A user's network: the callable's dotted path, its depth (if it has one) and its other options."""

    family: str = "custom"
    _target_: str = ""
    depth: Optional[int] = None
    options: Dict[str, Any] = field(default_factory=dict)


def custom_config(plain: dict) -> CustomConfig:
    """From a config node ({_target_, depth, width, ...}) or a saved run.json ({family, _target_, depth, options})."""
    plain = {k: v for k, v in plain.items() if k != "family"}
    if "options" in plain:
        return CustomConfig(**plain)
    return CustomConfig(_target_=plain.pop("_target_"), depth=plain.pop("depth", None), options=plain)


def _locate(target: str):
    try:
        return get_object(target)
    except Exception as error:  # noqa: BLE001 - ImportError, AttributeError, Hydra's wrappers: all one message
        cause = str(error).splitlines()[0]
        raise UserError(f"model._target_={target} cannot be imported ({cause}); put its module's folder on PYTHONPATH") from None


def validate(cfg: CustomConfig) -> None:
    if not cfg._target_:
        raise UserError("model._target_ is empty; name your network's class or function, e.g. model._target_=mynets.TinyNet")
    if not callable(_locate(cfg._target_)):
        raise UserError(f"model._target_={cfg._target_} is not a class or function")
    if cfg.depth is not None and cfg.depth < 1:
        raise UserError(f"model.depth={cfg.depth} must be a positive number of layers")


def build(cfg: CustomConfig, in_channels: int, num_classes: int) -> nn.Module:
    depth = {} if cfg.depth is None else {"depth": cfg.depth}
    model = instantiate({"_target_": cfg._target_, **cfg.options, **depth}, in_channels=in_channels, num_classes=num_classes)
    if not isinstance(model, nn.Module):
        raise UserError(f"model._target_={cfg._target_} returned a {type(model).__name__}, not a torch.nn.Module")
    return model


def run_name(cfg: CustomConfig) -> str:
    """The callable's name, its depth, then its other options: tinynet6-width8."""
    base = cfg._target_.rsplit(".", 1)[-1].lower() + ("" if cfg.depth is None else str(cfg.depth))
    options = [f"{key}{value}" for key, value in sorted(cfg.options.items())]
    return re.sub(r"[^A-Za-z0-9_.=-]+", "_", "-".join([base, *options]))


register_family("custom", CustomConfig, build, validate, run_name, kind=lambda cfg: "custom", from_dict=custom_config)
