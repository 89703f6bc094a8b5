"""x4 super-resolution: the input is Pillow's bicubic downscale, PSNR/SSIM on BT.601 luma with a
cropped border agree with scikit-image, the bicubic floor of a real run is recomputed
independently, and every decoder builds as an SR network."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hydra.utils import instantiate
from PIL import Image
from skimage.color import rgb2ycbcr
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from decoderlab.blocks import decoder_variants
from decoderlab.tasks.skimage_images import SkimagePhotographsDataModule
from decoderlab.tasks.super_resolution import (
    BicubicDownscale,
    bicubic_resize,
    bt601_luma,
    luma_metrics,
)
from decoderlab.train import train


def pil_resize(images: torch.Tensor, size: tuple[int, int]) -> np.ndarray:
    """Pillow's bicubic resize (antialiased, a = -0.5) of each channel as a float image ('F'),
    not clipped: (N, C, *size) float64."""
    height, width = size
    return np.stack(
        [
            np.stack(
                [
                    np.asarray(
                        Image.fromarray(channel.numpy(), mode="F").resize(
                            (width, height), Image.Resampling.BICUBIC
                        ),
                        dtype=np.float64,
                    )
                    for channel in image
                ]
            )
            for image in images
        ]
    )


def photo_patches(count: int = 6) -> torch.Tensor:
    data = SkimagePhotographsDataModule(patch_size=32, test_size=count)
    data.setup()
    return data.parts["test"]


def test_the_x4_input_is_pillows_bicubic_downscale():
    patches = photo_patches()
    ours = bicubic_resize(patches, (8, 8)).double().numpy()
    assert np.abs(ours - pil_resize(patches, (8, 8))).max() < 1e-5
    small = BicubicDownscale(4)(patches)
    assert small.shape == (6, 3, 8, 8)
    assert torch.equal(small, bicubic_resize(patches, (8, 8)).clamp(0, 1))
    up = bicubic_resize(small, (32, 32)).double().numpy()
    assert np.abs(up - pil_resize(small, (32, 32))).max() < 1e-5


def test_a_size_that_is_not_a_multiple_of_the_factor_is_refused():
    with pytest.raises(ValueError, match="30x32 image is not a multiple of the factor 4"):
        BicubicDownscale(4)(torch.rand(1, 3, 30, 32))
    with pytest.raises(ValueError, match="factor=1 must be an integer >= 2"):
        BicubicDownscale(1)


def test_luma_is_bt601_as_scikit_image_computes_it():
    images = torch.rand(3, 3, 9, 7, dtype=torch.float64)
    expected = rgb2ycbcr(images.permute(0, 2, 3, 1).numpy())[..., 0] / 255.0
    assert np.allclose(bt601_luma(images)[:, 0].numpy(), expected, atol=1e-12)
    grey = torch.rand(2, 1, 5, 5)
    assert torch.equal(bt601_luma(grey), grey)


def test_psnr_and_ssim_on_cropped_luma_agree_with_scikit_image():
    target = photo_patches()
    preds = target + 0.05 * torch.randn(target.shape, generator=torch.Generator().manual_seed(0))
    preds = preds.clamp(0, 1)
    metrics = luma_metrics(border=4)
    for metric in metrics.values():
        metric.update(preds[:4], target[:4])
        metric.update(preds[4:], target[4:])
    luma = [
        rgb2ycbcr(x.permute(0, 2, 3, 1).double().numpy())[..., 0] / 255.0 for x in (preds, target)
    ]
    crop = [y[:, 4:-4, 4:-4] for y in luma]
    psnr = np.mean(
        [peak_signal_noise_ratio(t, p, data_range=1.0) for p, t in zip(*crop, strict=True)]
    )
    ssim = np.mean(
        [
            structural_similarity(
                t, p, data_range=1.0, gaussian_weights=True, sigma=1.5, use_sample_covariance=False
            )
            for p, t in zip(*crop, strict=True)
        ]
    )
    assert float(metrics["psnr_y"].compute()) == pytest.approx(psnr, abs=1e-3)
    assert float(metrics["ssim_y"].compute()) == pytest.approx(ssim, abs=1e-5)


@pytest.mark.parametrize("decoder", list(decoder_variants()))
def test_every_decoder_is_an_sr_network(make_cfg, decoder):
    model = instantiate(
        make_cfg("task=sr_x4", f"model/decoder={decoder}").model, in_shape=(3, 32, 32)
    )
    assert model.latent_shape == (3, 8, 8)
    assert sum(p.numel() for p in model.encoder.parameters()) == 0
    assert model(torch.rand(2, 3, 32, 32)).shape == (2, 3, 32, 32)


@pytest.mark.slow
def test_the_bicubic_floor_of_a_run_is_recomputed_independently(make_cfg, one_torch_thread):
    budget = ("data.train_size=32", "data.val_size=16", "data.test_size=12")
    cfg = make_cfg("task=sr_x4", "trainer.max_epochs=1", "callbacks.progress_bar=null", *budget)
    record = train(cfg)
    assert record["status"] == "ok"
    target = photo_patches(12)
    small = pil_resize(target, (8, 8)).clip(0, 1).astype(np.float32)
    up = pil_resize(torch.from_numpy(small), (32, 32)).clip(0, 1)
    luma = [
        rgb2ycbcr(x.transpose(0, 2, 3, 1))[..., 0][:, 4:-4, 4:-4] / 255.0
        for x in (up, target.double().numpy())
    ]
    psnr = np.mean(
        [peak_signal_noise_ratio(t, p, data_range=1.0) for p, t in zip(*luma, strict=True)]
    )
    assert record["test"]["test/bicubic_psnr_y"] == pytest.approx(psnr, abs=2e-3)
    assert record["test"]["test/bicubic_psnr_y"] > record["test"]["test/psnr_y"]  # untrained
