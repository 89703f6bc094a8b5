"""SSIM is Wang et al.'s (checked against scikit-image), PSNR comes from the pooled MSE."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from skimage.metrics import structural_similarity as skimage_ssim

from decoderlab.metrics import StructuralSimilarity, structural_similarity
from decoderlab.model import image_metrics
from decoderlab.tasks.mnist import prepare_mnist
from tests.conftest import SHIPPED_DATA


@pytest.fixture(scope="module")
def digits() -> torch.Tensor:
    """16 real MNIST test digits (16, 1, 28, 28) in [0, 1]."""
    raw = prepare_mnist(SHIPPED_DATA, download=False)
    payload = (raw / "t10k-images-idx3-ubyte").read_bytes()[16 : 16 + 16 * 28 * 28]
    return torch.frombuffer(bytearray(payload), dtype=torch.uint8).reshape(16, 1, 28, 28) / 255


def reconstructions(digits: torch.Tensor) -> torch.Tensor:
    """Plausible decoder outputs: blurred, noisy digits with a faint background haze."""
    generator = torch.Generator().manual_seed(0)
    blurred = F.avg_pool2d(F.pad(digits, (1, 1, 1, 1), mode="replicate"), 3, stride=1)
    noise = 0.05 * torch.randn(digits.shape, generator=generator)
    return (0.9 * blurred + 0.02 + noise).clamp(0, 1)


def skimage_reference(preds: torch.Tensor, target: torch.Tensor) -> np.ndarray:
    """Per-image SSIM by scikit-image with the Wang et al. settings (valid windows only)."""
    return np.array(
        [
            skimage_ssim(
                p[0].double().numpy(),
                t[0].double().numpy(),
                gaussian_weights=True,
                sigma=1.5,
                use_sample_covariance=False,
                data_range=1.0,
            )
            for p, t in zip(preds, target, strict=True)
        ]
    )


def test_per_image_ssim_is_scikit_images(digits):
    preds = reconstructions(digits)
    expected = skimage_reference(preds, digits)
    assert 0.3 < expected.mean() < 0.95  # a partial match, where definitions differ most
    np.testing.assert_allclose(structural_similarity(preds, digits).numpy(), expected, atol=1e-4)


def test_logged_ssim_is_the_mean_over_the_split_of_scikit_images(digits):
    """Accumulated over batches of different sizes, as a validation epoch does."""
    preds = reconstructions(digits)
    metrics = image_metrics("val/")
    for start, stop in ((0, 5), (5, 16)):
        metrics.update(preds[start:stop], digits[start:stop])
    scores = metrics.compute()
    assert scores["val/ssim"].item() == pytest.approx(
        skimage_reference(preds, digits).mean(), abs=1e-4
    )


def test_psnr_comes_from_the_pooled_mse_of_the_split(digits):
    preds = reconstructions(digits)
    metrics = image_metrics("test/")
    for start, stop in ((0, 3), (3, 16)):
        metrics.update(preds[start:stop], digits[start:stop])
    scores = metrics.compute()
    pooled_mse = ((preds.double() - digits.double()) ** 2).mean().item()
    per_image = ((preds.double() - digits.double()) ** 2).mean((1, 2, 3))
    assert scores["test/mse"].item() == pytest.approx(pooled_mse, rel=1e-5)
    assert scores["test/psnr"].item() == pytest.approx(10 * math.log10(1 / pooled_mse), abs=1e-4)
    # not the mean of per-image PSNRs, which differs here by more than the tolerance above
    assert abs((10 * torch.log10(1 / per_image)).mean().item() - scores["test/psnr"].item()) > 1e-2


def test_ddp_processes_pool_sums_and_counts(digits):
    """Two processes' states, combined by torchmetrics' own DDP sync in ``compute`` (with a
    stand-in for all_gather), give the one-process value: sums reduced by
    dist_reduce_fx="sum"."""
    preds = reconstructions(digits)
    peer: dict[int, torch.Tensor] = {}

    def all_gather(tensor, group=None):
        return [tensor, peer[id(tensor)]]

    whole, second = StructuralSimilarity(), StructuralSimilarity()
    first = StructuralSimilarity(dist_sync_fn=all_gather, distributed_available_fn=lambda: True)
    whole.update(preds, digits)
    first.update(preds[:3], digits[:3])
    second.update(preds[3:], digits[3:])
    peer.update({id(getattr(first, name)): getattr(second, name) for name in first.metric_state})
    assert first.compute().item() == pytest.approx(whole.compute().item(), rel=1e-12)
    assert first.images.item() == 3  # compute() syncs for itself and restores the local state


def test_identical_images_score_one_and_bad_shapes_are_named(digits):
    assert torch.allclose(
        structural_similarity(digits, digits), torch.ones(16, dtype=torch.float64)
    )
    with pytest.raises(ValueError, match=r"11x11 window does not fit images of 8x8"):
        structural_similarity(torch.rand(1, 1, 8, 8), torch.rand(1, 1, 8, 8))
    with pytest.raises(ValueError, match=r"same shape.*\(2, 1, 28, 28\).*\(3, 1, 28, 28\)"):
        structural_similarity(digits[:2], digits[:3])
