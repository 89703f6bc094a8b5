"""Paired comparison of decoders over seeds: every decoder against the best one.

A seed is a block (DESIGN.md section 8): under one seed every decoder starts from the same
encoder weights and sees the same data, so per-seed differences are analysed as pairs:
paired t-test (``scipy.stats.ttest_1samp`` on the differences, i.e. ``ttest_rel``), a
Wilcoxon signed-rank p-value as a check with 6 or more pairs (``scipy.stats.wilcoxon``), and
Holm's step-down correction (Holm 1979; statsmodels ``multipletests(method="holm")``), as in
Demšar (2006, JMLR 7). The best decoder is chosen from the same data, so the Holm family is
every pair of decoders: adjusting only the k − 1 comparisons with the chosen best lets the
family-wise error rate grow with k (tests/test_paired.py measures it). Where two decoders
share fewer than 2 seeds, Welch's unpaired t-test (``ttest_ind(equal_var=False)``) stands in.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from itertools import combinations

import numpy as np
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import TTestPower

ALPHA = 0.05
WILCOXON_MIN_PAIRS = 6
POWER = 0.8
MAX_SEEDS_NEEDED = 1000

BEST = "best"
NOT_DISTINGUISHABLE = "not distinguishable from the best"
WORSE = "worse than the best"
UNTESTED = "not tested (fewer than 2 seeds)"

PAIRED, WELCH = "paired t", "Welch t"

# metric -> True when a higher value is better; every other metric: lower is better
HIGHER_IS_BETTER = ("test/psnr", "test/ssim", "val/psnr", "val/ssim")


def higher_is_better(metric: str) -> bool:
    """Whether a larger value of ``metric`` is the better one (PSNR, SSIM)."""
    return metric in HIGHER_IS_BETTER


@dataclass(frozen=True)
class Comparison:
    """One decoder against the best on one metric.

    ``difference`` is mean(decoder − best) over the shared seeds (paired) or the difference
    of the means (Welch), in the metric's units, with its 95% t interval ``low``..``high``.
    ``p`` is the raw two-sided p-value, ``p_holm`` the Holm-adjusted one; ``wins`` counts the
    shared seeds in which the decoder beats the best; ``differences`` are the paired
    differences, ``family`` the number of pairs Holm adjusted over.
    """

    decoder: str
    best: str
    metric: str
    test: str | None
    n: int
    difference: float
    low: float
    high: float
    p: float
    p_holm: float
    p_wilcoxon: float | None
    wins: int
    verdict: str
    differences: tuple[float, ...] = ()
    family: int = 1
    alpha: float = ALPHA

    def simultaneous_interval(self) -> tuple[float, float]:
        """The paired difference's t interval at confidence 1 − alpha / family (Bonferroni
        over every pair): it excludes 0 only when the Bonferroni test separates the two,
        which Holm's never fails to do. NaN for an unpaired comparison."""
        if self.test != PAIRED:
            return math.nan, math.nan
        return _t_interval(np.array(self.differences), 1 - self.alpha / self.family)

    @cached_property
    def seeds_needed(self) -> int | None:
        """For a paired comparison not (yet) separated: the pairs ``seeds_needed`` estimates
        at the Bonferroni level alpha / family (the level Holm's first step uses)."""
        if self.verdict != NOT_DISTINGUISHABLE or self.test != PAIRED:
            return None
        return seeds_needed(np.array(self.differences), self.alpha / self.family)


@dataclass(frozen=True)
class PairwiseCell:
    """One cell of the full pairwise matrix: ``a`` against ``b`` (``compare_pair``), with the
    p-value Holm-adjusted over every pair tested."""

    a: str
    b: str
    test: str | None
    n: int
    difference: float
    p: float
    p_holm: float


@dataclass(frozen=True)
class PairedVerdicts:
    """Every decoder against the best on ``metric``, plus the full pairwise matrix."""

    metric: str
    alpha: float
    best: str | None
    comparisons: list[Comparison]
    pairwise: list[PairwiseCell]

    @property
    def worse(self) -> list[Comparison]:
        return [c for c in self.comparisons if c.verdict == WORSE]

    @property
    def close(self) -> list[Comparison]:
        return [c for c in self.comparisons if c.verdict == NOT_DISTINGUISHABLE]

    @property
    def uses_welch(self) -> bool:
        return any(c.test == WELCH for c in self.comparisons)


