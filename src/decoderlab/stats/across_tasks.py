"""Decoders ranked over several tasks: Friedman's test and Nemenyi's critical difference.

Demšar (2006, JMLR 7, section 3.2.2): rank the decoders within each task (1 = best, ties
averaged), compare the mean ranks with Friedman's test (``scipy.stats.friedmanchisquare``),
then every pair with Nemenyi's test (``scikit_posthocs.posthoc_nemenyi_friedman``): two
decoders differ when their mean ranks differ by more than the critical difference
CD = q_α · √(k(k+1) / (6N)), q_α the studentized range quantile over √2 (k decoders, N tasks).
Tasks are the blocks; each task contributes one value per decoder (its mean over seeds).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import scikit_posthocs
from scipy import stats

from decoderlab.stats.paired import ALPHA


@dataclass(frozen=True)
class AcrossTasks:
    """``ranks``: task -> decoder -> rank within the task (1 = best); ``mean_ranks`` over the
    tasks, best first; Friedman's ``statistic`` (χ², k − 1 df) and ``p``; ``nemenyi``: the
    Nemenyi p-value of every pair ``(a, b)``, a < b; ``critical_difference`` in mean-rank
    units at ``alpha``; ``left_out``: decoders missing from some task (not ranked)."""

    tasks: list[str]
    ranks: dict[str, dict[str, float]]
    mean_ranks: dict[str, float]
    statistic: float
    p: float
    nemenyi: dict[tuple[str, str], float]
    critical_difference: float
    alpha: float
    left_out: list[str]

    def different(self, a: str, b: str) -> bool:
        """Whether Nemenyi's test separates ``a`` and ``b`` at ``alpha``."""
        return self.nemenyi[tuple(sorted((a, b)))] < self.alpha


def critical_difference(decoders: int, tasks: int, alpha: float = ALPHA) -> float:
    """Nemenyi's CD = q_α √(k(k+1)/(6N)), q_α = studentized range quantile (k, ∞) / √2
    (Demšar 2006, section 3.2.2 and table 5: q_0.05 = 2.569 for k = 4)."""
    q = stats.studentized_range.ppf(1 - alpha, decoders, np.inf) / math.sqrt(2)
    return float(q * math.sqrt(decoders * (decoders + 1) / (6 * tasks)))


def compare_across_tasks(
    values: Mapping[str, Mapping[str, float]], higher_better: bool = False, alpha: float = ALPHA
) -> AcrossTasks:
    """Rank the decoders of ``values`` ({task: {decoder: value}}) per task and test them.

    Only decoders with a finite value in every task are ranked. ValueError with fewer than 2
    tasks or 3 decoders (Friedman's test needs them) or ``alpha`` outside (0, 1).
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    tasks = sorted(values)
    everywhere = (
        set.intersection(*({d for d, v in values[t].items() if math.isfinite(v)} for t in tasks))
        if tasks
        else set()
    )
    decoders = sorted(everywhere)
    if len(tasks) < 2 or len(decoders) < 3:
        raise ValueError(
            "a comparison across tasks needs 2 or more tasks and 3 or more decoders present "
            f"in every task; got {len(tasks)} task(s) and {len(decoders)} such decoder(s)"
        )
    sign = -1.0 if higher_better else 1.0
    table = np.array([[sign * values[t][d] for d in decoders] for t in tasks])  # N × k
    ranks = stats.rankdata(table, axis=1)
    mean = ranks.mean(axis=0)
    friedman = stats.friedmanchisquare(*table.T)
    pvalues = scikit_posthocs.posthoc_nemenyi_friedman(table)
    nemenyi = {
        (decoders[i], decoders[j]): float(pvalues.iloc[i, j])
        for i in range(len(decoders))
        for j in range(i + 1, len(decoders))
    }
    order = sorted(range(len(decoders)), key=lambda i: (mean[i], decoders[i]))
    return AcrossTasks(
        tasks=tasks,
        ranks={
            t: dict(zip(decoders, map(float, r), strict=True))
            for t, r in zip(tasks, ranks, strict=True)
        },
        mean_ranks={decoders[i]: float(mean[i]) for i in order},
        statistic=float(friedman.statistic),
        p=float(friedman.pvalue),
        nemenyi=nemenyi,
        critical_difference=critical_difference(len(decoders), len(tasks), alpha),
        alpha=alpha,
        left_out=sorted({d for t in tasks for d in values[t]} - everywhere),
    )
