"""AutoEncoder: built from config for every decoder, shape checks, losses."""

from __future__ import annotations

from functools import partial

import pytest
import torch
from hydra.utils import instantiate

from decoderlab.blocks import ConvPoolDown, TransposedConvUp, decoder_variants
from decoderlab.model import ArchitectureError, AutoEncoder
from decoderlab.networks import ConvEncoder, UpsamplingDecoder

DECODERS = list(decoder_variants())


@pytest.mark.parametrize("decoder", DECODERS)
@pytest.mark.parametrize("encoder", ["conv_pool", "strided_conv"])
def test_composed_model_reconstructs_input_shape(make_cfg, decoder, encoder):
    cfg = make_cfg(f"model/decoder={decoder}", f"model/encoder={encoder}")
    model = instantiate(cfg.model, in_shape=(1, 28, 28))
    x = torch.rand(3, 1, 28, 28)
    out = model(x)
    assert out.shape == x.shape
    assert out.min() >= 0.0 and out.max() <= 1.0
    assert model.decoder_name == decoder


def test_only_the_upsampling_block_differs_between_decoders(make_cfg):
    def encoder_params(decoder):
        model = instantiate(make_cfg(f"model/decoder={decoder}").model, in_shape=(1, 28, 28))
        return sum(p.numel() for p in model.encoder.parameters()), model.decoder

    enc_a, dec_a = encoder_params("resize_conv")
    enc_b, dec_b = encoder_params("pixel_shuffle")
    assert enc_a == enc_b
    assert [type(m) for m in dec_a.children()] == [type(m) for m in dec_b.children()]


def test_three_stages_on_padded_input(make_cfg):
    cfg = make_cfg("model.encoder.widths=[8,16,32]", "data.pad_to=32")
    model = instantiate(cfg.model, in_shape=(1, 32, 32))
    assert model.decoder.stages == 3
    assert model(torch.rand(1, 1, 32, 32)).shape == (1, 1, 32, 32)


def test_impossible_architecture_lists_every_stage():
    encoder = partial(ConvEncoder, down=ConvPoolDown, widths=(8, 8, 8))
    decoder = partial(UpsamplingDecoder, up=TransposedConvUp, widths=(8, 8, 8))
    with pytest.raises(ArchitectureError) as info:
        AutoEncoder(encoder, decoder, in_shape=(1, 28, 28))
    message = str(info.value)
    assert "(1, 24, 24)" in message and "(1, 28, 28)" in message
    for stage in ("encoder.down3", "decoder.up3", "decoder.head"):
        assert stage in message


def test_seed_models_compose(make_cfg):
    up = instantiate(make_cfg("experiment=seed_upsampling2d").model, in_shape=(1, 28, 28))
    tr = instantiate(make_cfg("experiment=seed_conv2dtranspose").model, in_shape=(1, 28, 28))
    assert up.num_parameters == 1393 and up.decoder_name == "seed_upsampling2d_bilinear"
    assert tr.num_parameters == 12785
    nearest = make_cfg("experiment=seed_upsampling2d", "model.decoder.interpolation=nearest")
    assert instantiate(nearest.model, in_shape=(1, 28, 28)).decoder_name.endswith("nearest")


def test_losses():
    encoder = partial(ConvEncoder, down=ConvPoolDown)
    decoder = partial(UpsamplingDecoder, up=TransposedConvUp)
    x = torch.rand(2, 1, 28, 28)
    bce = AutoEncoder(encoder, decoder, loss="bce")
    logits = bce.logits(x)
    expected = torch.nn.functional.binary_cross_entropy(torch.sigmoid(logits), x)
    assert torch.allclose(bce.loss(logits, x), expected, atol=1e-5)
    mse = AutoEncoder(encoder, decoder, loss="mse")
    assert torch.allclose(mse.loss(logits, x), ((torch.sigmoid(logits) - x) ** 2).mean())
    with pytest.raises(ValueError, match="'bce', 'mse'"):
        AutoEncoder(encoder, decoder, loss="l1")
