"""The ImageNet networks of Table 1: 18 and 34 layers of basic blocks, 50/101/152 of bottlenecks, plain or residual."""
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from resdeep.errors import UserError, choose
from resdeep.models.blocks import BasicBlock, Bottleneck
from resdeep.models.parts import Parts
from resdeep.models.registry import register_family
from resdeep.models.stages import make_stages, run_blocks
from resdeep.models.weight_init import init_weights

SHORTCUTS = ("A", "B", "C", "none")  # He et al.'s options for these nets; the CIFAR family's remedies are not offered
BOTTLENECK_STRIDES = ("paper", "torchvision")
WIDTHS = (64, 128, 256, 512)  # conv2_x .. conv5_x base widths; a bottleneck writes 4 times as many maps

LAYOUTS = {  # blocks per stage
    18: (BasicBlock, (2, 2, 2, 2)),
    34: (BasicBlock, (3, 4, 6, 3)),
    50: (Bottleneck, (3, 4, 6, 3)),
    101: (Bottleneck, (3, 4, 23, 3)),
    152: (Bottleneck, (3, 8, 36, 3)),
}


@dataclass
class ImageNetConfig:
    """A network of Table 1: its depth, shortcut option and where a bottleneck block subsamples."""

    family: str = "imagenet"
    depth: int = 34
    shortcut: str = "B"
    bottleneck_stride: str = "paper"
    zero_init_residual: bool = False
    checkpoint_activations: bool = False


def block_maker(cfg: ImageNetConfig):
    """(in_channels, base width, stride, index) -> a basic block, or a bottleneck writing 4x its base width."""
    block, _ = LAYOUTS[cfg.depth]
    parts = Parts(shortcut=cfg.shortcut)
    if block is BasicBlock:
        return lambda in_channels, width, stride, index: BasicBlock(in_channels, width, stride, parts)
    stride_on_3x3 = cfg.bottleneck_stride == "torchvision"
    return lambda in_channels, width, stride, index: Bottleneck(in_channels, width, 4 * width, stride, parts, stride_on_3x3=stride_on_3x3)


class ImageNetResNet(nn.Module):
    """conv1 7x7/2 -> max pool 3x3/2 -> conv2_x..conv5_x (64..512 base widths) -> average pool -> fc."""

    def __init__(self, cfg: ImageNetConfig, in_channels: int = 3, num_classes: int = 1000):
        super().__init__()
        self.checkpoint_activations = cfg.checkpoint_activations
        self.conv1 = nn.Conv2d(in_channels, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.blocks = make_stages(64, WIDTHS, LAYOUTS[cfg.depth][1], (1, 2, 2, 2), block_maker(cfg))
        self.fc = nn.Linear(self.blocks[-1].out_channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.max_pool2d(x, 3, stride=2, padding=1)
        x = run_blocks(self.blocks, x, self.checkpoint_activations)
        x = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
        return self.fc(x)


def validate_imagenet(cfg: ImageNetConfig) -> None:
    """A depth of Table 1, one of the paper's shortcut options, a known bottleneck stride."""
    if cfg.depth not in LAYOUTS:
        raise UserError(f"model.depth={cfg.depth} is not an ImageNet depth of Table 1; choose one of: {', '.join(map(str, LAYOUTS))}")
    choose(cfg.shortcut, SHORTCUTS, "model.shortcut")
    choose(cfg.bottleneck_stride, BOTTLENECK_STRIDES, "model.bottleneck_stride")


def imagenet_run_name(cfg: ImageNetConfig) -> str:
    """plain34, resnet34, resnet34-A, resnet50-tv."""
    parts = [f"{'plain' if cfg.shortcut == 'none' else 'resnet'}{cfg.depth}"]
    if cfg.shortcut not in ("none", "B"):
        parts.append(cfg.shortcut)
    if cfg.bottleneck_stride == "torchvision":
        parts.append("tv")
    if cfg.zero_init_residual:
        parts.append("zi")
    return "-".join(parts)


def build_imagenet(cfg: ImageNetConfig, in_channels: int, num_classes: int) -> nn.Module:
    """The net, He-initialised (fan-out, BN weight 1 and bias 0)."""
    model = ImageNetResNet(cfg, in_channels, num_classes)
    init_weights(model, cfg.zero_init_residual)
    return model


register_family("imagenet", ImageNetConfig, build_imagenet, validate_imagenet, imagenet_run_name,
                kind=lambda cfg: "plain" if cfg.shortcut == "none" else "residual")