def _t_interval(values: np.ndarray, confidence: float = 0.95) -> tuple[float, float]:
    half = stats.t.ppf((1 + confidence) / 2, len(values) - 1) * values.std(ddof=1)
    half /= math.sqrt(len(values))
    return float(values.mean() - half), float(values.mean() + half)


def _paired_p(differences: np.ndarray) -> float:
    """Two-sided paired t-test p-value; 1 when every difference is 0, 0 when all are equal
    and non-zero (no spread: the t statistic is infinite)."""
    if np.all(differences == differences[0]):
        return 1.0 if differences[0] == 0 else 0.0
    return float(stats.ttest_1samp(differences, 0.0).pvalue)


def _wilcoxon_p(differences: np.ndarray) -> float | None:
    if len(differences) < WILCOXON_MIN_PAIRS:
        return None
    if np.all(differences == 0):
        return 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # exact/normal-approximation notices
        return float(stats.wilcoxon(differences).pvalue)


def seeds_needed(
    differences: np.ndarray, alpha: float, power: float = POWER, cap: int = MAX_SEEDS_NEEDED
) -> int | None:
    """Pairs a two-sided paired t-test needs to detect the observed mean difference at level
    ``alpha`` with ``power``: the smallest n whose power (statsmodels ``TTestPower.power``,
    effect size |mean|/sd of ``differences``, Cohen 1988) reaches ``power``. None when
    undefined (no spread, no difference) or above ``cap``."""
    if len(differences) < 2:
        return None
    sd, mean = float(differences.std(ddof=1)), float(differences.mean())
    if not (sd > 0 and mean != 0):
        return None
    effect = abs(mean) / sd

    def enough(n: int) -> bool:
        # the two-sided test's power to reject in the direction of the effect: one tail at
        # alpha/2 (the other tail's share is below 1e-15 here, and scipy's noncentral t
        # returns NaN for it)
        tail = TTestPower().power(effect_size=effect, nobs=n, alpha=alpha / 2, alternative="larger")
        return bool(tail >= power)

    high = 2
    while not enough(high):  # doubling, then bisection: power grows with n
        if high >= cap:
            return None
        high = min(2 * high, cap)
    low = high // 2
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (low, middle) if enough(middle) else (middle, high)
    return high


def _pair(a: Mapping[int, float], b: Mapping[int, float]) -> np.ndarray:
    return np.array([a[s] - b[s] for s in sorted(set(a) & set(b))], dtype=float)


def compare_pair(a: Mapping[int, float], b: Mapping[int, float]) -> dict:
    """``a`` against ``b`` ({seed: value} each): paired over the shared seeds when there are 2
    or more, else Welch's t-test on all values when each side has 2 or more, else untested.

    Returns ``test`` (PAIRED, WELCH or None), ``n`` (pairs, or the smaller sample for
    Welch), ``difference`` (a − b), its 95% interval ``low``/``high``, ``p``, ``p_wilcoxon``
    and the paired ``differences`` (empty for Welch).
    """
    differences = _pair(a, b)
    if len(differences) >= 2:
        low, high = _t_interval(differences)
        return {
            "test": PAIRED,
            "n": len(differences),
            "difference": float(differences.mean()),
            "low": low,
            "high": high,
            "p": _paired_p(differences),
            "p_wilcoxon": _wilcoxon_p(differences),
            "differences": differences,
        }
    x, y = np.array(list(a.values()), float), np.array(list(b.values()), float)
    row = {"n": min(len(x), len(y)), "difference": float(x.mean() - y.mean())}
    row |= {"p_wilcoxon": None, "differences": differences}
    if len(x) < 2 or len(y) < 2:
        return row | {"test": None, "low": math.nan, "high": math.nan, "p": math.nan}
    if np.ptp(x) == 0 and np.ptp(y) == 0:  # no spread on either side: t is 0 or infinite
        same = row["difference"] == 0
        exact = {"low": row["difference"], "high": row["difference"]}
        return row | exact | {"test": WELCH, "p": 1.0 if same else 0.0}
    welch = stats.ttest_ind(x, y, equal_var=False)
    interval = welch.confidence_interval(0.95)
    return row | {
        "test": WELCH,
        "low": float(interval.low),
        "high": float(interval.high),
        "p": float(welch.pvalue),
    }


