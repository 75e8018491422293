"""The ImageNet networks of Table 1: 18 and 34 layers of basic blocks, 50/101/152 of bottlenecks."""
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from resdeep.errors import UserError, choose
from resdeep.models.blocks import BasicBlock, Bottleneck
from resdeep.models.cifar import SHORTCUTS
from resdeep.models.init import init_weights
from resdeep.models.registry import register_family
from resdeep.models.stack import run_blocks

BOTTLENECK_STRIDES = ("paper", "torchvision")

LAYOUTS = {
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


class ImageNetNet(nn.Module):
    """conv1 7x7/2 -> max pool 3x3/2 -> conv2_x..conv5_x (64..512 base widths) -> average pool -> fc."""

    def __init__(
        self,
        depth: int,
        shortcut: str = "B",
        bottleneck_stride: str = "paper",
        in_channels: int = 3,
        num_classes: int = 1000,
        checkpoint_activations: bool = False,
    ):
        super().__init__()
        block_class, stage_sizes = LAYOUTS[depth]
        self.checkpoint_activations = checkpoint_activations
        self.conv1 = nn.Conv2d(in_channels, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        blocks, channels = [], 64
        for stage, (base_width, size) in enumerate(zip((64, 128, 256, 512), stage_sizes)):
            for index in range(size):
                stride = 2 if stage > 0 and index == 0 else 1
                blocks.append(
                    block_class(channels, base_width, stride, shortcut, stride_on_3x3=bottleneck_stride == "torchvision")
                )
                channels = base_width * block_class.expansion
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.max_pool2d(x, 3, stride=2, padding=1)
        x = run_blocks(self.blocks, x, self.checkpoint_activations)
        x = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
        return self.fc(x)


def validate_imagenet(cfg: ImageNetConfig) -> None:
    """A depth of Table 1, a known shortcut and bottleneck stride."""
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
    model = ImageNetNet(cfg.depth, cfg.shortcut, cfg.bottleneck_stride, in_channels, num_classes, cfg.checkpoint_activations)
    init_weights(model, cfg.zero_init_residual)
    return model


register_family("imagenet", ImageNetConfig, build_imagenet, validate_imagenet, imagenet_run_name,
                kind=lambda cfg: "plain" if cfg.shortcut == "none" else "residual")
