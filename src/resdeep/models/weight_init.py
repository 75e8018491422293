"""He (Kaiming) initialisation, the init rule of every family but Fixup's and Looks-Linear's (which start from it).

fan_out is the authors' Torch release (fb.resnet.torch, which ResNeXt and DenseNet also use); fan_in is the
Wide ResNet code's and the highway net's ("xavier" in that Caffe fork draws N(0, 2/fan_in)). BatchNorm starts at
weight 1, or, where the authors' code keeps Torch's own default, at weight ~ U[0, 1); its bias at 0.
"""
from torch import nn

BN_WEIGHTS = ("ones", "uniform")


def init_weights(model: nn.Module, zero_init_residual: bool = False, mode: str = "fan_out", bn_weight: str = "ones") -> None:
    """He normal for every conv (zero conv biases), BN weight 1 (or U[0, 1)) and bias 0; optional zero last BN per block."""
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode=mode, nonlinearity="relu")
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.BatchNorm2d):
            if bn_weight == "uniform":
                nn.init.uniform_(module.weight, 0, 1)  # torch.rand / Torch7's weight:uniform()
            else:
                nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
    if zero_init_residual:
        # Not in the paper (Goyal et al. 2017): each residual branch starts as zero, the block as identity.
        for module in model.modules():
            if getattr(module, "adds_shortcut", False):
                nn.init.zeros_(module.last_bn().weight)