def pairwise_matrix(
    values: Mapping[str, Mapping[int, float]], alpha: float = ALPHA
) -> list[PairwiseCell]:
    """Every unordered pair of decoders (``compare_pair``), Holm-adjusted over all tested pairs."""
    tested = {
        (a, b): compare_pair(values[a], values[b]) for a, b in combinations(sorted(values), 2)
    }
    keys = [k for k, r in tested.items() if r["test"] is not None]
    adjusted = dict(zip(keys, _holm([tested[k]["p"] for k in keys], alpha), strict=True))
    return [
        PairwiseCell(
            a, b, r["test"], r["n"], r["difference"], r["p"], adjusted.get((a, b), math.nan)
        )
        for (a, b), r in tested.items()
    ]


def _holm(pvalues: list[float], alpha: float) -> list[float]:
    if not pvalues:
        return []
    return [float(p) for p in multipletests(pvalues, alpha=alpha, method="holm")[1]]


def _mean(values: Mapping[int, float]) -> float:
    return float(np.mean(list(values.values())))


def compare_to_best(
    values: Mapping[str, Mapping[int, float]],
    metric: str,
    alpha: float = ALPHA,
    higher_better: bool | None = None,
) -> PairedVerdicts:
    """Every decoder of ``values`` ({decoder: {seed: value}}) against the best on ``metric``.

    The best is the decoder with the best mean over its seeds (lowest, or highest when
    ``higher_better``; default from ``higher_is_better(metric)``); decoders without values
    are left out. Because the best is picked from the same data, the family the p-values are
    Holm-adjusted over is every pair of decoders (``pairwise_matrix``), not only the k − 1
    comparisons with the best: that keeps the family-wise error rate at ``alpha`` whichever
    decoder the data make the best. Verdicts: ``worse than the best`` when the adjusted
    p < ``alpha`` and the difference points away from the best, else ``not distinguishable
    from the best`` (``not tested`` with fewer than 2 seeds on a side).
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    sign = -1.0 if (higher_is_better(metric) if higher_better is None else higher_better) else 1.0
    values = {d: dict(v) for d, v in values.items() if v}
    if not values:
        return PairedVerdicts(metric, alpha, None, [], [])
    ranked = sorted(values, key=lambda d: (sign * _mean(values[d]), d))
    best = ranked[0]
    matrix = pairwise_matrix(values, alpha)
    holm = {frozenset((c.a, c.b)): c.p_holm for c in matrix}
    family = max(sum(c.test is not None for c in matrix), 1)
    comparisons = [_best_row(values[best], best, metric)]
    for decoder in ranked[1:]:
        r = compare_pair(values[decoder], values[best])
        p_holm = holm[frozenset((decoder, best))]
        if r["test"] is None:
            verdict = UNTESTED
        elif p_holm < alpha and sign * r["difference"] > 0:
            verdict = WORSE
        else:
            verdict = NOT_DISTINGUISHABLE
        comparisons.append(
            Comparison(
                decoder=decoder,
                best=best,
                metric=metric,
                test=r["test"],
                n=r["n"],
                difference=r["difference"],
                low=r["low"],
                high=r["high"],
                p=r["p"],
                p_holm=p_holm,
                p_wilcoxon=r["p_wilcoxon"],
                wins=int(np.sum(sign * r["differences"] < 0)),
                verdict=verdict,
                differences=tuple(r["differences"]),
                family=family,
                alpha=alpha,
            )
        )
    return PairedVerdicts(metric, alpha, best, comparisons, matrix)


def _best_row(best_values: Mapping[int, float], best: str, metric: str) -> Comparison:
    return Comparison(
        decoder=best,
        best=best,
        metric=metric,
        test=None,
        n=len(best_values),
        difference=0.0,
        low=0.0,
        high=0.0,
        p=math.nan,
        p_holm=math.nan,
        p_wilcoxon=None,
        wins=0,
        verdict=BEST,
    )
