"""Equivalence within a margin: Schuirmann's two one-sided tests (TOST).

A decoder is *equivalent* to the best within ±``margin`` when both one-sided tests reject:
H0₁ mean difference <= −margin and H0₂ mean difference >= +margin (Schuirmann 1987, J.
Pharmacokinet. Biopharm. 15(6)). The TOST p-value is the larger of the two one-sided ones
(an intersection-union test: no adjustment between the two). Paired over shared seeds with
statsmodels' ``ttost_paired``, unpaired with ``ttost_ind(usevar="unequal")`` (Welch). Not
rejecting difference ("not distinguishable") is not equivalence: with few or noisy seeds
neither test rejects, and the verdict is *inconclusive*.
"""

from __future__ import annotations

import math

import numpy as np
from statsmodels.stats.weightstats import ttost_ind, ttost_paired

from decoderlab.stats.power import POWER, pairs_needed

# default margin: this fraction of the best decoder's mean on the metric (5%: a decoder
# within ±5% of the best's test loss counts as as good as the best)
EQUIVALENCE_MARGIN = 0.05


def _check_margin(margin: float) -> None:
    if not (margin > 0 and math.isfinite(margin)):
        raise ValueError(f"equivalence margin must be a finite number > 0, got {margin}")


def tost_paired(differences: np.ndarray, margin: float) -> float:
    """TOST p-value that the mean of paired ``differences`` (n >= 2) lies in (−margin,
    +margin): statsmodels ``ttost_paired(differences, 0, −margin, margin)``. With no spread
    the answer is exact: 0 when |difference| < margin, else 1."""
    _check_margin(margin)
    d = np.asarray(differences, dtype=float)
    if len(d) < 2:
        raise ValueError(f"a paired TOST needs at least 2 pairs, got {len(d)}")
    if np.ptp(d) == 0:
        return 0.0 if abs(d[0]) < margin else 1.0
    return float(ttost_paired(d, np.zeros_like(d), -margin, margin)[0])


def tost_welch(x: np.ndarray, y: np.ndarray, margin: float) -> float:
    """TOST p-value that mean(x) − mean(y) lies in (−margin, +margin), Welch's unequal
    variances (statsmodels ``ttost_ind(x, y, −margin, margin, usevar="unequal")``); each
    side needs 2 or more values. With no spread on either side: 0 or 1, exactly."""
    _check_margin(margin)
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if len(x) < 2 or len(y) < 2:
        raise ValueError(f"a Welch TOST needs 2 or more values a side, got {len(x)}, {len(y)}")
    if np.ptp(x) == 0 and np.ptp(y) == 0:
        return 0.0 if abs(x[0] - y[0]) < margin else 1.0
    return float(ttost_ind(x, y, -margin, margin, usevar="unequal")[0])


def seeds_for_equivalence(
    differences: np.ndarray, margin: float, alpha: float, power: float = POWER, cap: int = 1000
) -> int | None:
    """Pairs a paired TOST would need to show equivalence within ±``margin`` at level
    ``alpha`` with ``power``, if the true mean difference and spread are those observed.

    The nearer one-sided test decides (Chow, Shao & Wang 2008, *Sample Size Calculations in
    Clinical Research*, section 3.2: n from the one-sided test at effect size
    (margin − |mean|)/sd): ``decoderlab.stats.power.pairs_needed``. None when |mean| >=
    margin (more seeds would not show equivalence at this margin), without spread, or above
    ``cap``.
    """
    _check_margin(margin)
    d = np.asarray(differences, dtype=float)
    if len(d) < 2 or not np.ptp(d) > 0:
        return None
    room = margin - abs(float(d.mean()))
    if room <= 0:
        return None
    return pairs_needed(room / float(d.std(ddof=1)), alpha, power, cap)
