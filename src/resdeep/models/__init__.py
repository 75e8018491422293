"""Networks: one file per family (CIFAR 6n+2 nets, ImageNet nets of Table 1, ...), all in one registry."""
from resdeep.models.registry import FAMILIES, build_model, family, model_config, model_id, network_kind, validate_model
from resdeep.models import families  # noqa: E402,F401 - every family file registers itself (after the registry exists)

__all__ = ["FAMILIES", "build_model", "family", "model_config", "model_id", "network_kind", "validate_model"]
