"""Data sets read from their real on-disk formats, and the paper's augmentation done on the device."""
import gzip
import json
import pickle
import struct

import numpy as np
import pytest
import torch
from PIL import Image

from resdeep.config import ImageNetDataConfig, SyntheticDataConfig
from resdeep.data import build_data
from resdeep.data.arrays import ImageArrays, split_indices
from resdeep.data.cifar10 import load_cifar10
from resdeep.data.device_loader import DeviceEvalSet, DeviceLoader, Normalizer, augment_batch
from resdeep.data.mnist import load_mnist
from resdeep.data.synthetic import load_synthetic
from resdeep.errors import UserError

CPU = torch.device("cpu")


def write_idx(path, array, magic, compress):
    header = struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in array.shape)
    payload = header + array.astype(np.uint8).tobytes()
    opener = gzip.open if compress else open
    with opener(path, "wb") as handle:
        handle.write(payload)


def write_mnist(root, train_count=50, test_count=20, compress=True):
    rng = np.random.default_rng(0)
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    suffix = ".gz" if compress else ""
    arrays = {}
    for split, count, prefix in (("train", train_count, "train"), ("test", test_count, "t10k")):
        images, labels = rng.integers(0, 256, (count, 28, 28)), rng.integers(0, 10, count)
        write_idx(raw / f"{prefix}-images-idx3-ubyte{suffix}", images, 2051, compress)
        write_idx(raw / f"{prefix}-labels-idx1-ubyte{suffix}", labels, 2049, compress)
        arrays[split] = (images, labels)
    return arrays


def write_cifar(folder, per_batch=10, test_count=10):
    rng = np.random.default_rng(1)
    folder.mkdir(parents=True)
    written = []
    for name, count in [(f"data_batch_{i}", per_batch) for i in range(1, 6)] + [("test_batch", test_count)]:
        data, labels = rng.integers(0, 256, (count, 3072), dtype=np.uint8), rng.integers(0, 10, count).tolist()
        with open(folder / name, "wb") as handle:
            pickle.dump({"data": data, "labels": labels, "batch_label": name, "filenames": [f"{i}.png" for i in range(count)]}, handle)
        written.append((data, labels))
    return written


@pytest.mark.parametrize("compress", [True, False])
def test_mnist_idx_files_round_trip(tmp_path, compress):
    arrays = write_mnist(tmp_path, compress=compress)
    train, test = load_mnist(str(tmp_path), download=False)
    assert train.images.shape == (50, 1, 28, 28) and test.images.shape == (20, 1, 28, 28)
    assert np.array_equal(train.images[:, 0].numpy(), arrays["train"][0])
    assert np.array_equal(test.labels.numpy(), arrays["test"][1])


def test_cifar_python_batches_round_trip(tmp_path):
    written = write_cifar(tmp_path / "cifar-10-batches-py")
    train, test = load_cifar10(str(tmp_path), download=False)
    assert train.images.shape == (50, 3, 32, 32) and len(test) == 10
    first_data, first_labels = written[0]
    assert np.array_equal(train.images[0].numpy().reshape(-1), first_data[0])  # channel-major rows
    assert train.labels[:10].tolist() == first_labels
    # The batches folder itself is accepted as data.root too.
    again, _ = load_cifar10(str(tmp_path / "cifar-10-batches-py"), download=False)
    assert torch.equal(again.images, train.images)


def test_cifar_md5_check_rejects_a_subset_with_a_clear_message(tmp_path):
    write_cifar(tmp_path / "cifar-10-batches-py")
    with pytest.raises(UserError, match="official CIFAR-10 md5.*data.verify=false"):
        load_cifar10(str(tmp_path), download=False, verify=True)


def test_missing_cifar_without_download_names_the_folder_and_the_fix(tmp_path):
    with pytest.raises(UserError) as error:
        load_cifar10(str(tmp_path / "nowhere"), download=False)
    message = str(error.value)
    assert "nowhere/cifar-10-batches-py" in message and "data_batch_1" in message and "data.root" in message
    assert "\n" not in message


