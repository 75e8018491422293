"""A trained net predicts correctly wherever it goes: load_run, the exported .pt, TorchScript and ONNX all carry the
preprocessing, and on raw test images they make the same predictions `resdeep eval` scores."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch

import resdeep
from conftest import in_process
from resdeep.data.mnist import load_mnist
from resdeep.data.preprocessing import Preprocessing, as_uint8_batch
from resdeep.errors import UserError


@pytest.fixture(scope="module")
def mnist_run(tmp_path_factory):
    """A residual MLP trained for 30 iterations on the MNIST subset (per-pixel mean subtracted, as the paper's CIFAR)."""
    import shutil

    from conftest import SHARED_DATA

    if not (SHARED_DATA / "mnist").is_dir():
        pytest.skip("../shared/data/mnist is not here")
    out = tmp_path_factory.mktemp("mnist")
    root = Path(shutil.copytree(SHARED_DATA / "mnist", out / "mnist"))
    done = in_process("train", "data=mnist", f"data.root={root}", "model=fc_residual", "model.depth=3", "recipe=smoke",
                      "recipe.batch_size=64", "recipe.max_iters=30", "trainer.eval_every=30", "trainer.log_every=10",
                      "trainer.device=cpu", "trainer.progress=off", f"out_dir={out}")
    assert done.returncode == 0, done.stderr
    return next(out.rglob("result.json")).parent, root


def raw_test_images(root):
    """The MNIST test set as an image file holds it: uint8 (N, 28, 28), and its labels."""
    _, test = load_mnist(str(root), download=False)
    return test.images[:, 0].numpy(), test.labels.numpy()


def error(predicted, labels) -> float:
    return 100.0 * float((np.asarray(predicted) != labels).sum()) / len(labels)


def test_every_export_predicts_on_raw_images_what_eval_scores(mnist_run, tmp_path):
    run, root = mnist_run
    evaluated = in_process("eval", run, "--out", tmp_path / "eval.json")
    assert evaluated.returncode == 0, evaluated.stderr
    scored = json.loads((tmp_path / "eval.json").read_text())["test_error"]
    images, labels = raw_test_images(root)
    assert len(labels) == 10_000

    from_folder = resdeep.load_run(run).predict(images).argmax(1).numpy()
    assert error(from_folder, labels) == scored
    # The network alone on raw pixels, the mistake the preprocessing prevents: another (worse) answer.
    raw = resdeep.load_run(run).model(torch.from_numpy(images).float()[:, None] / 255).argmax(1).numpy()
    assert error(raw, labels) != scored

    assert in_process("export", run, "--out", tmp_path / "net.pt").returncode == 0
    exported = resdeep.load_run(tmp_path / "net.pt")
    assert torch.load(tmp_path / "net.pt", weights_only=True)["preprocessing"]["mean"].shape == (1, 28, 28)
    assert (exported.predict(images).argmax(1).numpy() == from_folder).all()

    done = in_process("export", run, "--out", tmp_path / "net.ts", "--format", "torchscript")
    assert done.returncode == 0, done.stderr
    scripted = torch.jit.load(str(tmp_path / "net.ts"))  # no resdeep needed: uint8 (N, H, W, C) in, probabilities out
    probabilities = scripted(torch.from_numpy(images)[..., None])
    assert torch.allclose(probabilities.sum(1), torch.ones(len(labels)), atol=1e-5)
    assert (probabilities.argmax(1).numpy() == from_folder).all()

    onnxruntime = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    done = in_process("export", run, "--out", tmp_path / "net.onnx", "--format", "onnx")
    assert done.returncode == 0, done.stderr
    session = onnxruntime.InferenceSession(str(tmp_path / "net.onnx"))
    (onnx_probabilities,) = session.run(None, {"images": images[..., None]})
    assert error(onnx_probabilities.argmax(1), labels) == scored


def test_a_folder_of_pngs_gets_the_labels_the_arrays_get(mnist_run, tmp_path):
    from PIL import Image

    run, root = mnist_run
    images, _ = raw_test_images(root)
    for index in range(12):
        Image.fromarray(images[index]).save(tmp_path / f"{index:02d}.png")
    loaded = resdeep.load_run(run)
    pictures = [Image.open(path) for path in sorted(tmp_path.glob("*.png"))]
    assert (loaded.predict(pictures).argmax(1) == loaded.predict(images[:12]).argmax(1)).all()
    # Float images in torchvision's layout (C, H, W in [0, 1]) give the same numbers too.
    floats = torch.from_numpy(images[:12]).float()[:, None] / 255
    assert torch.equal(loaded.predict(floats), loaded.predict(images[:12]))
    assert torch.equal(loaded.transform(images[:12]), loaded.transform(floats))


def test_images_of_the_wrong_size_or_kind_are_one_line():
    preprocessing = Preprocessing(channels=3, size=32, mean=torch.zeros(3, 32, 32), std=torch.ones(1))
    with pytest.raises(UserError, match="the images are 28x28 pixels; this network takes 32x32"):
        preprocessing(np.zeros((2, 28, 28, 3), np.uint8))
    with pytest.raises(UserError, match=r"uint8 images must be \(N, H, W, 3\)"):
        preprocessing(np.zeros((2, 32, 32), np.uint8))
    with pytest.raises(UserError, match=r"values in \[0, 1\]"):
        preprocessing(torch.full((1, 3, 32, 32), 255.0))
    assert as_uint8_batch(np.zeros((32, 32, 3), np.uint8), 3).shape == (1, 3, 32, 32)
