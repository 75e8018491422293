"""resdeep.data.cifar10_mosaic: WebP mosaics of 32x32 images back to the standard python-batches folder.

Each test makes its own tiny mosaics (10x10 images a batch, 320x320 pixels); the full set's are 100x100."""
import pickle

import numpy as np
import pytest
from PIL import Image

from resdeep.data.cifar10 import load_cifar10
from resdeep.data.cifar10_mosaic import BATCHES, FOLDER, NAMES, main

SIDE = 10  # images per mosaic row and column


def write_mosaics(folder, side=SIDE, seed=0):
    """Six mosaics and their labels; returns {batch: (images N x 32 x 32 x 3, labels)} as generated."""
    generator = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    made = {}
    for name in BATCHES:
        images = generator.integers(0, 256, size=(side * side, 32, 32, 3), dtype=np.uint8)
        labels = generator.integers(0, 10, size=side * side, dtype=np.uint8)
        mosaic = images.reshape(side, side, 32, 32, 3).transpose(0, 2, 1, 3, 4).reshape(side * 32, side * 32, 3)  # row-major grid
        Image.fromarray(mosaic).save(folder / f"{name}.webp", "WEBP", lossless=True)
        labels.tofile(folder / f"{name}.labels")
        made[name] = (images, labels)
    return made


def expected_batch(name, images, labels):
    """The standard format, built independently of the module: CHW rows, protocol 4, the reference unpack.py's keys."""
    rows = np.ascontiguousarray(images.transpose(0, 3, 1, 2)).reshape(len(images), 3072)
    return pickle.dumps({"batch_label": name, "labels": labels.tolist(), "data": rows, "filenames": [""] * len(labels)}, protocol=4)


def unpack(src, dest, capsys):
    code = main([str(src), str(dest)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_a_10x10_mosaic_unpacks_byte_for_byte_to_the_standard_format_and_loads(tmp_path, capsys):
    made = write_mosaics(tmp_path / "mosaics")
    code, out, err = unpack(tmp_path / "mosaics", tmp_path / "data", capsys)
    assert code == 0, err
    folder = tmp_path / "data" / FOLDER
    assert out.strip() == f"unpacked 6 batches from {tmp_path / 'mosaics'} to {folder}"
    for name, (images, labels) in made.items():
        assert (folder / name).read_bytes() == expected_batch(name, images, labels), name
    meta = pickle.loads((folder / "batches.meta").read_bytes())
    assert meta == {"num_cases_per_batch": SIDE * SIDE, "label_names": NAMES, "num_vis": 3072}
    train, test = load_cifar10(str(tmp_path / "data"), download=False)
    assert len(train) == 5 * SIDE * SIDE and len(test) == SIDE * SIDE
    first_image, first_label = made["data_batch_1"][0][0], made["data_batch_1"][1][0]
    assert np.array_equal(train.images[0].permute(1, 2, 0).numpy(), first_image) and int(train.labels[0]) == first_label
    assert np.array_equal(test.images[-1].permute(1, 2, 0).numpy(), made["test_batch"][0][-1])


def test_unpacking_again_replaces_the_folder(tmp_path, capsys):
    write_mosaics(tmp_path / "mosaics", seed=1)
    assert unpack(tmp_path / "mosaics", tmp_path / "data", capsys)[0] == 0
    made = write_mosaics(tmp_path / "mosaics", seed=2)
    assert unpack(tmp_path / "mosaics", tmp_path / "data", capsys)[0] == 0
    images, labels = made["test_batch"]
    assert (tmp_path / "data" / FOLDER / "test_batch").read_bytes() == expected_batch("test_batch", images, labels)
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == [FOLDER], "nothing half-built is left beside it"


def break_one_part(folder, how):
    if how == "missing labels":
        (folder / "test_batch.labels").unlink()
        return "test_batch.labels is missing"
    if how == "missing mosaic":
        (folder / "data_batch_3.webp").unlink()
        return "data_batch_3.webp is missing"
    if how == "not a square number of labels":
        np.zeros(99, dtype=np.uint8).tofile(folder / "data_batch_2.labels")
        return "data_batch_2.labels holds 99 labels; a mosaic needs a square number of them"
    if how == "a label above 9":
        labels = np.zeros(SIDE * SIDE, dtype=np.uint8)
        labels[5] = 10
        labels.tofile(folder / "data_batch_4.labels")
        return "data_batch_4.labels has label 10; CIFAR-10 labels are 0..9"
    if how == "wrong image size":
        Image.new("RGB", (330, 320)).save(folder / "data_batch_5.webp", "WEBP", lossless=True)
        return "data_batch_5.webp is a 330x320 RGB image; its 100 labels need a 10x10 RGB mosaic of 32x32 images, 320x320 pixels"
    if how == "not an image":
        (folder / "data_batch_1.webp").write_bytes(b"not a webp file")
        return "data_batch_1.webp is not a readable image"
    raise AssertionError(how)


@pytest.mark.parametrize("how", ["missing labels", "missing mosaic", "not a square number of labels", "a label above 9",
                                 "wrong image size", "not an image"])
def test_a_missing_or_malformed_part_is_one_line_naming_it_and_nothing_is_written(tmp_path, capsys, how):
    write_mosaics(tmp_path / "mosaics")
    expected = break_one_part(tmp_path / "mosaics", how)
    code, out, err = unpack(tmp_path / "mosaics", tmp_path / "data", capsys)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and err.startswith("resdeep: error: ") and expected in err, err
    assert str(tmp_path / "mosaics") in err, "the line names the file with its folder"
    assert not (tmp_path / "data").exists()


def test_a_truncated_mosaic_is_one_line_and_an_earlier_copy_stays(tmp_path, capsys):
    write_mosaics(tmp_path / "mosaics")
    assert unpack(tmp_path / "mosaics", tmp_path / "data", capsys)[0] == 0
    before = (tmp_path / "data" / FOLDER / "test_batch").read_bytes()
    whole = (tmp_path / "mosaics" / "test_batch.webp").read_bytes()
    (tmp_path / "mosaics" / "test_batch.webp").write_bytes(whole[: len(whole) // 2])  # the header still reads
    code, _, err = unpack(tmp_path / "mosaics", tmp_path / "data", capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "test_batch.webp" in err, err
    assert (tmp_path / "data" / FOLDER / "test_batch").read_bytes() == before
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == [FOLDER]


def test_usage(capsys):
    assert main([]) == 2 and "usage: python -m resdeep.data.cifar10_mosaic SRC DEST" in capsys.readouterr().err
    assert main(["--help"]) == 0 and "100x100 mosaic" in capsys.readouterr().out
