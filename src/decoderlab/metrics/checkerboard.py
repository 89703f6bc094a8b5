"""Checkerboard metrics on torch tensors: CBE, PRF, PACE, FFCR, spectrum (docs/metrics.md).

Images are (N, C, H, W), any H x W, CPU or CUDA, float32 or float64. Pixel-wide passes run in
the input's precision; reductions are carried in float64 and results come back in the
input's dtype. ``r = recon - target``; channels are treated as separate images whose
energies add. Phases and the ``offset`` are described in ``decoderlab.metrics.phases``: an
offset renames phases, so no value here depends on it.

A constant target (E_x = 0) gives CBE and PACE no scale: they return NaN for it and warn once
per process. PRF does not use the target and stays defined.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from decoderlab.metrics.flat_field import flat_field_ratio, flat_field_response
from decoderlab.metrics.phases import check_pair, phase_indicator, split_phases, warn_once_if

CONSTANT_TARGET_WARNING = (
    "checkerboard metrics: a target image is constant (E_x = 0), so CBE and PACE are "
    "undefined for it and come back NaN"
)


def working_dtype(tensor: torch.Tensor) -> torch.dtype:
    """float64 stays float64; float32, half and integer images are processed in float32."""
    return torch.float64 if tensor.dtype == torch.float64 else torch.float32


def residual_of(recon: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """r = recon - target in the wider of the two working dtypes."""
    dtype = torch.promote_types(working_dtype(recon), working_dtype(target))
    return recon.to(dtype) - target.to(dtype)


def _centered_energy(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """float64 sum of (x - mean x)^2 per image, channels summed (N,); and any channel constant.

    A channel counts as constant when its energy is within rounding of zero.
    """
    pixels = images.flatten(2)
    energy = pixels.var(dim=-1, correction=0) * pixels.shape[-1]
    low, high = pixels.aminmax(dim=-1)
    scale = torch.maximum(high, -low)
    constant = energy <= pixels.shape[-1] * (8 * torch.finfo(pixels.dtype).eps * scale) ** 2
    return energy.double().sum(1), constant.any(1)


def target_energy(target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """E_x per image in float64 (N,) and whether the target is constant (N,)."""
    return _centered_energy(target.to(working_dtype(target)))


def residual_spread(residual: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """||r - mean r||^2 per image in float64 (N,) and whether the residual is constant (N,)."""
    return _centered_energy(residual)


def periodic_residual_energy(
    residual: torch.Tensor, periods: Sequence[int], offset: Sequence[int] = (0, 0)
) -> torch.Tensor:
    """||P_s r||^2 = sum over phases of n_ab (m_ab - mean r)^2 per period and image: (P, N).

    One matrix product sums every phase of every period; float64 result.
    """
    onehot = phase_indicator(
        *residual.shape[-2:], periods, offset, dtype=residual.dtype, device=residual.device
    )
    counts, sums = onehot.sum(0), residual.flatten(2) @ onehot
    mean = sums[..., : periods[0] ** 2].sum(-1, keepdim=True) / residual[0, 0].numel()
    energy = counts * (sums / counts - mean).square()
    return torch.stack([part.sum(dim=(1, 2)) for part in split_phases(energy, periods)]).double()


def periodic_energy(
    recon: torch.Tensor, target: torch.Tensor, period: int, offset: Sequence[int] = (0, 0)
) -> torch.Tensor:
    """CBE_s = ||P_s r||^2 / E_x per image: (N,), dimensionless, 0 when perfect."""
    check_pair(recon, target, [period])
    energy, constant = target_energy(target)
    warn_once_if(constant, CONSTANT_TARGET_WARNING)
    periodic = periodic_residual_energy(residual_of(recon, target), [period], offset)[0]
    cbe = torch.where(constant, torch.nan, periodic / torch.where(constant, 1.0, energy))
    return cbe.to(working_dtype(target))


def periodic_fraction(
    recon: torch.Tensor, target: torch.Tensor, period: int, offset: Sequence[int] = (0, 0)
) -> torch.Tensor:
    """PRF_s = ||P_s r||^2 / ||r - mean r||^2 per image (N,) in [0, 1]; 0 for a constant residual.

    White noise gives (s^2 - 1) / (HW - 1) on average; a purely s-periodic residual gives 1.
    """
    check_pair(recon, target, [period])
    residual = residual_of(recon, target)
    spread, flat = residual_spread(residual)
    periodic = periodic_residual_energy(residual, [period], offset)[0]
    prf = torch.where(flat, 0.0, periodic / torch.where(flat, 1.0, spread))
    return prf.to(working_dtype(target))


def pixel_moments(target: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
    """Sums over images and channels of x, x^2, r and x r at every pixel: float64 (4, H, W)."""
    x = target.to(residual.dtype)
    moments = [x.sum((0, 1)), x.square().sum((0, 1)), residual.sum((0, 1))]
    return torch.stack([*moments, (x * residual).sum((0, 1))]).double()


def phase_affine_stats(
    moments: torch.Tensor, images: int, periods: Sequence[int], offset: Sequence[int] = (0, 0)
) -> torch.Tensor:
    """Sufficient statistics of the per-phase fits r ~ alpha + beta x: float64 (5, sum of s*s).

    Rows: pixel count n, sum x, sum x^2, sum r, sum x r per phase, from ``pixel_moments``
    of ``images`` image-channels. They add over batches, so pooling is a running sum.
    """
    onehot = phase_indicator(*moments.shape[-2:], periods, offset, device=moments.device)
    counts = onehot.sum(0) * images
    return torch.cat([counts[None], moments.flatten(1) @ onehot])


def _affine_fit(stats: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Least-squares (alpha, beta) of r ~ alpha + beta x from stats (5, ...); beta=0 if x const."""
    n, sx, sxx, sr, sxr = stats
    vxx = sxx - sx * sx / n
    cxr = sxr - sx * sr / n
    degenerate = vxx <= 1e-12 * sxx.clamp_min(torch.finfo(stats.dtype).tiny)
    beta = torch.where(degenerate, 0.0, cxr / torch.where(degenerate, 1.0, vxx))
    return (sr - beta * sx) / n, beta


