"""The user's own folder: PNG and JPEG of any size, grey and colour, split by image; every bad
input refused by name before a run writes anything."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import skimage.data
import torch
from PIL import Image

from decoderlab.tasks import check_data_config
from decoderlab.tasks.image_folder import (
    FolderImage,
    ImageFolderDataModule,
    ImageFolderError,
    centre_box,
    read_image,
)
from tests.cli_runs import run_in_process
from tests.test_tasks_end_to_end import photo_folder

TARGET = "decoderlab.tasks.image_folder.ImageFolderDataModule"


def data_module(path, **knobs) -> ImageFolderDataModule:
    return ImageFolderDataModule(path, patch_size=32, **knobs)


def test_png_and_jpeg_of_any_size_grey_and_colour(tmp_path, caplog):
    folder = photo_folder(tmp_path / "photos")
    (folder / "notes.txt").write_text("not an image: ignored")
    data = data_module(folder)
    assert data.channels == 3 and data.image_shape == (3, 32, 32)
    names = {split: {e.path.name for e in entries} for split, entries in data.splits.items()}
    assert sum(len(n) for n in names.values()) == 5
    assert not names["train"] & names["val"] and not names["val"] & names["test"]
    assert not names["train"] & names["test"]
    assert {len(names["val"]), len(names["test"])} == {1}
    with caplog.at_level(logging.WARNING, logger="decoderlab.tasks.image_folder"):
        data.setup()
    said = [r.getMessage() for r in caplog.records if "grey" in r.getMessage()]
    assert len(said) == 1 and "1 grey image(s) (camera.png) converted to RGB" in said[0]
    for images in data.images.values():
        assert all(im.dtype == torch.uint8 and im.shape[0] == 3 for im in images)
    # the same split for every run seed: split_seed, not the run's seed, shuffles
    assert data_module(folder, seed=7).splits == data.splits


def test_a_grey_folder_has_one_channel_and_the_pixels_of_the_file(tmp_path):
    folder = tmp_path / "grey"
    folder.mkdir()
    camera = skimage.data.camera()
    for i in range(3):
        Image.fromarray(camera[i * 64 : i * 64 + 40, :48]).save(folder / f"{i}.png")
    data = data_module(folder)
    data.setup()
    assert data.channels == 1
    (val,) = data.images["val"]
    index = int(data.splits["val"][0].path.stem)
    assert torch.equal(val[0], torch.from_numpy(camera[index * 64 : index * 64 + 40, :48]))


def test_split_subfolders_are_the_splits(tmp_path):
    for split, count in (("train", 2), ("val", 1), ("test", 1)):
        (tmp_path / split).mkdir()
        for i in range(count):
            Image.fromarray(skimage.data.astronaut()[:40, i * 40 : i * 40 + 40]).save(
                tmp_path / split / f"{i}.png"
            )
    data = data_module(tmp_path)
    assert {s: len(e) for s, e in data.splits.items()} == {"train": 2, "val": 1, "test": 1}
    assert data.splits["val"][0].path.parent.name == "val"


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda d: d / "missing", "does not exist: give a folder of PNG or JPEG images"),
        (lambda d: d, "holds no image: expected PNG or JPEG files"),
    ],
)
def test_a_missing_or_empty_folder_is_refused(tmp_path, make, words):
    (tmp_path / "readme.txt").write_text("no images here")
    with pytest.raises(ImageFolderError, match=words):
        data_module(make(tmp_path))


def test_a_corrupt_file_is_named(tmp_path):
    folder = photo_folder(tmp_path / "photos")
    good = (folder / "coffee.jpg").read_bytes()
    (folder / "truncated.jpg").write_bytes(good[: len(good) // 3])
    data = {"_target_": TARGET, "path": str(folder), "patch_size": 32}
    with pytest.raises(ImageFolderError, match=r"truncated\.jpg: cannot be decoded.*truncated"):
        check_data_config(data)
    (folder / "truncated.jpg").unlink()
    (folder / "text.png").write_text("a text file behind a PNG name")
    with pytest.raises(ImageFolderError, match=r"text\.png: not a readable image.*Allowed: PNG"):
        check_data_config(data)


def test_another_format_behind_a_png_name_is_refused(tmp_path):
    folder = photo_folder(tmp_path / "photos")
    Image.fromarray(skimage.data.coffee()[:64, :64]).save(folder / "gif.png", format="GIF")
    with pytest.raises(ImageFolderError, match=r"gif\.png: a GIF image; allowed: PNG or JPEG"):
        data_module(folder)


def test_an_image_smaller_than_the_patch_is_named(tmp_path):
    folder = photo_folder(tmp_path / "photos")
    Image.fromarray(skimage.data.coffee()[:20, :100]).save(folder / "strip.png")
    with pytest.raises(
        ImageFolderError, match=r"strip\.png: 100x20 pixels is smaller than the 32x32 patch"
    ):
        data_module(folder)


def test_fewer_than_three_images_cannot_be_split(tmp_path):
    Image.fromarray(skimage.data.coffee()[:64, :64]).save(tmp_path / "one.png")
    Image.fromarray(skimage.data.coffee()[64:128, :64]).save(tmp_path / "two.png")
    with pytest.raises(ImageFolderError, match=r"holds 2 image\(s\): at least 3 are needed"):
        data_module(tmp_path)


def test_centre_box_keeps_the_aspect_within_the_budget():
    assert centre_box(300, 200, 10**6) == (0, 0, 300, 200)
    left, top, right, bottom = centre_box(200, 100, 4096)
    assert (right - left) * (bottom - top) <= 4096
    assert (right - left, bottom - top) == (90, 45) and (left, top) == (55, 27)


def test_a_large_png_is_cut_to_its_centre(tmp_path):
    photo = skimage.data.astronaut()[:100, :200]
    Image.fromarray(photo).save(tmp_path / "wide.png")
    image = read_image(FolderImage(tmp_path / "wide.png", (200, 100), False), 3, 4096)
    assert torch.equal(image, torch.from_numpy(photo[27:72, 55:145]).permute(2, 0, 1))


def test_a_large_jpeg_is_decoded_at_a_reduced_scale(tmp_path, monkeypatch):
    photo = skimage.data.astronaut()  # 512 x 512
    Image.fromarray(photo).save(tmp_path / "big.jpg", quality=95)
    decoded = []
    real_load = Image.Image.load

    def spy(self):
        decoded.append(self.size)
        return real_load(self)

    monkeypatch.setattr(Image.Image, "load", spy)
    image = read_image(FolderImage(tmp_path / "big.jpg", (512, 512), False), 3, 64 * 64)
    assert image.shape == (3, 64, 64)
    assert decoded[0] == (64, 64)  # libjpeg decoded 1/8 of each side, never the whole
    eighth = photo.reshape(64, 8, 64, 8, 3).mean(axis=(1, 3))
    assert np.abs(image.permute(1, 2, 0).numpy() - eighth).mean() < 6  # the photo, reduced


def test_sixteen_bit_grey_is_scaled_to_eight_bits(tmp_path):
    values = np.array([[0, 257 * 100, 65535] * 11] * 33, dtype=np.uint16)
    Image.fromarray(values).save(tmp_path / "deep.png")
    with Image.open(tmp_path / "deep.png") as opened:
        mode = opened.mode
    image = read_image(FolderImage(tmp_path / "deep.png", (33, 33), True), 1, 10**6)
    assert mode.startswith("I") and image.dtype == torch.uint8
    assert image[0, 0, :3].tolist() == [0, 100, 255]


@pytest.mark.slow
def test_a_bad_folder_stops_the_run_before_anything_is_written(tmp_path):
    folder = photo_folder(tmp_path / "photos")
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    result = run_in_process(
        "task=reconstruction",
        "data=image_folder",
        f"data.path={folder}",
        f"hydra.run.dir={tmp_path}/run",
    )
    assert result.returncode == 1
    assert "broken.png" in result.stderr and "Allowed: PNG or JPEG" in result.stderr
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_a_folder_left_unset_stops_the_run_before_anything_is_written(tmp_path):
    """data=image_folder without data.path: one line naming the knob, no traceback, no run."""
    result = run_in_process(
        "task=reconstruction", "data=image_folder", f"hydra.run.dir={tmp_path}/run"
    )
    assert result.returncode == 1
    assert "data.path is not set" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert not (tmp_path / "run").exists()


def test_cutting_a_large_image_is_said_once(tmp_path, caplog):
    folder = photo_folder(tmp_path / "photos")
    data = data_module(folder, max_pixels=9000)  # only astronaut.png (128x96) is larger
    with caplog.at_level(logging.WARNING, logger="decoderlab.tasks.image_folder"):
        data.setup()
    said = [r.getMessage() for r in caplog.records if "max_pixels" in r.getMessage()]
    assert said == [
        "1 image(s) of more than max_pixels=9000 pixels cut to their centre (a JPEG decoded at "
        "a reduced scale first): astronaut.png"
    ]
    astronaut = next(
        im
        for split, entries in data.splits.items()
        for e, im in zip(entries, data.images[split], strict=True)
        if e.path.name == "astronaut.png"
    )
    assert astronaut.shape[1] * astronaut.shape[2] <= 9000
