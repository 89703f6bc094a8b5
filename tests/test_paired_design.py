"""A seed is a block: under one seed every decoder starts from the same encoder weights and
sees the same batches and the same validation and test images, whatever was drawn before."""

from __future__ import annotations

import pytest
import torch
from hydra.utils import instantiate

from decoderlab.model import init_seeds

SMALL = ("data.train_size=100", "data.val_size=50", "data.test_size=50")


def build(make_cfg, decoder: str, seed: int, drawn_before: int = 0):
    """The model and the set-up datamodule of one run, after ``drawn_before`` unrelated draws
    from torch's global generator."""
    cfg = make_cfg(f"model/decoder={decoder}", f"seed={seed}", *SMALL)
    torch.manual_seed(12345)
    torch.rand(drawn_before)
    datamodule = instantiate(cfg.data)
    model = instantiate(cfg.model, in_shape=datamodule.image_shape)
    datamodule.prepare_data()
    datamodule.setup("fit")
    datamodule.setup("test")
    return model, datamodule


def batches(loader) -> list[torch.Tensor]:
    return [batch[0] if isinstance(batch, list | tuple) else batch for batch in loader]


def same_tensors(a: list[torch.Tensor], b: list[torch.Tensor]) -> bool:
    return len(a) == len(b) and all(torch.equal(x, y) for x, y in zip(a, b, strict=True))


def test_two_decoders_under_one_seed_share_encoder_weights_and_data(make_cfg):
    nearest, _ = build(make_cfg, "resize_conv", seed=3)
    model, data = build(make_cfg, "pixel_shuffle_icnr", seed=3, drawn_before=777)
    other, other_data = build(make_cfg, "transposed_conv_k4", seed=3)

    for candidate in (model, other):
        encoder = candidate.encoder.state_dict()
        assert encoder.keys() == nearest.encoder.state_dict().keys()
        assert all(torch.equal(v, nearest.encoder.state_dict()[k]) for k, v in encoder.items())
    for loader in ("train_dataloader", "val_dataloader", "test_dataloader"):
        assert same_tensors(
            batches(getattr(data, loader)()), batches(getattr(other_data, loader)())
        ), loader


def test_another_seed_is_another_block(make_cfg):
    one, one_data = build(make_cfg, "resize_conv", seed=1)
    two, two_data = build(make_cfg, "resize_conv", seed=2)
    first = next(iter(one.encoder.state_dict()))
    assert not torch.equal(one.encoder.state_dict()[first], two.encoder.state_dict()[first])
    assert not same_tensors(
        batches(one_data.train_dataloader()), batches(two_data.train_dataloader())
    )
    assert same_tensors(batches(one_data.val_dataloader()), batches(two_data.val_dataloader()))


def test_encoder_and_decoder_streams_are_distinct_and_seeded():
    assert init_seeds(None) == (None, None)
    encoder, decoder = init_seeds(7)
    assert encoder != decoder
    assert init_seeds(7) == (encoder, decoder)
    assert init_seeds(8)[0] != encoder


@pytest.mark.parametrize("experiment", ["seed_upsampling2d", "seed_conv2dtranspose"])
def test_seed_models_are_seeded_by_the_run_seed(make_cfg, experiment):
    cfg = make_cfg(f"experiment={experiment}", "seed=5")
    assert cfg.model.init_seed == 5
