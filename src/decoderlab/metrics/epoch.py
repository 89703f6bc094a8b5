"""torchmetrics classes that accumulate the checkerboard metrics over a validation or test epoch.

States are float64 sums with ``dist_reduce_fx="sum"``, so DDP ranks combine exactly, and
``reset()`` starts the next epoch. ``update`` never waits on the device; the one-time
constant-target warning is raised in ``compute``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torchmetrics import Metric

from decoderlab.metrics.checkerboard import (
    CONSTANT_TARGET_WARNING,
    periodic_residual_energy,
    phase_affine_from_stats,
    phase_affine_stats,
    pixel_moments,
    residual_of,
    residual_power,
    residual_spread,
    target_energy,
)
from decoderlab.metrics.phases import check_pair, check_period, once, split_phases


def _zeros(*shape: int) -> torch.Tensor:
    return torch.zeros(shape, dtype=torch.float64)


class CheckerboardScores(Metric):
    """CBE_s, PRF_s and PACE_s for several periods, from (recon, target) batches (N, C, H, W).

    ``compute()`` returns ``{"cbe{s}": ..., "prf{s}": ..., "pace{s}": ...}`` (0-d float64):
    CBE and PRF are means over the images seen (images with a constant target are left out
    of CBE and counted), PACE is pooled over every pixel seen, from summed least-squares
    statistics; any constant target makes PACE NaN, as in ``phase_affine_energy``. One pass
    over a batch serves every metric and period.
    """

    full_state_update = False
    is_differentiable = False
    higher_is_better = False

    def __init__(self, periods: Sequence[int], offset: Sequence[int] = (0, 0), **kwargs) -> None:
        super().__init__(**kwargs)
        if not periods:
            raise ValueError("CheckerboardScores needs at least one period, got none")
        for period in periods:
            check_period(period)
        self.periods, self.offset = tuple(periods), tuple(offset)
        count = len(self.periods)
        self.add_state("cbe_sum", _zeros(count), dist_reduce_fx="sum")
        self.add_state("prf_sum", _zeros(count), dist_reduce_fx="sum")
        self.add_state("images", _zeros(), dist_reduce_fx="sum")
        self.add_state("constant_targets", _zeros(), dist_reduce_fx="sum")
        self.add_state("energy", _zeros(), dist_reduce_fx="sum")
        phases = sum(s * s for s in self.periods)
        self.add_state("phase_stats", _zeros(5, phases), dist_reduce_fx="sum")

    def update(self, recon: torch.Tensor, target: torch.Tensor) -> None:
        check_pair(recon, target, self.periods)
        residual = residual_of(recon, target)
        energy, constant = target_energy(target)
        spread, flat = residual_spread(residual)
        periodic = periodic_residual_energy(residual, self.periods, self.offset)
        self.cbe_sum += torch.where(
            constant, 0.0, periodic / torch.where(constant, 1.0, energy)
        ).sum(-1)
        self.prf_sum += torch.where(flat, 0.0, periodic / torch.where(flat, 1.0, spread)).sum(-1)
        self.images += len(target)
        self.constant_targets += constant.sum()
        self.energy += energy.sum()
        moments = pixel_moments(target, residual)
        images = target.shape[0] * target.shape[1]
        self.phase_stats += phase_affine_stats(moments, images, self.periods, self.offset)

    def compute(self) -> dict[str, torch.Tensor]:
        if self.constant_targets > 0:
            once.warn(CONSTANT_TARGET_WARNING, category=RuntimeWarning)
        defined = self.images - self.constant_targets
        cbe = self.cbe_sum / defined if defined > 0 else self.cbe_sum * torch.nan
        prf = self.prf_sum / self.images if self.images > 0 else self.prf_sum * torch.nan
        stats = split_phases(self.phase_stats, self.periods)
        undefined = self.constant_targets > 0 or self.images == 0
        scores = {}
        for i, (period, period_stats) in enumerate(zip(self.periods, stats, strict=True)):
            pace = phase_affine_from_stats(period_stats, self.energy)
            scores.update(
                {
                    f"cbe{period}": cbe[i],
                    f"prf{period}": prf[i],
                    f"pace{period}": pace * torch.nan if undefined else pace,
                }
            )
        return scores


class ResidualSpectrum(Metric):
    """Mean residual power spectrum over the images and channels seen: (H, W), DC centred."""

    full_state_update = False
    is_differentiable = False

    def __init__(self, height: int, width: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.add_state("power", _zeros(height, width), dist_reduce_fx="sum")
        self.add_state("images", _zeros(), dist_reduce_fx="sum")

    def update(self, recon: torch.Tensor, target: torch.Tensor) -> None:
        if recon.shape[-2:] != self.power.shape:
            raise ValueError(
                f"ResidualSpectrum was made for {tuple(self.power.shape)} images, got recon "
                f"{tuple(recon.shape)} and target {tuple(target.shape)}"
            )
        self.power += residual_power(recon, target)
        self.images += recon.shape[0] * recon.shape[1]

    def compute(self) -> torch.Tensor:
        return torch.fft.fftshift(self.power / self.images)
