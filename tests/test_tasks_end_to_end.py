"""Each task raced end to end through ``decoderlab-train -m experiment=race_decoders task=...``
on a tiny budget (2 decoders, 2 seeds, a few batches), ending in a report."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.tiny_sweep import run_sweep

DECODERS = ("resize_conv", "transposed_conv_k2")
RACE = (
    "experiment=race_decoders",
    f"model/decoder={','.join(DECODERS)}",
    "hydra.sweeper.initial_seeds=2",
    "hydra.sweeper.seeds_per_round=1",
    "hydra.sweeper.max_seeds=2",
)


def photo_folder(folder: Path) -> Path:
    """Five small images: PNG and JPEG, colour and grey, of different sizes."""
    import skimage.data

    folder.mkdir(parents=True)
    Image.fromarray(skimage.data.astronaut()[:96, :128]).save(folder / "astronaut.png")
    Image.fromarray(skimage.data.coffee()[100:180, :100]).save(folder / "coffee.jpg")
    Image.fromarray(skimage.data.chelsea()[:64, :64]).save(folder / "chelsea.JPEG")
    Image.fromarray(skimage.data.camera()[:72, :80]).save(folder / "camera.png")
    Image.fromarray(skimage.data.rocket()[:64, :96]).save(folder / "rocket.png")
    return folder


def records(sweep_dir: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(sweep_dir.glob("*/metrics.json"))]


def raced(sweep_dir: Path, *overrides: str) -> list[dict]:
    result = run_sweep(sweep_dir, *RACE, *overrides, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (sweep_dir / "report.md").is_file()
    found = records(sweep_dir)
    assert len(found) == 4 and all(r["status"] == "ok" for r in found)
    assert {r["decoder"] for r in found} == {"resize_conv_nearest", "transposed_conv_k2"}
    return found


@pytest.mark.slow
def test_natural_image_reconstruction_races_to_a_report(tmp_path):
    found = raced(tmp_path / "sweep", "task=reconstruction")
    for record in found:
        assert record["data"] == {
            "train_images": 4,
            "val_images": 1,
            "test_images": 2,
            "train_patches_per_epoch": 100,
            "val_patches": 50,
            "test_patches": 50,
            "patch_size": 32,
        }
        assert np.isfinite(record["test"]["test/psnr"]) and "test/psnr_y" not in record["test"]
    report = (tmp_path / "sweep" / "report.md").read_text()
    assert "resize_conv_nearest" in report and "transposed_conv_k2" in report


@pytest.mark.slow
def test_super_resolution_on_an_image_folder_races_to_a_report(tmp_path):
    folder = photo_folder(tmp_path / "photos")
    found = raced(tmp_path / "sweep", "task=sr_x4", "data=image_folder", f"data.path={folder}")
    for record in found:
        test = record["test"]
        assert {"test/psnr_y", "test/ssim_y", "test/bicubic_psnr_y", "test/bicubic_ssim_y"} <= set(
            test
        )
        assert 15 < test["test/bicubic_psnr_y"] < 45 and 0 < test["test/bicubic_ssim_y"] < 1
        assert record["data"]["train_images"] == 3 and record["data"]["patch_size"] == 32
    # the floor is the same for every decoder and seed: same test patches, no learning
    assert len({r["test"]["test/bicubic_psnr_y"] for r in found}) == 1
