"""The literature's decoder families against theory and independent computations."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from decoderlab.blocks import (
    BilinearAdditiveUp,
    CarafeUp,
    DySampleUp,
    FixedSmoothing,
    PixelShuffleUp,
    SeparableTransposedConvUp,
    TransposedConvUp,
    decoder_variants,
)
from decoderlab.blocks.determinism import relax_strict_determinism
from decoderlab.metrics.flat_field import field_periodic_ratio, flat_field_response

NEW_VARIANTS = [
    v
    for v, f in decoder_variants().items()
    if f.name in {"bilinear_additive", "separable_transposed_conv", "dysample", "carafe"}
    or "_smooth" in v
]


def params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def train_a_few_steps(block: nn.Module, c_in: int, steps: int = 5) -> None:
    """Adam on a random regression target, enough to move every weight off its init."""
    optimizer = torch.optim.Adam(block.parameters(), lr=0.05)
    x, target = torch.randn(4, c_in, 6, 6), None
    for _ in range(steps):
        out = block(x)
        target = torch.randn_like(out) if target is None else target
        loss = F.mse_loss(out, target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


def ffcr2(block: nn.Module, channels: int) -> float:
    field, _ = flat_field_response(block, (channels, 12, 12))
    return field_periodic_ratio(field, 2)


# --- fixed smoothing of order d ---------------------------------------------------------------


def test_order_3_is_stylegan2s_normalised_1331_filter():
    impulse = torch.zeros(1, 1, 9, 9)
    impulse[..., 4, 4] = 1.0
    response = FixedSmoothing(3)(impulse)[0, 0]
    expected = np.outer([1, 3, 3, 1], [1, 3, 3, 1]) / 64
    nonzero = response[response.abs() > 0].numel()
    assert nonzero == 16
    rows, cols = torch.nonzero(response, as_tuple=True)
    window = response[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
    np.testing.assert_allclose(window.numpy(), expected, rtol=1e-6)


def test_order_2_is_the_zero_order_hold_convolved_with_itself():
    impulse = torch.zeros(1, 1, 7, 7)
    impulse[..., 3, 3] = 1.0
    zoh = np.ones((2, 2)) / 4
    expected = sum(  # H_0 * H_0, the full 2-D convolution written out
        np.pad(zoh * zoh[a, b], ((a, 1 - a), (b, 1 - b))) for a in range(2) for b in range(2)
    )
    np.testing.assert_allclose(expected, np.outer([1, 2, 1], [1, 2, 1]) / 16)
    window = FixedSmoothing(2)(impulse)[0, 0, 2:5, 2:5]
    np.testing.assert_allclose(window.numpy(), expected, rtol=1e-6)


def test_order_1_is_the_zero_order_hold_blur_it_replaces():
    x = torch.randn(2, 3, 7, 9)
    blur = nn.Sequential(nn.ReplicationPad2d((1, 0, 1, 0)), nn.AvgPool2d(2, stride=1))
    torch.testing.assert_close(FixedSmoothing(1)(x), blur(x))


@pytest.mark.parametrize("order", [1, 2, 3])
@pytest.mark.parametrize("family", [TransposedConvUp, PixelShuffleUp])
def test_smoothing_leaves_no_flat_field_checkerboard_at_init_or_after_training(family, order):
    torch.manual_seed(order)
    block = family(8, 8, smooth=order)
    assert ffcr2(block, 8) < 1e-20
    before = [p.detach().clone() for p in block.parameters()]
    train_a_few_steps(block, 8)
    assert all(not torch.equal(a, b) for a, b in zip(before, block.parameters(), strict=True))
    assert ffcr2(block, 8) < 1e-20
    unsmoothed = family(8, 8)
    unsmoothed.load_state_dict(block.state_dict())
    assert ffcr2(unsmoothed, 8) > 1e-3  # the learned weights alone do leave one


def test_smoothing_names_keep_blur_for_order_1():
    assert TransposedConvUp(4, 4, smooth=1).name == "transposed_conv_k3_blur"
    assert PixelShuffleUp(4, 4, smooth=3).name == "pixel_shuffle_default_smooth3"


# --- bilinear additive upsampling -------------------------------------------------------------


def test_bilinear_additive_is_bilinear_then_group_sum_then_conv():
    torch.manual_seed(0)
    block = BilinearAdditiveUp(8, 5, group_size=4)
    x = torch.randn(2, 8, 5, 7)
    up = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
    summed = torch.stack([up[:, 4 * g : 4 * g + 4].sum(1) for g in range(2)], dim=1)
    conv = block.upsample[-1]
    torch.testing.assert_close(block(x), conv(summed), rtol=1e-5, atol=1e-6)
    assert params(block) == 2 * 5 * 9 + 5


# --- separable (factored) transposed convolution ----------------------------------------------


def test_spatial_factoring_is_the_transposed_conv_of_the_rank_limited_kernel():
    torch.manual_seed(0)
    block = SeparableTransposedConvUp(6, 4, kernel_size=3, factoring="spatial")
    first, second = block.upsample
    # ConvTranspose2d weights are (C_in, C_out, kh, kw): W[i, o, y, x] = sum_m U[i, m, y] V[m, o, x]
    weight = torch.einsum("imy,mox->ioyx", first.weight[..., 0], second.weight[:, :, 0, :])
    full = nn.ConvTranspose2d(6, 4, 3, stride=2, padding=1, output_padding=1)
    with torch.no_grad():
        full.weight.copy_(weight)
        full.bias.copy_(second.bias)
    x = torch.randn(2, 6, 5, 7)
    torch.testing.assert_close(block(x), full(x), rtol=1e-5, atol=1e-6)
    assert params(block) == 3 * 4 * (6 + 4) + 4


def test_depthwise_factoring_is_the_transposed_conv_of_the_product_kernel():
    torch.manual_seed(0)
    block = SeparableTransposedConvUp(6, 4, kernel_size=4, factoring="depthwise")
    depthwise, pointwise = block.upsample
    weight = depthwise.weight[:, 0][:, None] * pointwise.weight[:, :, 0, 0].T[..., None, None]
    full = nn.ConvTranspose2d(6, 4, 4, stride=2, padding=1)
    with torch.no_grad():
        full.weight.copy_(weight)
        full.bias.copy_(pointwise.bias)
    x = torch.randn(2, 6, 5, 7)
    torch.testing.assert_close(block(x), full(x), rtol=1e-5, atol=1e-6)
    assert params(block) == 6 * 16 + 6 * 4 + 4


# --- DySample ---------------------------------------------------------------------------------


@pytest.mark.parametrize("scope", ["static", "dynamic"])
def test_dysample_with_zero_offsets_is_bilinear_then_its_projection(scope):
    torch.manual_seed(0)
    block = DySampleUp(8, 5, groups=4, scope=scope)
    sampler, projection = block.upsample
    with torch.no_grad():
        sampler.offset.weight.zero_()
        sampler.offset.bias.zero_()
    x = torch.randn(2, 8, 5, 7)
    expected = projection(F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False))
    torch.testing.assert_close(block(x), expected, rtol=1e-5, atol=1e-6)


def test_dysample_offsets_are_in_input_pixels_per_group_and_sub_pixel():
    """A bias moves group 1's sub-pixel (0, 1) samples one input pixel right: those outputs
    are the bilinear ones of the input shifted left by one column; everything else stays."""
    torch.manual_seed(0)
    block = DySampleUp(4, 4, groups=2)
    sampler = block.upsample[0]
    with torch.no_grad():
        sampler.offset.weight.zero_()
        sampler.offset.bias.zero_()
        # channel (group g, x|y, sub-pixel i * 2 + j) = g * 8 + xy * 4 + i * 2 + j; 0.25 * 4 = 1
        sampler.offset.bias[1 * 8 + 0 * 4 + 1] = 4.0
    x = torch.randn(1, 4, 6, 8)
    out = sampler(x)
    bilinear = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
    moved = torch.zeros_like(out, dtype=torch.bool)
    moved[:, 2:, 0::2, 1::2] = True
    torch.testing.assert_close(out[~moved], bilinear[~moved])
    # sub-pixel (0, 1) of input column u samples at u + 0.25 + 1 (rows at y - 0.25)
    cols = torch.arange(8) + 1.25
    lo = cols.floor().long().clamp(max=7)
    hi = (lo + 1).clamp(max=7)
    frac = (cols - cols.floor()).where(cols < 7, torch.zeros(()))
    rows_up = F.interpolate(x, size=(12, 8), mode="bilinear", align_corners=False)[..., 0::2, :]
    expected = rows_up[..., lo] * (1 - frac) + rows_up[..., hi] * frac
    torch.testing.assert_close(out[:, 2:, 0::2, 1::2], expected[:, 2:], rtol=1e-5, atol=1e-6)


def test_dysample_parameter_count_follows_the_paper():
    # offsets: 1x1 conv to 2 * groups * 4 channels; projection: 3x3 conv
    assert params(DySampleUp(16, 8, groups=4)) == 16 * 32 + 32 + 16 * 8 * 9 + 8
    assert params(DySampleUp(16, 8, groups=4, scope="dynamic")) == 16 * 32 + 32 + 16 * 32 + 1160


# --- CARAFE -----------------------------------------------------------------------------------


@pytest.mark.parametrize("up_kernel", [3, 5])
def test_carafe_with_uniform_kernels_is_the_window_mean_of_the_nearest_source(up_kernel):
    torch.manual_seed(0)
    block = CarafeUp(8, 5, up_kernel=up_kernel)
    reassembly, projection = block.upsample
    with torch.no_grad():
        reassembly.encoder.weight.zero_()
        reassembly.encoder.bias.zero_()
    x = torch.randn(2, 8, 5, 7)
    window_mean = F.avg_pool2d(x, up_kernel, stride=1, padding=up_kernel // 2)
    expected = projection(F.interpolate(window_mean, scale_factor=2, mode="nearest"))
    torch.testing.assert_close(block(x), expected, rtol=1e-5, atol=1e-6)


def test_carafe_kernels_are_per_sub_pixel_and_tap():
    """A kernel that picks the right-hand neighbour at sub-pixel (0, 1) and the centre
    elsewhere reassembles nearest-neighbour upsampling with those outputs moved one column."""
    torch.manual_seed(0)
    reassembly = CarafeUp(3, 3, up_kernel=3).upsample[0]
    with torch.no_grad():
        reassembly.encoder.weight.zero_()
        bias = torch.zeros(9, 4)  # (tap ky * 3 + kx, sub-pixel i * 2 + j)
        bias[4, :] = 100.0  # centre tap
        bias[4, 1], bias[5, 1] = 0.0, 100.0  # sub-pixel (0, 1): tap (1, 2), one column right
        reassembly.encoder.bias.copy_(bias.flatten())
    x = torch.randn(1, 3, 4, 5)
    expected = F.interpolate(x, scale_factor=2, mode="nearest")
    right = F.pad(x[..., 1:], (0, 1))
    expected[..., 0::2, 1::2] = right
    torch.testing.assert_close(reassembly(x), expected, rtol=1e-5, atol=1e-6)


def test_carafe_parameter_count():
    compressor, encoder, projection = 16 * 4 + 4, 4 * 100 * 9 + 100, 16 * 8 * 9 + 8
    assert params(CarafeUp(16, 8)) == compressor + encoder + projection


# --- every new variant: flat field, knobs, determinism ----------------------------------------


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        (lambda: BilinearAdditiveUp(8, 4, group_size=3), "group_size=3 .* 1, 2, 4, 8"),
        (lambda: BilinearAdditiveUp(6, 4, group_size=4), "in_channels=6 is not a multiple"),
        (lambda: SeparableTransposedConvUp(4, 4, factoring="grouped"), "'spatial', 'depthwise'"),
        (lambda: DySampleUp(8, 4, scope="wide"), "scope='wide' .* 'static', 'dynamic'"),
        (lambda: DySampleUp(6, 4, groups=4), "in_channels=6 is not a multiple of groups=4"),
        (lambda: CarafeUp(8, 4, up_kernel=4), "up_kernel=4 .* 3, 5, 7"),
        (lambda: CarafeUp(8, 4, compressed_channels=5), "compressed_channels=5"),
        (lambda: TransposedConvUp(4, 4, smooth=4), "smooth=4 .* 0, 1, 2, 3"),
    ],
)
def test_bad_knobs_name_the_allowed_values(factory, message):
    with pytest.raises(ValueError, match=message):
        factory()


@pytest.mark.parametrize("variant", NEW_VARIANTS)
def test_cpu_training_is_deterministic_under_strict_mode(variant, strict_determinism):
    family = decoder_variants()[variant]
    weights = []
    for _ in range(2):
        torch.manual_seed(7)
        block = family.build(variant, 8, 8)
        train_a_few_steps(block, 8, steps=3)
        weights.append(block.state_dict())
    for key in weights[0]:
        assert torch.equal(weights[0][key], weights[1][key]), key
    assert torch.is_deterministic_algorithms_warn_only_enabled() is False


def test_strict_determinism_is_relaxed_on_cuda_only_and_said(strict_determinism):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert relax_strict_determinism(torch.device("cpu"), "op") is False
        with torch.no_grad():
            assert relax_strict_determinism(torch.device("cuda"), "op") is False
    assert not torch.is_deterministic_algorithms_warn_only_enabled()
    with pytest.warns(
        UserWarning, match=r"DySample \(grid_sample\): its CUDA backward .*warn_only"
    ):
        assert relax_strict_determinism(torch.device("cuda"), "DySample (grid_sample)") is True
    assert torch.are_deterministic_algorithms_enabled()
    assert torch.is_deterministic_algorithms_warn_only_enabled()


@pytest.fixture
def strict_determinism():
    """torch.use_deterministic_algorithms(True) for the test, the previous mode restored."""
    mode = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(True)
    yield
    torch.use_deterministic_algorithms(mode, warn_only=warn_only)
