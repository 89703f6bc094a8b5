"""Is the budget long enough for the verdicts? A check from each run's per-epoch history.

A comparison at a fixed budget ranks how far each decoder got in that many epochs. If the
ranking or a verdict computed at an earlier epoch (half and three quarters of the budget)
differs from the one at the last epoch, it was still moving when training stopped and may
move further with more epochs (learning-curve ranking: Domhan et al. 2015, IJCAI; the
budget-correlation check of multi-fidelity optimisation, e.g. DeepCAVE, Sass et al. 2022).
Agreement is Kendall's τ (``scipy.stats.kendalltau``) between the decoders' mean values at an
earlier epoch and at the last one; each decoder's relative improvement over the last quarter
of the epochs says whether it had converged.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import stats

from decoderlab.stats.paired import ALPHA, PairedVerdicts, compare_to_best

FRACTIONS = (0.5, 0.75)
# the ranking counts as settled when τ with the final ranking is at least this (at most about
# one discordant pair in ten)
TAU_SETTLED = 0.8
# a decoder counts as converged when its mean improved less than this over the last quarter
CONVERGED = 0.01


@dataclass(frozen=True)
class Checkpoint:
    """The comparison at an earlier ``epoch`` (1-based): Kendall's ``tau`` (and its ``p``)
    of the decoders' mean values against the last epoch's, the verdicts then, and
    ``changed``: decoder -> (outcome then, outcome at the last epoch) where they differ."""

    epoch: int
    tau: float
    p: float
    verdicts: PairedVerdicts
    changed: dict[str, tuple[str, str]]


@dataclass(frozen=True)
class BudgetCheck:
    """The budget check of one metric over ``epochs`` epochs.

    ``checkpoints``: the comparisons at earlier epochs (empty with fewer than 2 epochs);
    ``final``: the verdicts at the last epoch; ``improvement``: per decoder, the relative
    improvement of its mean over the last ``last_quarter`` epochs (0.02: 2% better at the end;
    NaN for a one-epoch budget); ``differences``: per decoder, its mean paired difference to
    the final best at each epoch, as a fraction of the best's mean then (shape (epochs,); NaN
    where they share no seed).
    """

    metric: str
    epochs: int
    last_quarter: int
    checkpoints: list[Checkpoint]
    final: PairedVerdicts
    improvement: dict[str, float]
    differences: dict[str, np.ndarray] = field(default_factory=dict)
    tau_settled: float = TAU_SETTLED
    converged: float = CONVERGED

    @property
    def latest(self) -> Checkpoint | None:
        return self.checkpoints[-1] if self.checkpoints else None

    @property
    def ranking_moving(self) -> bool:
        """τ at the latest checkpoint below ``tau_settled``."""
        return self.latest is not None and not self.latest.tau >= self.tau_settled

    @property
    def verdicts_moving(self) -> list[str]:
        """Decoders whose verdict at the latest checkpoint differs from the final one."""
        return sorted(self.latest.changed) if self.latest else []

    @property
    def still_improving(self) -> list[str]:
        """Decoders whose mean still improved by ``converged`` or more over the last quarter."""
        return [d for d, r in self.improvement.items() if r >= self.converged]

    @property
    def moving(self) -> bool:
        return self.ranking_moving or bool(self.verdicts_moving)


def checkpoint_epochs(epochs: int, fractions: Sequence[float] = FRACTIONS) -> list[int]:
    """The earlier epochs (1-based) checked: ⌊f · epochs⌋ for each fraction, kept when
    1 <= epoch < epochs, e.g. [10, 15] for 20 epochs, [1] for 2, [] for 1."""
    return sorted({math.floor(f * epochs) for f in fractions} & set(range(1, epochs)))


def finite_histories(
    histories: Mapping[str, Mapping[int, Sequence[float]]],
) -> tuple[dict[str, dict[int, np.ndarray]], int]:
    """``histories`` ({decoder: {seed: per-epoch values}}) without the runs that have a value
    that is not finite (None, NaN) or no value, and without decoders left with no run; and the
    shortest remaining history's length (0 when none is left), the epochs they share."""
    runs = {
        d: {s: np.asarray(h, dtype=float) for s, h in per_seed.items() if len(h)}
        for d, per_seed in histories.items()
    }
    runs = {d: {s: h for s, h in r.items() if np.isfinite(h).all()} for d, r in runs.items()}
    runs = {d: r for d, r in runs.items() if r}
    return runs, min((len(h) for r in runs.values() for h in r.values()), default=0)


