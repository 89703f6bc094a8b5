"""The report names the task and its images, counts patches as patches, shows the bicubic
floor of a super-resolution sweep as a row beside the decoders, and draws colour in colour."""

from __future__ import annotations

import numpy as np

from decoderlab.report.analysis import Budget
from decoderlab.report.document import bicubic_section, budget_sentence
from decoderlab.report.figures.reconstructions import PAD_PIXELS, strip
from decoderlab.report.stats import DecoderSummary, Estimate


def test_the_budget_sentence_names_task_and_images():
    mnist = budget_sentence(Budget(2, 25, 6000, None, 2000, "mnist", "MNIST"))
    assert mnist == (
        "Budget: 2 epochs at batch 25 on the first 6,000 training images, validated on all "
        "validation images and tested on the first 2,000 test images (task mnist, MNIST; the "
        "same for every decoder)."
    )
    photos = budget_sentence(
        Budget(2, 16, None, 126, 468, "sr_x4", "scikit-image's photographs", 32)
    )
    assert "on as many random 32x32 training crops per epoch as the training images' grid" in (
        photos
    )
    assert "validated on 126 fixed validation patches and tested on 468 fixed test patches" in (
        photos
    )
    assert photos.endswith("(task sr_x4, scikit-image's photographs; the same for every decoder).")


def summary(decoder: str, **means: float) -> DecoderSummary:
    return DecoderSummary(
        decoder, estimates={f"test/{k}": Estimate(v, 0.1, 3) for k, v in means.items()}
    )


def test_the_bicubic_floor_is_a_row_beside_the_decoders():
    rows = [
        summary("a", psnr_y=30.5, ssim_y=0.81, bicubic_psnr_y=30.0, bicubic_ssim_y=0.8),
        summary("b", psnr_y=29.0, ssim_y=0.79, bicubic_psnr_y=30.0, bicubic_ssim_y=0.8),
    ]
    section = bicubic_section(rows)
    assert "Decoders above the floor on mean PSNR_y: a." in section
    assert "| **bicubic interpolation (the floor)** | 30.000 | 0.8000 |" in section
    assert "| b | 29.000 | 0.7900 |" in section
    assert bicubic_section([summary("c", psnr=20.0)]) == ""


def test_reconstruction_strips_keep_colour():
    colour = np.random.default_rng(0).random((2, 3, 4, 5))
    picture = strip(colour)
    assert picture.shape == (4, 2 * 5 + PAD_PIXELS, 3)
    assert np.array_equal(picture[:, :5], colour[0].transpose(1, 2, 0))
    assert np.all(picture[:, 5 : 5 + PAD_PIXELS] == 1.0)
    grey = strip(colour[:, :2])
    assert grey.shape == (4, 2 * 5 + PAD_PIXELS)
    assert np.allclose(grey[:, :5], colour[0, :2].mean(0))
