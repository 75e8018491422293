"""Every network family, imported once so that each registers itself (add a new family's file here)."""
from resdeep.models import resnet_cifar, resnet_imagenet  # noqa: F401  (cifar, imagenet: He et al.'s nets)
from resdeep.models import fully_connected  # noqa: F401  (fc: the highway paper's MNIST nets)
from resdeep.models import mnist_resnet  # noqa: F401  (the teaching ResNet for MNIST)
from resdeep.models import highway19  # noqa: F401  (highway: the 19-layer CIFAR-10 highway net)
from resdeep.models import densenet, resnext, wide_resnet  # noqa: F401  (the successors: DenseNet, ResNeXt, Wide ResNets)
from resdeep.models import custom  # noqa: F401  (your own network: model._target_)