def values_at(histories: Mapping[str, Mapping[int, np.ndarray]], epoch: int) -> dict:
    """{decoder: {seed: value at ``epoch``}} (1-based) of per-epoch ``histories``."""
    return {d: {s: float(h[epoch - 1]) for s, h in runs.items()} for d, runs in histories.items()}


def _means(values: Mapping[str, Mapping[int, float]], decoders: Sequence[str]) -> np.ndarray:
    return np.array([np.mean(list(values[d].values())) for d in decoders])


def budget_check(
    histories: Mapping[str, Mapping[int, Sequence[float]]],
    metric: str,
    higher_better: bool = False,
    alpha: float = ALPHA,
    equivalence_margin: float | None = None,
    fractions: Sequence[float] = FRACTIONS,
) -> BudgetCheck:
    """Recompute the ranking and the paired verdicts (``compare_to_best``, with the same
    ``alpha`` and ``equivalence_margin``) at earlier epochs and compare them with the last.

    ``histories``: {decoder: {seed: per-epoch values of ``metric``}} (e.g. metrics.json's
    ``history["val/loss"]``; None or NaN where not finite). Runs with a value that is not
    finite are left out; the others are cut to the shortest history, whose length is the
    budget checked. ValueError when there are fewer than 2 decoders with a history.
    """
    runs, epochs = finite_histories(histories)
    if len(runs) < 2:
        raise ValueError(f"a budget check needs 2 or more decoders with a history of {metric}")
    decoders = sorted(runs)

    def verdicts(epoch: int) -> PairedVerdicts:
        return compare_to_best(
            values_at(runs, epoch), metric, alpha, higher_better, equivalence_margin
        )

    final = verdicts(epochs)
    final_means = _means(values_at(runs, epochs), decoders)
    outcome = {c.decoder: c.outcome for c in final.comparisons}
    checkpoints = []
    for epoch in checkpoint_epochs(epochs, fractions):
        then = verdicts(epoch)
        result = stats.kendalltau(_means(values_at(runs, epoch), decoders), final_means)
        changed = {
            c.decoder: (c.outcome, outcome[c.decoder])
            for c in then.comparisons
            if c.outcome != outcome[c.decoder]
        }
        checkpoints.append(
            Checkpoint(epoch, float(result.statistic), float(result.pvalue), then, changed)
        )
    quarter = max(1, round(epochs / 4))
    sign = -1.0 if higher_better else 1.0
    improvement = {}
    for d in decoders:
        if epochs < 2:
            improvement[d] = math.nan
            continue
        start, end = (
            np.mean([h[e - 1] for h in runs[d].values()]) for e in (epochs - quarter, epochs)
        )
        improvement[d] = float(sign * (start - end) / abs(start)) if start else math.nan
    return BudgetCheck(
        metric,
        epochs,
        quarter,
        checkpoints,
        final,
        improvement,
        _differences(runs, final.best, epochs),
    )


def _differences(runs: Mapping[str, Mapping[int, np.ndarray]], best: str, epochs: int) -> dict:
    """Per decoder, mean over shared seeds of (decoder − best) / mean(best) at each epoch."""
    out = {}
    for d, per_seed in runs.items():
        shared = sorted(set(per_seed) & set(runs[best]))
        if not shared:
            out[d] = np.full(epochs, math.nan)
            continue
        mine = np.array([per_seed[s][:epochs] for s in shared])
        theirs = np.array([runs[best][s][:epochs] for s in shared])
        out[d] = (mine - theirs).mean(axis=0) / np.abs(theirs.mean(axis=0))
    return out
