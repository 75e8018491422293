"""The CIFAR-10 networks of section 4.2: 6n+2 layers, widths 16/32/64, plain or residual."""
import torch
import torch.nn.functional as F
from torch import nn

from resdeep.models.blocks import BasicBlock, PreActBlock, conv3x3
from resdeep.models.stack import run_blocks


class CifarNet(nn.Module):
    """conv3x3 -> 3 stages of n blocks (maps 32, 16, 8) -> global average pool -> fc."""

    def __init__(
        self,
        depth: int,
        shortcut: str = "A",
        block: str = "basic",
        width: int = 16,
        in_channels: int = 3,
        num_classes: int = 10,
        checkpoint_activations: bool = False,
    ):
        super().__init__()
        assert (depth - 2) % 6 == 0 and depth >= 8, "CIFAR nets have 6n+2 layers"
        blocks_per_stage = (depth - 2) // 6
        self.preact = block == "preact"
        block_class = PreActBlock if self.preact else BasicBlock
        self.checkpoint_activations = checkpoint_activations
        self.conv1 = conv3x3(in_channels, width)
        self.bn1 = None if self.preact else nn.BatchNorm2d(width)
        blocks, channels = [], width
        for stage, stage_width in enumerate((width, 2 * width, 4 * width)):
            for index in range(blocks_per_stage):
                stride = 2 if stage > 0 and index == 0 else 1
                blocks.append(block_class(channels, stage_width, stride, shortcut))
                channels = stage_width
        self.blocks = nn.Sequential(*blocks)
        self.final_bn = nn.BatchNorm2d(channels) if self.preact else None
        self.fc = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(x)
        if self.bn1 is not None:
            x = F.relu(self.bn1(x))
        x = run_blocks(self.blocks, x, self.checkpoint_activations)
        if self.final_bn is not None:
            x = F.relu(self.final_bn(x))
        x = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
        return self.fc(x)