def test_failed_download_leaves_nothing_behind(tmp_path, monkeypatch):
    root = tmp_path / "new" / "cifar"

    def offline(_root):  # what torchvision does offline: create the folder, start a file, fail
        root.mkdir(parents=True)
        (root / "cifar-10-python.tar.gz").write_bytes(b"partial")
        raise OSError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr("resdeep.data.cifar10._torchvision_download", offline)
    with pytest.raises(UserError, match="download failed.*name resolution.*data.root"):
        load_cifar10(str(root), download=True)
    assert not (tmp_path / "new").exists()


def test_real_cifar10_subset_has_plausible_labels_and_pixels(cifar_copy):
    train, test = load_cifar10(str(cifar_copy), download=False)
    assert len(train) == 5000 and len(test) == 1000
    counts = torch.bincount(train.labels, minlength=10)
    assert counts.min() > 350 and counts.max() < 650
    mean = train.images.float().mean().item()
    assert 100 < mean < 140  # CIFAR-10's mean pixel is about 121


def test_real_mnist_subset_has_plausible_labels_and_pixels(mnist_copy):
    train, test = load_mnist(str(mnist_copy), download=False)
    assert len(train) == 17000 and len(test) == 10000
    assert torch.bincount(test.labels, minlength=10).min() > 850
    assert 25 < train.images.float().mean().item() < 40  # MNIST's mean pixel is about 33


def test_synthetic_set_is_deterministic_and_cifar_shaped():
    train, test = load_synthetic(500, 100, seed=3)
    again, _ = load_synthetic(500, 100, seed=3)
    other, _ = load_synthetic(500, 100, seed=4)
    assert train.images.shape == (500, 3, 32, 32) and train.images.dtype == torch.uint8
    assert torch.equal(train.images, again.images) and not torch.equal(train.images, other.images)
    assert torch.bincount(train.labels, minlength=10).min() > 20
    assert not torch.equal(train.images[:100], test.images)


def test_validation_split_is_fixed_disjoint_and_seeded():
    train_index, val_index = split_indices(5000, 500, seed=0)
    assert len(train_index) == 4500 and len(val_index) == 500
    assert not set(train_index.tolist()) & set(val_index.tolist())
    assert torch.equal(val_index, split_indices(5000, 500, seed=0)[1])
    assert not torch.equal(val_index, split_indices(5000, 500, seed=1)[1])
    bundle = build_data(SyntheticDataConfig(train_size=1000, test_size=200, val_size=100), 32, 50, CPU, seed=0)
    assert bundle.train_size == 900 and len(bundle.eval_sets["val"]) == 100 and len(bundle.eval_sets["test"]) == 200


def find_crop(original: torch.Tensor, augmented: torch.Tensor, pad: int):
    """The (row, col, flipped) that turns original into augmented, or None."""
    padded = torch.nn.functional.pad(original, (pad, pad, pad, pad))
    size = original.shape[-1]
    for row in range(2 * pad + 1):
        for col in range(2 * pad + 1):
            window = padded[:, row : row + size, col : col + size]
            for flipped in (False, True):
                if torch.equal(window.flip(2) if flipped else window, augmented):
                    return row, col, flipped
    return None


def test_augmentation_crops_within_the_pad_and_flips_half_the_time():
    data = ImageArrays(torch.randint(0, 256, (64, 3, 32, 32), dtype=torch.uint8), torch.arange(64) % 10)
    normalizer = Normalizer(data.images, "none")
    loader = DeviceLoader(data, 64, normalizer, CPU, seed=0)
    offsets, flips = set(), []
    for _ in range(6):
        position = loader.position if loader.position + 64 <= 64 else 0
        images, labels = loader.next_batch()
        indices = loader.order[position : position + 64]
        for k in range(64):
            found = find_crop(normalizer(data.images[indices[k]]), images[k], 4)
            assert found is not None, "every training image is a shifted, maybe mirrored, window of the padded original"
            offsets.add(found[:2])
            flips.append(found[2])
            assert labels[k] == data.labels[indices[k]]
    assert all(0 <= r <= 8 and 0 <= c <= 8 for r, c in offsets) and len(offsets) > 40
    assert 0.4 < np.mean(flips) < 0.6


