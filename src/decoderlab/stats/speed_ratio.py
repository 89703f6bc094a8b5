"""A speed ratio with a confidence interval, from alternating blocks of measurements.

A benchmark measures the two things it compares in short blocks, one right after the other,
again and again; each block gives one ratio of rates, so slow drifts of a shared machine (other
processes, clock speed) cancel within a block. The ratio reported is the geometric mean of the
block ratios with a t interval on their logarithms (a paired log-ratio interval: the interval
of a mean of paired log differences, exponentiated, as for a ratio of geometric means in
bioequivalence; FDA guidance, Statistical Approaches to Establishing Bioequivalence, 2001).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RatioInterval:
    """Ratio of rates (numerator / denominator) with its ``confidence`` interval [low, high]."""

    ratio: float
    low: float
    high: float
    blocks: int
    confidence: float = 0.95

    @property
    def half_width(self) -> float:
        """Half the interval's length, in ratio units (0.05: the ratio is known to ±0.05)."""
        return (self.high - self.low) / 2

    def __str__(self) -> str:
        return f"{self.ratio:.2f} [{self.low:.2f}, {self.high:.2f}]"

    def as_record(self) -> dict[str, float | int]:
        """Unrounded, so that every field can be recomputed from the others exactly."""
        return {
            "ratio": self.ratio,
            "low": self.low,
            "high": self.high,
            "half_width": self.half_width,
            "blocks": self.blocks,
            "confidence": self.confidence,
        }


def paired_ratio(
    numerators: Sequence[float], denominators: Sequence[float], confidence: float = 0.95
) -> RatioInterval:
    """Geometric-mean ratio of paired rates and its t interval on log ratios.

    ``numerators[i]`` and ``denominators[i]`` are rates (e.g. samples/s, > 0) measured in the
    same block i. ValueError with fewer than 2 blocks, unequal lengths or a rate <= 0.
    """
    num = np.asarray(numerators, dtype=float)
    den = np.asarray(denominators, dtype=float)
    if num.shape != den.shape or num.ndim != 1:
        raise ValueError(f"paired rates need equal lengths, got {num.shape} and {den.shape}")
    if len(num) < 2:
        raise ValueError(f"an interval needs at least 2 blocks, got {len(num)}")
    if (num <= 0).any() or (den <= 0).any() or not np.isfinite(num * den).all():
        raise ValueError("rates must be finite and > 0")
    logs = np.log(num / den)
    if np.ptp(logs) == 0:
        ratio = math.exp(logs[0])
        return RatioInterval(ratio, ratio, ratio, len(logs), confidence)
    low, high = stats.ttest_1samp(logs, 0.0).confidence_interval(confidence)
    return RatioInterval(
        math.exp(logs.mean()), math.exp(low), math.exp(high), len(logs), confidence
    )


def measure_until_narrow(
    run_block: Callable[[], None],
    intervals: Callable[[], list[RatioInterval]],
    half_width: float = 0.05,
    min_blocks: int = 8,
    max_blocks: int = 60,
    name: str = "",
) -> int:
    """Run blocks until every interval's half-width is at most ``half_width``.

    ``run_block()`` measures one more block; ``intervals()`` gives the current intervals. At
    least ``min_blocks`` (>= 2) and at most ``max_blocks`` blocks are run; returns how many.
    The rule looks at the intervals' widths only, never at the ratios, so it does not steer
    where the ratio lands. Each block's half-widths are logged (INFO), under ``name``.
    """
    if not 2 <= min_blocks <= max_blocks:
        raise ValueError(f"need 2 <= min_blocks <= max_blocks, got {min_blocks}, {max_blocks}")
    for block in range(1, max_blocks + 1):
        run_block()
        if block < 2:
            continue
        current = intervals()
        log.info(
            "%s block %d: half-widths %s (target %.3f)",
            name,
            block,
            ", ".join(f"{i.half_width:.3f}" for i in current),
            half_width,
        )
        if block >= min_blocks and all(i.half_width <= half_width for i in current):
            return block
    return max_blocks
