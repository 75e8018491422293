"""The papers' own numbers, to print beside ours: He et al. 2016 (arXiv:1512.03385, Tables 2 and 6) and the papers
of the remedies and successors (cited in README.md)."""

# Table 6: CIFAR-10 test error (%) of the ResNets (110: best of 5 runs; mean 6.61 +/- 0.16).
CIFAR10_TEST_ERROR = {"resnet20": 8.75, "resnet32": 7.51, "resnet44": 7.17, "resnet56": 6.97, "resnet110": 6.43, "resnet1202": 7.93}
# Table 2: ImageNet top-1 error (%), 10-crop testing.
IMAGENET_TOP1_ERROR = {"plain18": 27.94, "plain34": 28.54, "resnet18": 27.88, "resnet34": 25.03}
# He et al. 2016b (pre-activation), CIFAR-10 test error (%).
CIFAR10_PREACT_TEST_ERROR = {"resnet110-preact": 6.37}
# The remedies for depth (Srivastava et al. 2015, Huang et al. 2016), CIFAR-10 with augmentation, keyed by run name:
# the 19-layer highway net (best run; 7.72 +/- 0.16 over 5) and stochastic depth with p_L = 0.5.
TRAINABILITY_TEST_ERROR = {"highway19": 7.54, "resnet110-sd0.5": 5.25, "resnet1202-sd0.5": 4.91}
# The successors, CIFAR-10 with augmentation (their papers, cited in README.md), keyed by run name (model_id).
# Wide ResNets (median of 5 runs; the presets keep the paper's dropout 0.3, "-drop0" is without it).
WRN_TEST_ERROR = {"wrn16_4": 5.24, "wrn16_4-drop0": 5.02, "wrn16_8-drop0": 4.27, "wrn28_10": 3.89, "wrn28_10-drop0": 4.00, "wrn40_4-drop0": 4.53}
# ResNeXt-29 (average of 10 runs).
RESNEXT_TEST_ERROR = {"resnext29_8x64d": 3.65, "resnext29_16x64d": 3.58}
# DenseNet and DenseNet-BC (C10+).
DENSENET_TEST_ERROR = {"densenet40_12": 5.24, "densenet100_12": 4.10, "densenet_bc100_12": 4.51, "densenet_bc250_24": 3.62, "densenet_bc190_40": 3.46}
# Squeeze-and-Excitation (Hu et al. 2018), on pre-activation baselines, and its ResNet-164 baseline.
SE_TEST_ERROR = {
    "resnet110-preact-se": 5.21,
    "resnet164-B-preact_bottleneck": 5.46,
    "resnet164-B-preact_bottleneck-se": 4.39,
    "wrn16_8-drop0-se": 3.88,
}

PAPER_NUMBERS = {
    "cifar10": {
        **CIFAR10_TEST_ERROR, **CIFAR10_PREACT_TEST_ERROR, **TRAINABILITY_TEST_ERROR,
        **WRN_TEST_ERROR, **RESNEXT_TEST_ERROR, **DENSENET_TEST_ERROR, **SE_TEST_ERROR,
    },
    "imagenet": IMAGENET_TOP1_ERROR,
}


def paper_error(data: str, model: str):
    """The paper's error for this network on this data set, or None where the paper has none."""
    return PAPER_NUMBERS.get(data, {}).get(model)