def test_crop_and_flip_by_hand():
    image = torch.arange(16, dtype=torch.uint8).view(1, 1, 4, 4)
    mean, std, first = torch.zeros(1, 4, 4), torch.ones(1), torch.tensor([0])

    def augment(offset, flip):
        return augment_batch(image, first, torch.tensor([offset]), torch.tensor([flip]), mean, std, pad=1)[0, 0] * 255

    shifted = augment([0, 2], False)
    assert shifted[0].tolist() == [0, 0, 0, 0]  # the top row comes from the zero padding
    assert torch.allclose(shifted[1], torch.tensor([1.0, 2, 3, 0]))  # shifted left, padding on the right
    assert torch.allclose(augment([1, 1], True), image[0, 0].flip(1).float())


def test_padding_is_zero_after_mean_subtraction():
    images = torch.full((2, 3, 8, 8), 200, dtype=torch.uint8)
    normalizer = Normalizer(images, "pixel_mean")
    out = augment_batch(images, torch.tensor([0, 1]), torch.tensor([[0, 0], [8, 8]]), torch.tensor([False, True]),
                        normalizer.mean, normalizer.std, pad=4)
    assert torch.count_nonzero(out) == 0  # every pixel equals the mean; the border is zero too


def test_test_view_is_the_untouched_original():
    data = ImageArrays(torch.randint(0, 256, (30, 3, 32, 32), dtype=torch.uint8), torch.zeros(30, dtype=torch.long))
    normalizer = Normalizer(data.images, "pixel_mean")
    batches = list(DeviceEvalSet(data, normalizer, CPU, batch_size=16))
    images = torch.cat([b[0] for b in batches])
    assert torch.allclose(images, data.images.float() / 255 - normalizer.mean)
    assert abs(images.mean().item()) < 1e-5


def test_loader_state_resumes_the_exact_batch_sequence():
    data = ImageArrays(torch.randint(0, 256, (100, 3, 32, 32), dtype=torch.uint8), torch.arange(100) % 10)
    normalizer = Normalizer(data.images, "pixel_mean")
    loader = DeviceLoader(data, 32, normalizer, CPU, seed=5)
    for _ in range(4):
        loader.next_batch()
    state = loader.state_dict()
    expected = [loader.next_batch() for _ in range(5)]  # crosses an epoch boundary
    fresh = DeviceLoader(data, 32, normalizer, CPU, seed=99)
    fresh.load_state_dict(state)
    for (x, y), (x2, y2) in zip(expected, (fresh.next_batch() for _ in range(5))):
        assert torch.equal(x, x2) and torch.equal(y, y2)


def test_ranks_split_the_global_batch():
    data = ImageArrays(torch.randint(0, 256, (64, 3, 32, 32), dtype=torch.uint8), torch.arange(64))
    normalizer = Normalizer(data.images, "pixel_mean")
    whole = DeviceLoader(data, 16, normalizer, CPU, seed=1).next_batch()
    halves = [DeviceLoader(data, 16, normalizer, CPU, seed=1, rank=r, world_size=2).next_batch() for r in (0, 1)]
    assert torch.equal(torch.cat([h[0] for h in halves]), whole[0])
    assert torch.equal(torch.cat([h[1] for h in halves]), whole[1])


def write_image_tree(root, classes=("cat", "dog"), per_class=6):
    rng = np.random.default_rng(2)
    for split in ("train", "val"):
        for name in classes:
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(per_class):
                size = (int(rng.integers(40, 80)), int(rng.integers(40, 80)))
                Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8)).save(folder / f"{i}.png")


