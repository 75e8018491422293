"""The ImageNet networks of Table 1: 18 and 34 layers of basic blocks, 50/101/152 of bottlenecks."""
import torch
import torch.nn.functional as F
from torch import nn

from resdeep.models.blocks import BasicBlock, Bottleneck
from resdeep.models.stack import run_blocks

LAYOUTS = {
    18: (BasicBlock, (2, 2, 2, 2)),
    34: (BasicBlock, (3, 4, 6, 3)),
    50: (Bottleneck, (3, 4, 6, 3)),
    101: (Bottleneck, (3, 4, 23, 3)),
    152: (Bottleneck, (3, 8, 36, 3)),
}


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
