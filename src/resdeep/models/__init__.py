"""Networks: one file per family (CIFAR 6n+2 nets, ImageNet nets of Table 1, ...), all in one registry."""
from resdeep.models.registry import FAMILIES, build_model, family, model_config, model_id, validate_model

__all__ = ["FAMILIES", "build_model", "family", "model_config", "model_id", "validate_model"]
