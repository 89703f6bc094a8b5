"""Blocks: the size contract, parameter counts, ICNR, smoothing, TF 'same' padding, seed models."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from decoderlab.blocks import (
    Conv2dSame,
    ConvPoolDown,
    FixedSmoothing,
    PixelShuffleUp,
    ResizeConvUp,
    StridedConvDown,
    TransposedConvUp,
    decoder_variants,
    keras_init_,
    tf_same_pad_amounts,
)
from decoderlab.networks import (
    Conv2DTransposeSeedDecoder,
    Conv2DTransposeSeedEncoder,
    UpSampling2DSeedDecoder,
    UpSampling2DSeedEncoder,
)

VARIANTS = decoder_variants()


def params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("name", VARIANTS)
@pytest.mark.parametrize("size", [(1, 1), (4, 4), (7, 7), (5, 9), (14, 14)])
def test_every_registered_variant_doubles_size_exactly(name, size):
    block = VARIANTS[name].build(name, 8, 5)
    out = block(torch.randn(2, 8, *size))
    assert out.shape == (2, 5, 2 * size[0], 2 * size[1])
    assert block.name == name


@pytest.mark.parametrize("block", [ResizeConvUp(3, 5, "bicubic"), PixelShuffleUp(3, 5, smooth=1)])
def test_blocks_outside_the_named_variants_double_size_too(block):
    assert block(torch.randn(2, 3, 5, 9)).shape == (2, 5, 10, 18)


@pytest.mark.parametrize(
    ("block", "expected"),
    [
        (ResizeConvUp(8, 4, "nearest", kernel_size=3), 8 * 4 * 9 + 4),
        (ResizeConvUp(8, 4, "bilinear", kernel_size=5), 8 * 4 * 25 + 4),
        (TransposedConvUp(8, 4, kernel_size=2), 8 * 4 * 4 + 4),
        (TransposedConvUp(8, 4, kernel_size=3, smooth=1), 8 * 4 * 9 + 4),
        (TransposedConvUp(8, 4, kernel_size=4), 8 * 4 * 16 + 4),
        (PixelShuffleUp(8, 4, kernel_size=3), 8 * 16 * 9 + 16),
        (PixelShuffleUp(8, 4, kernel_size=1, init="icnr"), 8 * 16 + 16),
    ],
)
def test_up_block_parameter_count(block, expected):
    assert params(block) == expected


@pytest.mark.parametrize(
    ("factory", "allowed"),
    [
        (lambda: TransposedConvUp(2, 2, kernel_size=5), "2, 3, 4"),
        (lambda: ResizeConvUp(2, 2, mode="area"), "'nearest', 'bilinear', 'bicubic'"),
        (lambda: PixelShuffleUp(2, 2, init="orthogonal"), "'default', 'icnr'"),
        (lambda: ConvPoolDown(2, 2, kernel_size=4), "3, 5"),
    ],
)
def test_invalid_knob_names_allowed_values(factory, allowed):
    with pytest.raises(ValueError, match="not allowed") as info:
        factory()
    assert allowed in str(info.value)


def test_icnr_pixel_shuffle_maps_constant_to_constant():
    torch.manual_seed(0)
    block = PixelShuffleUp(4, 3, kernel_size=3, init="icnr")
    out = block(torch.full((1, 4, 8, 8), 0.7))
    interior = out[..., 2:-2, 2:-2]
    flat = interior.flatten(2)
    assert torch.allclose(flat, flat[..., :1].expand_as(flat), atol=1e-6)
    assert torch.equal(block.upsample[0].bias, torch.zeros(12))


def test_default_pixel_shuffle_is_not_constant_for_constant_input():
    torch.manual_seed(0)
    out = PixelShuffleUp(4, 3, kernel_size=3)(torch.full((1, 4, 8, 8), 0.7))[..., 2:-2, 2:-2]
    assert out.flatten(2).std(dim=-1).min() > 1e-3


def test_zero_order_hold_blur_keeps_size_and_removes_the_nyquist_checkerboard():
    i, j = torch.meshgrid(torch.arange(8), torch.arange(8), indexing="ij")
    checkerboard = ((-1.0) ** (i + j))[None, None]
    out = FixedSmoothing(1)(checkerboard + 2.0)
    assert out.shape == checkerboard.shape
    assert torch.allclose(out[..., 1:, 1:], torch.full((1, 1, 7, 7), 2.0))


@pytest.mark.parametrize(
    ("size", "kernel", "stride", "expected"),
    [
        (7, 2, 2, (0, 1)),
        (28, 2, 1, (0, 1)),
        (5, 3, 2, (1, 1)),
        (28, 2, 2, (0, 0)),
        (14, 3, 1, (1, 1)),
        (8, 4, 1, (1, 2)),
    ],
)
def test_tf_same_pad_amounts(size, kernel, stride, expected):
    assert tf_same_pad_amounts(size, kernel, stride) == expected
    before, after = expected
    assert (size + before + after - kernel) // stride + 1 == math.ceil(size / stride)


def test_conv2d_same_matches_hand_computed_tensorflow_result():
    conv = Conv2dSame(1, 1, 2, bias=False)
    nn.init.ones_(conv.weight)
    x = torch.arange(1.0, 10.0).reshape(1, 1, 3, 3)
    # TF pads one zero row/column at the bottom/right for an even kernel.
    expected = torch.tensor([[12.0, 16.0, 9.0], [24.0, 28.0, 15.0], [15.0, 17.0, 9.0]])
    assert torch.equal(conv(x)[0, 0], expected)
    strided = Conv2dSame(1, 1, 2, stride=2, bias=False)
    nn.init.ones_(strided.weight)
    assert strided(torch.ones(1, 1, 7, 7)).shape[-2:] == (4, 4)


@pytest.mark.parametrize("block", [ConvPoolDown, StridedConvDown])
def test_down_blocks_halve(block):
    assert block(3, 6)(torch.randn(2, 3, 28, 28)).shape == (2, 6, 14, 14)


def test_keras_initialisers_zero_bias_and_bounds():
    conv = nn.Conv2d(8, 8, 2)
    keras_init_(conv, "he_uniform")
    assert torch.equal(conv.bias, torch.zeros(8))
    assert conv.weight.abs().max() <= math.sqrt(6 / (8 * 4))
    keras_init_(conv, "glorot_uniform")
    assert conv.weight.abs().max() <= math.sqrt(6 / (8 * 4 + 8 * 4))
    with pytest.raises(ValueError, match="glorot_uniform, he_uniform, he_normal"):
        keras_init_(conv, "lecun")


def spatial_sequence(*stacks: nn.Sequential, x: torch.Tensor) -> list[int]:
    sizes = []
    for stack in stacks:
        for layer in stack:
            x = layer(x)
            sizes.append(x.shape[-1])
    return sizes


@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
def test_seed_upsampling2d_model_matches_article(interpolation):
    encoder = UpSampling2DSeedEncoder()
    decoder = UpSampling2DSeedDecoder(interpolation=interpolation)
    assert params(encoder) + params(decoder) == 1393
    sizes = spatial_sequence(encoder, decoder, x=torch.rand(2, 1, 28, 28))
    assert sizes == [28, 14, 14, 7, 4, 4, 8, 7, 14, 14, 28, 28]


def test_seed_conv2dtranspose_model_matches_article():
    encoder, decoder = Conv2DTransposeSeedEncoder(), Conv2DTransposeSeedDecoder()
    assert params(encoder) + params(decoder) == 12785
    assert spatial_sequence(encoder, decoder, x=torch.rand(2, 1, 28, 28)) == [
        26,
        24,
        22,
        24,
        26,
        28,
        28,
    ]


def test_seed_upsampling_is_bilinear_align_corners_false():
    layer = UpSampling2DSeedDecoder()[1]
    x = torch.tensor([[[[0.0, 1.0]]]])
    # Keras/TF half-pixel bilinear: 0 -> [0, 0.25, 0.75, 1] along a row of two pixels.
    assert torch.allclose(layer(x)[0, 0, 0], torch.tensor([0.0, 0.25, 0.75, 1.0]))
