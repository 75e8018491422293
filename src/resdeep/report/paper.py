"""The paper's own numbers, to print beside ours (He et al. 2016; see shared docs/PAPER.md)."""

# Table 6: CIFAR-10 test error (%) of the ResNets (110: best of 5 runs; mean 6.61 +/- 0.16).
CIFAR10_TEST_ERROR = {"resnet20": 8.75, "resnet32": 7.51, "resnet44": 7.17, "resnet56": 6.97, "resnet110": 6.43, "resnet1202": 7.93}
# Table 2: ImageNet top-1 error (%), 10-crop testing.
IMAGENET_TOP1_ERROR = {"plain18": 27.94, "plain34": 28.54, "resnet18": 27.88, "resnet34": 25.03}
# He et al. 2016b (pre-activation), CIFAR-10 test error (%).
CIFAR10_PREACT_TEST_ERROR = {"resnet110-preact": 6.37}
# The remedies for depth (issue 13; shared docs/FAMILIES.md), CIFAR-10 with augmentation, keyed by run name:
# the 19-layer highway net (best run; 7.72 +/- 0.16 over 5) and stochastic depth with p_L = 0.5.
TRAINABILITY_TEST_ERROR = {"highway19": 7.54, "resnet110-sd0.5": 5.25, "resnet1202-sd0.5": 4.91}

PAPER_NUMBERS = {
    "cifar10": {**CIFAR10_TEST_ERROR, **CIFAR10_PREACT_TEST_ERROR, **TRAINABILITY_TEST_ERROR},
    "imagenet": IMAGENET_TOP1_ERROR,
}


def paper_error(data: str, model: str):
    """The paper's error for this network on this data set, or None where the paper has none."""
    return PAPER_NUMBERS.get(data, {}).get(model)