def phase_affine_from_stats(stats: torch.Tensor, energy: torch.Tensor) -> torch.Tensor:
    """PACE_s = ||A||^2 / E_x from one period's pooled stats (5, s*s) and pooled E_x (0-d)."""
    alpha_phase, beta_phase = _affine_fit(stats)
    alpha, beta = _affine_fit(stats.sum(1))
    d_alpha, d_beta = alpha_phase - alpha, beta_phase - beta
    n, sx, sxx = stats[0], stats[1], stats[2]
    artifact = (n * d_alpha**2 + 2 * d_alpha * d_beta * sx + d_beta**2 * sxx).sum().clamp_min(0)
    return artifact / energy


def phase_affine_energy(
    recon: torch.Tensor, target: torch.Tensor, period: int, offset: Sequence[int] = (0, 0)
) -> torch.Tensor:
    """PACE_s pooled over all pixels of all images given: a 0-d tensor, 0 when perfect.

    Fits r ~ alpha + beta x over all pixels and per phase; the artifact
    A = sum_ab [(alpha_ab - alpha) + (beta_ab - beta) x] 1_ab catches checkerboards that sit
    on the strokes. If any target is constant the result is NaN (one-time warning), as for CBE.
    """
    check_pair(recon, target, [period])
    energy, constant = target_energy(target)
    warn_once_if(constant, CONSTANT_TARGET_WARNING)
    moments = pixel_moments(target, residual_of(recon, target))
    stats = phase_affine_stats(moments, target.shape[0] * target.shape[1], [period], offset)
    pace = phase_affine_from_stats(stats, energy.sum())
    return torch.where(constant.any(), torch.nan, pace).to(working_dtype(target))


def residual_power(recon: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """|FFT2(r)|^2 / (H W) summed over images and channels, DC at [0, 0]: float64 (H, W)."""
    check_pair(recon, target, [])
    residual = residual_of(recon, target)
    power = torch.fft.fft2(residual).abs().square().sum(dim=(0, 1))
    return power.double() / residual[0, 0].numel()


def residual_spectrum(recon: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean power spectrum of the residual over images and channels, DC at the centre: (H, W).

    Power is |FFT2(r)|^2 / (H W), so the map sums to the mean of ||r||^2 per image and channel.
    """
    power = residual_power(recon, target) / (recon.shape[0] * recon.shape[1])
    return torch.fft.fftshift(power).to(working_dtype(target))


__all__ = [
    "flat_field_ratio",
    "flat_field_response",
    "periodic_energy",
    "periodic_fraction",
    "phase_affine_energy",
    "residual_spectrum",
]
