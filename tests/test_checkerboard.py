"""The checkerboard metrics, proven on synthetic digits: definitions, Parseval, noise baselines,
content-modulated artifacts, flat-field ratios of known blocks, epoch accumulation, bad input."""

from __future__ import annotations

import csv
import math
from functools import partial

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from decoderlab import probe
from decoderlab.blocks import PixelShuffleUp, ResizeConvUp, TransposedConvUp, decoder_variants
from decoderlab.metrics import (
    CheckerboardScores,
    ResidualSpectrum,
    flat_field_ratio,
    flat_field_response,
    lattice_periods,
    periodic_energy,
    periodic_fraction,
    phase_affine_energy,
    residual_spectrum,
)
from decoderlab.metrics.phases import once
from decoderlab.networks import (
    Conv2DTransposeSeedDecoder,
    UpSampling2DSeedDecoder,
    UpsamplingDecoder,
)

FUNCTIONALS = (periodic_energy, periodic_fraction, phase_affine_energy)


def strokes(count: int, size: int = 28, seed: int = 0, dtype=torch.float64) -> torch.Tensor:
    """Digit-like images (count, 1, size, size) in [0, 1]: two straight strokes, blurred."""
    generator = torch.Generator().manual_seed(seed)
    ends = torch.rand(count, 2, 2, 2, generator=generator, dtype=dtype) * (size - 12) + 6
    steps = torch.linspace(0, 1, 3 * size, dtype=dtype)[None, None, :, None]
    points = ends[:, :, :1] + (ends[:, :, 1:] - ends[:, :, :1]) * steps
    pixels = points.round().long().clamp(0, size - 1)
    canvas = torch.zeros(count, size * size, dtype=dtype)
    canvas.scatter_(1, (pixels[..., 0] * size + pixels[..., 1]).flatten(1), 1.0)
    taps = torch.arange(-3, 4, dtype=dtype)
    gauss = torch.exp(-(taps**2) / 2)
    kernel = (gauss[:, None] * gauss[None, :] / gauss.sum() ** 2)[None, None]
    images = F.conv2d(canvas.view(count, 1, size, size), kernel, padding=3)
    return images / images.amax(dim=(-2, -1), keepdim=True)


def checkerboard(height: int, width: int, dtype=torch.float64) -> torch.Tensor:
    """(-1)^(i+j) as a (1, 1, H, W) image."""
    i, j = torch.arange(height)[:, None], torch.arange(width)[None, :]
    return ((-1.0) ** (i + j)).to(dtype)[None, None]


def centered_energy(x: torch.Tensor) -> torch.Tensor:
    return (x - x.mean(dim=(-2, -1), keepdim=True)).square().sum(dim=(1, 2, 3))


def periodic_part(residual: torch.Tensor, period: int, offset=(0, 0)) -> torch.Tensor:
    """P_s r built literally from its definition, one phase at a time (reference, not fast)."""
    h, w = residual.shape[-2:]
    rows = (torch.arange(h) - offset[0]) % period
    cols = (torch.arange(w) - offset[1]) % period
    part = torch.zeros_like(residual)
    for a in range(period):
        for b in range(period):
            mask = (rows[:, None] == a) & (cols[None, :] == b)
            part[..., mask] = residual[..., mask].mean(-1, keepdim=True)
    return part - residual.mean(dim=(-2, -1), keepdim=True)


@pytest.fixture(autouse=True)
def fresh_warnings():
    """Each test sees the one-time warnings afresh."""
    once.clear()
    yield
    once.clear()


# --- definitions ------------------------------------------------------------------------------


@pytest.mark.parametrize("period", [2, 4, 7, 8])
def test_every_metric_is_zero_for_a_perfect_reconstruction(period):
    x = strokes(6)
    assert torch.equal(periodic_energy(x, x, period), torch.zeros(6, dtype=x.dtype))
    assert torch.equal(periodic_fraction(x, x, period), torch.zeros(6, dtype=x.dtype))
    assert phase_affine_energy(x, x, period) == 0
    assert torch.equal(residual_spectrum(x, x), torch.zeros(28, 28, dtype=x.dtype))


