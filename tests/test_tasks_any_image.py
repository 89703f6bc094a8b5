"""What assumed MNIST works for any channel count and size: every decoder on colour patches,
the probe's image, the reconstruction grid's zoom and its super-resolution input row."""

from __future__ import annotations

from functools import partial
from types import SimpleNamespace

import pytest
import torch
from hydra.utils import instantiate
from torch import nn

from decoderlab import probe
from decoderlab.blocks import ResizeConvUp, TransposedConvUp, decoder_variants
from decoderlab.callbacks import ReconstructionGrid, zoomed_centre
from decoderlab.tasks.super_resolution import BicubicDownscale


def test_zoomed_centre_repeats_each_centre_pixel():
    image = torch.arange(64.0).view(1, 1, 8, 8).expand(1, 3, 8, 8)
    zoomed = zoomed_centre(image, 4)
    assert zoomed.shape == (1, 3, 8, 8)
    centre = image[..., 3:5, 3:5]
    assert torch.equal(zoomed, centre.repeat_interleave(4, -2).repeat_interleave(4, -1))
    assert zoomed_centre(torch.rand(2, 1, 30, 30), 4).shape == (2, 1, 30, 30)


class Writer:
    def __init__(self) -> None:
        self.images: dict[str, torch.Tensor] = {}

    def add_image(self, tag, image, global_step=None) -> None:
        self.images[tag] = image


class Negative(nn.Module):
    """A stand-in super-resolution module: given the x4 downscale, it returns 1 - x."""

    device = torch.device("cpu")

    def __init__(self) -> None:
        super().__init__()
        self.inputs = BicubicDownscale(4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 1 - x


def test_the_grid_shows_colour_the_network_input_and_the_zoom(monkeypatch, tmp_path):
    images = torch.rand(3, 3, 32, 32)
    writer = Writer()
    trainer = SimpleNamespace(
        sanity_checking=False,
        is_global_zero=True,
        datamodule=SimpleNamespace(preview_images=lambda count: images[:count]),
        default_root_dir=str(tmp_path),
        current_epoch=0,
    )
    monkeypatch.setattr("decoderlab.callbacks._tensorboard", lambda trainer: writer)
    ReconstructionGrid(count=3).on_validation_epoch_end(trainer, Negative())
    grid = writer.images["reconstructions"]
    assert grid.shape == (3, 4 * 34 + 2, 3 * 34 + 2)  # 4 rows of 3 colour tiles, 2-pixel pads

    def tile(row: int, col: int) -> torch.Tensor:
        return grid[:, 2 + row * 34 : 34 + row * 34, 2 + col * 34 : 34 + col * 34]

    assert torch.equal(tile(0, 1), images[1])
    small = BicubicDownscale(4)(images[1:2])[0]
    assert torch.equal(tile(1, 1), small.repeat_interleave(4, -2).repeat_interleave(4, -1))
    assert torch.equal(tile(2, 1), 1 - images[1])
    assert torch.equal(tile(3, 1), zoomed_centre(1 - images[1:2], 4)[0])
    assert (tmp_path / "figures.npz").is_file()


def test_the_probe_measures_a_colour_decoder_of_any_image_size():
    name, values = probe.probe_variant(
        partial(TransposedConvUp, kernel_size=3),
        [8, 16, 32],
        4,
        12,
        1,
        0,
        image_size=64,
        channels=3,
    )
    assert name == "transposed_conv_k3"
    assert set(values) == {"block ffcr2", "decoder ffcr2", "decoder ffcr4", "decoder ffcr8"}
    assert values["decoder ffcr2"][0] > 0
    _, clean = probe.probe_variant(
        partial(ResizeConvUp, mode="nearest"), [8, 16], 4, 12, 1, 0, image_size=32, channels=3
    )
    assert max(v[0] for v in clean.values()) < 1e-12


def test_the_probe_refuses_stages_that_do_not_fit_the_image(capsys):
    with pytest.raises(SystemExit):
        probe.parse_args(["--widths", "8", "16", "32", "--image-size", "6"])
    assert "3 stages do not fit a 6px image" in capsys.readouterr().err


@pytest.mark.parametrize("decoder", list(decoder_variants()))
def test_every_decoder_reconstructs_colour_patches(make_cfg, decoder):
    cfg = make_cfg("task=reconstruction", f"model/decoder={decoder}")
    model = instantiate(cfg.model, in_shape=(3, 32, 32))
    assert model.latent_shape == (8, 8, 8)
    out = model(torch.rand(2, 3, 32, 32))
    assert out.shape == (2, 3, 32, 32) and out.min() >= 0 and out.max() <= 1
