"""Does a short budget's comparison agree with a long one's? How a default budget is chosen.

A short training budget is a low-fidelity proxy for a trained model (multi-fidelity
evaluation: Li et al. 2018, Hyperband; short-budget proxies can rank poorly, e.g.
Abdelfattah et al. 2021). Two numbers say whether a proxy is good enough, each against a
long reference on the same task and decoders:

* **ranking**: Kendall's τ (``scipy.stats.kendalltau``, τ-b) between the decoders' mean
  values under the two budgets;
* **effect sizes**: each decoder's mean paired difference to the reference's best, as a
  fraction of the best's mean, under each budget. Their ratio (short / long) is how much the
  short budget overstates (> 1) or understates (< 1) the gap a user would see in a trained
  model; ``scale`` summarises it as the least-squares slope through the origin of the short
  effects on the long ones.

``by_epoch`` reads every shorter budget off a long run's per-epoch history: with a constant
learning rate and the same seeds, the model after epoch k of a long run is the model a
k-epoch run trains, so one long sweep measures every epoch budget below it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from decoderlab.stats.budget import finite_histories, values_at

# effects smaller than this fraction of the best's mean are not used for ratios: their ratio
# is dominated by seed noise
MIN_EFFECT = 0.01


@dataclass(frozen=True)
class Agreement:
    """A short budget against a long one, over the decoders both measured.

    ``tau``, ``p``: Kendall's τ-b between the mean rankings and its two-sided p;
    ``effects``: decoder -> (short, long) mean paired difference to ``best`` (the long
    budget's best), as a fraction of the best's mean under the same budget; positive: worse
    than the best, whichever way the metric points. ``label`` names the short budget.
    """

    label: str
    tau: float
    p: float
    best: str
    effects: dict[str, tuple[float, float]]

    def ratios(self, min_effect: float = MIN_EFFECT) -> dict[str, float]:
        """short / long effect per decoder whose long effect is at least ``min_effect``."""
        return {d: s / g for d, (s, g) in self.effects.items() if g >= min_effect}

    @property
    def scale(self) -> float:
        """Least-squares slope of the short effects on the long ones, through the origin:
        Σ short·long / Σ long² over the decoders other than the best (NaN when every long
        effect is 0). 2.0: the short budget shows gaps twice as large."""
        pairs = [(s, g) for d, (s, g) in self.effects.items() if d != self.best]
        denominator = sum(g * g for _, g in pairs)
        return sum(s * g for s, g in pairs) / denominator if denominator else math.nan

    def within(self, factor: float, min_effect: float = MIN_EFFECT) -> bool:
        """Every ratio (``ratios``) in [1/factor, factor]; False when there is none."""
        ratios = list(self.ratios(min_effect).values())
        return bool(ratios) and all(1 / factor <= r <= factor for r in ratios)


def _mean(values: Mapping[int, float]) -> float:
    return float(np.mean(list(values.values())))


def _effect(values: Mapping[str, Mapping[int, float]], decoder: str, best: str, sign: float):
    shared = sorted(set(values[decoder]) & set(values[best]))
    if not shared:
        return math.nan
    difference = np.mean([values[decoder][s] - values[best][s] for s in shared])
    return float(sign * difference / abs(np.mean([values[best][s] for s in shared])))


def agreement(
    short: Mapping[str, Mapping[int, float]],
    long: Mapping[str, Mapping[int, float]],
    higher_better: bool = False,
    label: str = "short",
) -> Agreement:
    """Compare two budgets' values, each {decoder: {seed: value}} of one metric.

    The decoders both have values for are compared; the effects are paired over the seeds a
    decoder shares with the long budget's best under each budget. ValueError with fewer than
    3 shared decoders (τ needs 3 to mean anything).
    """
    decoders = sorted(d for d in short if short[d] and long.get(d))
    if len(decoders) < 3:
        raise ValueError(f"an agreement needs 3 or more decoders in both budgets, got {decoders}")
    sign = -1.0 if higher_better else 1.0
    long_means = np.array([_mean(long[d]) for d in decoders])
    short_means = np.array([_mean(short[d]) for d in decoders])
    best = decoders[int(np.argmin(sign * long_means))]
    result = stats.kendalltau(short_means, long_means)
    effects = {d: (_effect(short, d, best, sign), _effect(long, d, best, sign)) for d in decoders}
    return Agreement(label, float(result.statistic), float(result.pvalue), best, effects)


def by_epoch(
    histories: Mapping[str, Mapping[int, Sequence[float]]], higher_better: bool = False
) -> list[Agreement]:
    """Every epoch k of ``histories`` ({decoder: {seed: per-epoch values}}) against the last
    epoch (``agreement`` of the values at k with those at the last epoch, labelled
    ``"epoch k"``), for k = 1 .. last. Runs are cut to the shortest history; a run with a
    value that is not finite is left out."""
    runs, epochs = finite_histories(histories)
    if not runs:
        raise ValueError("by_epoch needs at least one history")
    final = values_at(runs, epochs)
    return [
        agreement(values_at(runs, k), final, higher_better, f"epoch {k}")
        for k in range(1, epochs + 1)
    ]