@pytest.mark.parametrize(
    ("height", "width", "period", "offset"),
    [
        (28, 28, 8, (0, 0)),
        (20, 27, 3, (1, 2)),
        (28, 28, 4, (3, 1)),
    ],
)
def test_cbe_and_prf_follow_their_definition_for_any_size(height, width, period, offset):
    x = strokes(5, size=max(height, width))[..., :height, :width]
    recon = x + 0.05 * torch.randn(
        x.shape, generator=torch.Generator().manual_seed(1), dtype=x.dtype
    )
    residual = recon - x
    periodic = periodic_part(residual, period, offset).square().sum(dim=(1, 2, 3))
    spread = centered_energy(residual)
    torch.testing.assert_close(
        periodic_energy(recon, x, period, offset), periodic / centered_energy(x)
    )
    torch.testing.assert_close(periodic_fraction(recon, x, period, offset), periodic / spread)


def test_an_offset_only_renames_phases():
    x = strokes(4)
    recon = x + 0.1 * checkerboard(28, 28) * x + 0.01 * torch.rand(x.shape, dtype=x.dtype)
    for metric in FUNCTIONALS:
        reference = metric(recon, x, 4)
        for offset in [(1, 0), (2, 3), (5, -1)]:
            torch.testing.assert_close(metric(recon, x, 4, offset), reference)


def test_images_of_a_batch_are_scored_independently():
    x = strokes(5)
    recon = x + 0.05 * checkerboard(28, 28) * torch.arange(1, 6, dtype=x.dtype)[:, None, None, None]
    for metric in (periodic_energy, periodic_fraction):
        batched = metric(recon, x, 2)
        single = torch.cat([metric(recon[i : i + 1], x[i : i + 1], 2) for i in range(5)])
        torch.testing.assert_close(batched, single)


# --- CBE: amplitude law, white noise, Parseval --------------------------------------------------


def test_cbe_grows_as_the_square_of_a_checkerboard_amplitude():
    x = strokes(8)
    pattern = checkerboard(28, 28)
    amplitudes = [1e-4, 1e-3, 1e-2, 0.1, 0.5, 2.0]
    per_unit = torch.stack([periodic_energy(x + a * pattern, x, 2) / a**2 for a in amplitudes])
    expected = 28 * 28 / centered_energy(x)
    torch.testing.assert_close(per_unit, expected.expand_as(per_unit), rtol=1e-7, atol=0)


def test_white_noise_of_equal_energy_scores_at_least_50_times_lower():
    x = strokes(64)
    amplitude = 0.1
    noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(2), dtype=x.dtype)
    noise *= amplitude * 28 / noise.square().sum(dim=(-2, -1), keepdim=True).sqrt()
    pattern = amplitude * checkerboard(28, 28)
    assert torch.allclose(noise.square().sum(dim=(1, 2, 3)), pattern.square().sum())
    cbe_pattern = periodic_energy(x + pattern, x, 2).mean()
    cbe_noise = periodic_energy(x + noise, x, 2).mean()
    assert cbe_pattern >= 50 * cbe_noise


@pytest.mark.parametrize("period", [2, 4, 7, 14])
def test_cbe_equals_the_residual_spectrum_at_lattice_frequencies(period):
    """Parseval: ||P_s r||^2 is the FFT energy at non-DC multiples of (H/s, W/s) over H*W."""
    x = strokes(6)
    generator = torch.Generator().manual_seed(3)
    recon = (
        x
        + 0.2 * torch.rand(x.shape, generator=generator, dtype=x.dtype) * x
        + 0.05 * checkerboard(28, 28)
        + 0.01
    )
    spectrum = torch.fft.fft2(recon - x).abs().square()
    lattice = torch.arange(0, 28, 28 // period)
    at_lattice = spectrum[..., lattice[:, None], lattice[None, :]].sum(dim=(1, 2, 3))
    energy = (at_lattice - spectrum[..., 0, 0].sum(1)) / (28 * 28 * centered_energy(x))
    torch.testing.assert_close(periodic_energy(recon, x, period), energy, rtol=1e-10, atol=1e-15)


# --- PRF ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("period", [2, 4])
def test_prf_of_white_noise_averages_its_degrees_of_freedom(period):
    x = strokes(4000, size=16)
    noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(4), dtype=x.dtype)
    expected = (period**2 - 1) / (16 * 16 - 1)
    mean = periodic_fraction(x + noise, x, period).mean()
    assert mean == pytest.approx(expected, rel=0.06)


