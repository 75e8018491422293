"""The paper's initialisation: He (Kaiming) normal for convolutions, BN weight 1 and bias 0."""
from torch import nn


def init_weights(model: nn.Module, zero_init_residual: bool = False) -> None:
    """He init (fan_out, as in the authors' Torch release) for convs; optional zero last BN per block."""
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
    if zero_init_residual:
        # Not in the paper (Goyal et al. 2017): each residual branch starts as zero, the block as identity.
        for module in model.modules():
            if hasattr(module, "last_bn") and getattr(module, "shortcut", None) is not None:
                nn.init.zeros_(module.last_bn().weight)