def imagenet_config(root, **overrides):
    values = dict(name="imagenet", root=str(root), normalize="channel_std", crop_size=32, test_resize=36, scale_min=36, scale_max=48, workers=0)
    values.update(overrides)
    return ImageNetDataConfig(**values)


def test_image_folder_trains_and_tests_at_the_crop_size(tmp_path):
    write_image_tree(tmp_path)
    bundle = build_data(imagenet_config(tmp_path), 4, 5, CPU, seed=0)
    images, labels = bundle.train.next_batch()
    assert images.shape == (4, 3, 32, 32) and labels.max() <= 1 and bundle.shape.num_classes == 2
    test_images, _ = next(iter(bundle.eval_sets["test"]))
    assert test_images.shape == (5, 3, 32, 32)
    ten = build_data(imagenet_config(tmp_path, ten_crop=True), 4, 3, CPU, seed=0)
    assert next(iter(ten.eval_sets["test"]))[0].shape == (3, 10, 3, 32, 32)


def test_image_folder_skips_and_counts_a_corrupt_image(tmp_path):
    write_image_tree(tmp_path, per_class=4)
    (tmp_path / "train" / "cat" / "0.png").write_bytes(b"not a png")
    bundle = build_data(imagenet_config(tmp_path), 8, 4, CPU, seed=0)
    images, _ = bundle.train.next_batch()
    assert bundle.train.skipped == 1 and len(images) == 7
    (named,) = bundle.train.take_skipped()
    assert named.startswith(str(tmp_path / "train" / "cat" / "0.png")) and bundle.train.take_skipped() == []


def test_image_folder_problems_name_the_path(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        build_data(imagenet_config(tmp_path / "missing"), 4, 4, CPU, seed=0)
    write_image_tree(tmp_path)
    (tmp_path / "train" / "bird").mkdir()
    with pytest.raises(UserError, match="train/bird has no images"):
        build_data(imagenet_config(tmp_path), 4, 4, CPU, seed=0)


def short_train(out_dir, *overrides, model=("model=resnet20", "model.depth=8"), run=None):
    from conftest import in_process

    return (run or in_process)("train", *model, "recipe=smoke", "recipe.max_iters=6", "trainer.eval_every=6",
                   "trainer.progress=off", "trainer.device=cpu", f"out_dir={out_dir}", *overrides)


def test_train_runs_on_the_real_cifar10_and_mnist_subsets(tmp_path, cifar_copy, mnist_copy):
    for data, root in (("cifar10", cifar_copy), ("mnist", mnist_copy)):
        done = short_train(tmp_path, f"data={data}", f"data.root={root}")
        assert done.returncode == 0, done.stderr
        result = json.loads((tmp_path / "default" / data / "resnet8" / "seed0" / "result.json").read_text())
        assert result["status"] == "finished" and result["params"] == (75_290 if data == "cifar10" else 75_002)


def test_train_runs_on_an_image_folder(tmp_path):
    write_image_tree(tmp_path / "tree")
    small_images = ["data.crop_size=32", "data.test_resize=36", "data.scale_min=36", "data.scale_max=48", "data.workers=0"]
    done = short_train(tmp_path, "data=imagenet", f"data.root={tmp_path / 'tree'}", "recipe.batch_size=4", *small_images,
                       model=["model=resnet18"])
    assert done.returncode == 0, done.stderr
    result = json.loads((tmp_path / "default" / "imagenet" / "resnet18" / "seed0" / "result.json").read_text())
    assert result["status"] == "finished" and result["iterations"] == 6


def test_missing_data_on_the_command_line_is_one_line_and_no_traceback(tmp_path):
    from conftest import resdeep  # a real process: what the user's shell sees

    done = short_train(tmp_path, "data=cifar10", f"data.root={tmp_path / 'none'}", "data.download=false", run=resdeep)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert "cifar-10-batches-py" in done.stderr and "data.root" in done.stderr