@pytest.mark.parametrize("period", [2, 3, 4])
def test_prf_of_a_purely_periodic_residual_is_one(period):
    x = strokes(3, size=24)
    tile = torch.randn(
        3, 1, period, period, generator=torch.Generator().manual_seed(5), dtype=x.dtype
    )
    residual = tile.repeat(1, 1, 24 // period, 24 // period) + 0.3
    torch.testing.assert_close(
        periodic_fraction(x + residual, x, period), torch.ones(3, dtype=x.dtype)
    )


def test_prf_of_a_constant_residual_is_zero():
    x = strokes(3)
    assert torch.equal(periodic_fraction(x + 0.25, x, 2), torch.zeros(3, dtype=x.dtype))


# --- PACE -----------------------------------------------------------------------------------------


def test_pace_sees_a_stroke_modulated_checkerboard_at_its_energy_where_cbe_does_not():
    x = strokes(32)
    residual = 0.2 * checkerboard(28, 28) * x
    recon = x + residual
    true_energy = residual.square().sum() / centered_energy(x).sum()
    pace = phase_affine_energy(recon, x, 2)
    assert pace == pytest.approx(true_energy.item(), rel=0.05)
    cbe = periodic_energy(recon, x, 2).mean()
    assert pace >= 3 * cbe


def test_pace_matches_cbe_for_an_additive_checkerboard():
    x = strokes(32)
    recon = x + 0.05 * checkerboard(28, 28)
    pooled_cbe = (0.05**2 * 28 * 28 * 32) / centered_energy(x).sum()
    assert phase_affine_energy(recon, x, 2) == pytest.approx(pooled_cbe.item(), rel=0.02)


def test_pace_pools_pixels_instead_of_averaging_per_image():
    x = strokes(8)
    recon = (
        x
        + 0.1
        * checkerboard(28, 28)
        * x
        * torch.linspace(0, 1, 8, dtype=x.dtype)[:, None, None, None]
    )
    pooled = phase_affine_energy(recon, x, 2)
    halves = [phase_affine_energy(recon[s], x[s], 2) for s in (slice(0, 4), slice(4, 8))]
    assert not math.isclose(pooled, sum(halves) / 2, rel_tol=1e-3)


# --- residual spectrum ----------------------------------------------------------------------------


def test_residual_spectrum_is_centred_and_sums_to_the_residual_energy():
    x = strokes(5)
    recon = x + 0.1 * checkerboard(28, 28) + 0.02
    spectrum = residual_spectrum(recon, x)
    assert spectrum.shape == (28, 28)
    torch.testing.assert_close(spectrum.sum(), (recon - x).square().sum() / 5)
    assert spectrum[14, 14] == pytest.approx(0.02**2 * 28 * 28)
    assert spectrum[0, 0] == pytest.approx(0.1**2 * 28 * 28)


# --- FFCR -----------------------------------------------------------------------------------------


def mean_ffcr(make_block, seeds=range(6), period=2, in_shape=(8, 16, 16)) -> float:
    values = []
    for seed in seeds:
        torch.manual_seed(seed)
        values.append(flat_field_ratio(make_block(), in_shape, period))
    return sum(values) / len(values)


def test_ffcr_is_zero_for_nearest_resize_conv():
    for seed in range(4):
        torch.manual_seed(seed)
        assert flat_field_ratio(ResizeConvUp(8, 8, mode="nearest"), (8, 16, 16), 2) < 1e-10


def test_ffcr_is_zero_for_icnr_pixel_shuffle():
    for seed in range(4):
        torch.manual_seed(seed)
        block = PixelShuffleUp(8, 8, init="icnr")
        assert torch.count_nonzero(block.upsample[0].bias) == 0
        assert flat_field_ratio(block, (8, 16, 16), 2) < 1e-10


def test_ffcr_is_large_for_a_stride_2_kernel_3_transposed_conv():
    assert mean_ffcr(partial(TransposedConvUp, 8, 8, kernel_size=3)) > 0.3


def test_ffcr_is_clearly_positive_for_default_pixel_shuffle():
    assert mean_ffcr(partial(PixelShuffleUp, 8, 8, init="default")) > 0.1


def test_blur_removes_the_period_2_flat_field_pattern():
    assert mean_ffcr(partial(TransposedConvUp, 8, 8, kernel_size=3, smooth=1)) < 1e-10


def test_ffcr_of_whole_decoders_without_a_checkerboard_is_zero():
    torch.manual_seed(0)
    icnr = UpsamplingDecoder(4, 1, partial(PixelShuffleUp, init="icnr"), widths=(16, 32))
    assert flat_field_ratio(icnr, (4, 16, 16), 2) < 1e-10
    assert flat_field_ratio(icnr, (4, 16, 16), 4) < 1e-10
    assert flat_field_ratio(Conv2DTransposeSeedDecoder(), (8, 40, 40), 2) < 1e-10


def test_flat_field_crop_and_decoder_left_untouched():
    block = ResizeConvUp(3, 2, mode="nearest")
    field, margin = flat_field_response(block, (3, 10, 12))
    assert margin == 1 and field.shape == (2, 18, 22)
    assert field.dtype == torch.float64 and block.training
    assert next(block.parameters()).dtype == torch.float32
    field, margin = flat_field_response(block, (3, 10, 12), margin=4)
    assert margin == 4 and field.shape == (2, 12, 16)


def test_flat_field_rejects_a_margin_that_leaves_nothing():
    with pytest.raises(ValueError, match=r"margin of 10 px .* 20x20 .* \(3, 10, 10\)"):
        flat_field_ratio(ResizeConvUp(3, 3), (3, 10, 10), 2, margin=10)
    with pytest.raises(ValueError, match=r"in_shape must be \(C, H, W\).*\(10, 10\)"):
        flat_field_ratio(ResizeConvUp(3, 3), (10, 10), 2)


def test_ffcr_of_a_dead_decoder_is_nan_with_one_warning():
    dead = nn.Conv2d(2, 1, 3, padding=1)
    nn.init.zeros_(dead.weight)
    nn.init.zeros_(dead.bias)
    with pytest.warns(RuntimeWarning, match="zero in a channel") as caught:
        values = [flat_field_ratio(dead, (2, 12, 12), 2) for _ in range(2)]
    assert all(math.isnan(v) for v in values)
    assert len([w for w in caught if "zero in a channel" in str(w.message)]) == 1


# --- lattice periods ------------------------------------------------------------------------------


def test_lattice_periods_follow_the_decoder_stages():
    assert lattice_periods(2, 28, 28) == (2, 4)
    assert lattice_periods(3, 32, 32) == (2, 4, 8)
    assert lattice_periods(3, 28, 28) == (2, 4, 8)
    assert lattice_periods(5, 28, 28) == (2, 4, 8, 16)
    assert lattice_periods(0, 28, 28) == (2,)
    assert lattice_periods(3, 6, 28) == (2, 4)


@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
def test_seed_upsampling_decoder_keeps_a_period_8_lattice(interpolation):
    """Its valid conv crops a pixel but stays shift-equivariant: one latent pixel is 8 output
    pixels, so periods 2, 4 and 8 all apply (the metrics ignore the lattice's offset)."""
    torch.manual_seed(0)
    decoder = UpSampling2DSeedDecoder(interpolation=interpolation).double().eval()
    latent = torch.randn(1, 8, 16, 16, dtype=torch.float64)
    with torch.no_grad():
        out, shifted = decoder(latent), decoder(latent.roll(1, dims=-1))
    assert out.shape[-1] == 8 * 16 - 4
    torch.testing.assert_close(shifted[..., 24:96, 32:96], out[..., 24:96, 24:88])


# --- dtypes and devices ---------------------------------------------------------------------------


def test_float32_and_float64_agree_and_keep_their_dtype():
    x = strokes(6)
    recon = x + 0.1 * checkerboard(28, 28) * x + 0.01 * torch.rand(x.shape, dtype=x.dtype)
    for metric in FUNCTIONALS:
        double = metric(recon, x, 4)
        single = metric(recon.float(), x.float(), 4)
        assert double.dtype == torch.float64 and single.dtype == torch.float32
        torch.testing.assert_close(single.double(), double, rtol=1e-4, atol=1e-9)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu():
    x = strokes(6)
    recon = x + 0.1 * checkerboard(28, 28) * x
    on_cpu, on_gpu = (recon, x), (recon.float().cuda(), x.float().cuda())
    for metric in FUNCTIONALS:
        value = metric(*on_gpu, 4)
        assert value.device.type == "cuda"
        torch.testing.assert_close(value.cpu().double(), metric(*on_cpu, 4), rtol=1e-4, atol=1e-8)
    torch.testing.assert_close(
        residual_spectrum(*on_gpu).cpu().double(), residual_spectrum(*on_cpu), rtol=1e-4, atol=1e-8
    )
    scores = CheckerboardScores([2, 4]).cuda()
    scores.update(*on_gpu)
    computed = {name: value.cpu() for name, value in scores.compute().items()}
    torch.testing.assert_close(computed, expected_scores(*on_cpu, [2, 4]), rtol=1e-4, atol=1e-8)
    block = TransposedConvUp(8, 8)
    reference = flat_field_ratio(block, (8, 16, 16), 2)
    assert flat_field_ratio(block.cuda(), (8, 16, 16), 2) == pytest.approx(reference, rel=1e-9)


# --- bad input ------------------------------------------------------------------------------------


@pytest.mark.parametrize("metric", FUNCTIONALS)
def test_bad_periods_are_refused(metric):
    x = strokes(2)
    for period in (1, 0, -2, 2.0, True):
        with pytest.raises(ValueError, match="integer >= 2"):
            metric(x, x, period)
    with pytest.raises(ValueError, match=r"larger than the images .*\(2, 1, 28, 28\)"):
        metric(x, x, 29)


@pytest.mark.parametrize("metric", FUNCTIONALS)
def test_bad_shapes_are_refused_with_the_shapes(metric):
    x = strokes(2)
    with pytest.raises(ValueError, match=r"equal shapes.*\(2, 1, 28, 28\).*\(2, 1, 27, 28\)"):
        metric(x, x[..., :27, :], 2)
    with pytest.raises(ValueError, match=r"4D.*\(2, 28, 28\)"):
        metric(x[:, 0], x[:, 0], 2)
    with pytest.raises(ValueError, match=r"equal shapes"):
        CheckerboardScores([2]).update(x, x[:1])


def test_constant_target_gives_nan_and_warns_once():
    x = strokes(3)
    x[1] = 0.5
    recon = x + 0.1 * checkerboard(28, 28)
    with pytest.warns(RuntimeWarning, match="constant") as caught:
        cbe = periodic_energy(recon, x, 2)
        pace = phase_affine_energy(recon, x, 2)
        periodic_energy(recon, x, 2)
    assert len([w for w in caught if "constant" in str(w.message)]) == 1
    assert math.isnan(cbe[1]) and torch.isfinite(cbe[[0, 2]]).all()
    assert math.isnan(pace)
    assert torch.isfinite(periodic_fraction(recon, x, 2)).all()


# --- the epoch Metric classes ---------------------------------------------------------------------


def batches(count=3, size=7):
    x = strokes(count * size, seed=7)
    generator = torch.Generator().manual_seed(8)
    recon = (
        x
        + 0.15
        * checkerboard(28, 28)
        * x
        * torch.rand(x.shape[0], 1, 1, 1, generator=generator, dtype=x.dtype)
        + 0.02 * torch.randn(x.shape, generator=generator, dtype=x.dtype)
    )
    return recon.float(), x.float()


def expected_scores(recon, x, periods):
    scores = {}
    for s in periods:
        scores[f"cbe{s}"] = periodic_energy(recon, x, s).double().mean()
        scores[f"prf{s}"] = periodic_fraction(recon, x, s).double().mean()
        scores[f"pace{s}"] = phase_affine_energy(recon, x, s).double()
    return scores


def test_scores_accumulated_over_batches_equal_the_functionals_on_all_images():
    recon, x = batches()
    metric = CheckerboardScores([2, 4, 8])
    for chunk in range(3):
        part = slice(7 * chunk, 7 * chunk + 7)
        metric.update(recon[part], x[part])
    computed = metric.compute()
    assert set(computed) == {f"{m}{s}" for m in ("cbe", "prf", "pace") for s in (2, 4, 8)}
    torch.testing.assert_close(
        computed, expected_scores(recon, x, [2, 4, 8]), rtol=1e-5, atol=1e-10
    )


def test_scores_reset_between_epochs():
    recon, x = batches()
    metric = CheckerboardScores([2, 4])
    metric.update(recon[:7], x[:7])
    metric.compute()
    metric.reset()
    assert metric.images == 0 and torch.count_nonzero(metric.phase_stats) == 0
    metric.update(recon[7:], x[7:])
    torch.testing.assert_close(
        metric.compute(), expected_scores(recon[7:], x[7:], [2, 4]), rtol=1e-5, atol=1e-10
    )


def test_scores_states_sum_across_processes():
    """The states are sums (DDP's reduction): merging two halves equals seeing everything."""
    recon, x = batches()
    whole, first, second = (CheckerboardScores([2, 4]) for _ in range(3))
    whole.update(recon, x)
    first.update(recon[:10], x[:10])
    second.update(recon[10:], x[10:])
    first.merge_state(second)
    torch.testing.assert_close(first.compute(), whole.compute())
    assert all(first._reductions[name] is not None for name in first._defaults)


def test_scores_skip_constant_targets_in_cbe_and_make_pace_nan():
    recon, x = batches(count=1)
    x[2] = 0.0
    metric = CheckerboardScores([2])
    metric.update(recon, x)
    with pytest.warns(RuntimeWarning, match="constant"):
        scores = metric.compute()
    keep = [i for i in range(7) if i != 2]
    assert scores["cbe2"] == pytest.approx(
        periodic_energy(recon[keep], x[keep], 2).mean().item(), rel=1e-5
    )
    assert math.isnan(scores["pace2"])


def test_residual_spectrum_metric_accumulates_like_the_functional():
    recon, x = batches()
    metric = ResidualSpectrum(28, 28)
    for chunk in range(3):
        part = slice(7 * chunk, 7 * chunk + 7)
        metric.update(recon[part], x[part])
    torch.testing.assert_close(
        metric.compute(), residual_spectrum(recon, x).double(), rtol=1e-5, atol=1e-9
    )
    metric.reset()
    assert metric.images == 0
    with pytest.raises(ValueError, match=r"\(28, 28\).*\(2, 1, 20, 20\)"):
        metric.update(torch.zeros(2, 1, 20, 20), torch.zeros(2, 1, 20, 20))


# --- decoderlab-probe -----------------------------------------------------------------------------


def test_probe_tabulates_every_block_and_writes_csv(tmp_path, capsys):
    out = tmp_path / "probe" / "ffcr.csv"
    assert probe.main(["--inits", "2", "--out", str(out)]) == 0
    assert str(out) in capsys.readouterr().out.replace("\n", "")
    rows = {row["block"]: row for row in csv.DictReader(out.open())}
    variants = decoder_variants()
    blurred = {
        f"{v}_blur"
        for v, f in variants.items()
        if "smooth" in f.knobs and not f.variants[v].get("smooth", 0)
    }
    names = [row["block"] for row in csv.DictReader(out.open())]
    assert len(names) == len(set(names)), "a block probed twice"
    assert set(rows) == set(variants) | blurred
    assert {"transposed_conv_k3", "transposed_conv_k3_blur", "pixel_shuffle_icnr_blur"} <= set(rows)
    assert set(rows["resize_conv_nearest"]) >= {"decoder_ffcr4_mean", "block_ffcr2_std"}
    for name, row in rows.items():
        stride_2 = ("transposed_conv", "pixel_shuffle_default", "separable_transposed_conv")
        artifact_free = not name.startswith(stride_2)
        if artifact_free or name.endswith("_blur") or "_smooth" in name:
            assert float(row["block_ffcr2_mean"]) < 1e-10, name
            assert float(row["decoder_ffcr4_mean"]) < 1e-10, name
        else:
            assert float(row["block_ffcr2_mean"]) > 0.3, name


def test_probe_bad_arguments_exit_non_zero_with_a_message(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        probe.main(["--inits", "0"])
    assert exit_info.value.code == 2 and "--inits: 0 must be >= 1" in capsys.readouterr().err
    assert probe.main(["--inits", "1", "--size", "2", "--out", str(tmp_path / "x.csv")]) == 2
    assert "larger --size" in capsys.readouterr().err
    blocked = tmp_path / "file"
    blocked.write_text("")
    assert probe.main(["--inits", "1", "--out", str(blocked / "x.csv")]) == 1
    assert "cannot write" in capsys.readouterr().err
