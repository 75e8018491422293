"""Networks: CIFAR-style 6n+2 nets and the ImageNet nets of Table 1, plain or residual."""
from resdeep.models.registry import MODEL_BUILDERS, build_model

__all__ = ["MODEL_BUILDERS", "build_model"]
