"""Input shape and class count of each data set, known without reading it."""
from typing import NamedTuple


class DataShape(NamedTuple):
    channels: int
    size: int
    num_classes: int


DATASET_SHAPES = {
    "mnist": DataShape(1, 28, 10),
    "cifar10": DataShape(3, 32, 10),
    "synthetic": DataShape(3, 32, 10),
    "imagenet": DataShape(3, 224, 1000),
}
