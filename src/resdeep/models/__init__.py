"""Networks: one file per family (resnet_cifar.py, resnet_imagenet.py, ...), built from shared blocks, parts and stages, in one registry."""
from resdeep.models.registry import FAMILIES, build_model, family, model_config, model_id, network_kind, validate_model
from resdeep.models import families  # noqa: E402,F401 - every family file registers itself (after the registry exists)

__all__ = ["FAMILIES", "build_model", "family", "model_config", "model_id", "network_kind", "validate_model"]
