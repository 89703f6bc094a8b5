"""Paired comparison of decoders over seeds: every decoder against the best one.

A seed is a block (docs/comparison.md): under one seed every decoder starts from the same
encoder weights and sees the same data, so per-seed differences are analysed as pairs:
paired t-test (``scipy.stats.ttest_1samp`` on the differences, i.e. ``ttest_rel``), a
Wilcoxon signed-rank p-value as a check with 6 or more pairs (``scipy.stats.wilcoxon``), and
Holm's step-down correction (Holm 1979; statsmodels ``multipletests(method="holm")``), as in
Demšar (2006, JMLR 7). The best decoder is chosen from the same data, so the Holm family is
every pair of decoders: adjusting only the k − 1 comparisons with the chosen best lets the
family-wise error rate grow with k (tests/test_paired.py measures it). Where two decoders
share fewer than 2 seeds, Welch's unpaired t-test (``ttest_ind(equal_var=False)``) stands in.

With an equivalence margin, each decoder is also tested for equivalence to the best (TOST,
``decoderlab.stats.equivalence``); those p-values join the same Holm family, and the outcome
is one of best / equivalent / worse / inconclusive: "not distinguishable" is not "as good".
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

from decoderlab.stats.equivalence import seeds_for_equivalence, tost_paired, tost_welch
from decoderlab.stats.intervals import t_interval
from decoderlab.stats.power import MAX_SEEDS_NEEDED, POWER, pairs_needed

ALPHA = 0.05
WILCOXON_MIN_PAIRS = 6

BEST = "best"
NOT_DISTINGUISHABLE = "not distinguishable from the best"
WORSE = "worse than the best"
UNTESTED = "not tested (fewer than 2 seeds)"
EQUIVALENT = "equivalent to the best"
INCONCLUSIVE = "inconclusive"

PAIRED, WELCH = "paired t", "Welch t"


@dataclass(frozen=True)
class Comparison:
    """One decoder against the best on one metric.

    ``difference`` is mean(decoder − best) over the shared seeds (paired) or the difference
    of the means (Welch), in the metric's units, with its 95% t interval ``low``..``high``.
    ``p`` is the raw two-sided p-value, ``p_holm`` the Holm-adjusted one; ``wins`` counts the
    shared seeds in which the decoder beats the best; ``differences`` are the paired
    differences, ``family`` the number of tests Holm adjusted over. With an equivalence
    ``margin`` (metric units): ``p_equivalence`` is the TOST p-value that the difference lies
    within ±margin, ``p_equivalence_holm`` its adjustment in the same family (NaN without a
    margin or a test).
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
    margin: float | None = None
    p_equivalence: float = math.nan
    p_equivalence_holm: float = math.nan

    @property
    def equivalent(self) -> bool:
        """Shown within ±margin of the best (Holm-adjusted TOST p < alpha)."""
        return bool(self.p_equivalence_holm < self.alpha)

    @property
    def outcome(self) -> str:
        """BEST, EQUIVALENT (shown within the margin: this wins over WORSE, a difference too
        small to matter), WORSE, INCONCLUSIVE (neither shown), or UNTESTED. Without a margin
        the difference verdict (``verdict``)."""
        if self.margin is None or self.verdict in (BEST, UNTESTED):
            return self.verdict
        if self.equivalent:
            return EQUIVALENT
        return WORSE if self.verdict == WORSE else INCONCLUSIVE

    def simultaneous_interval(self) -> tuple[float, float]:
        """The paired difference's t interval at confidence 1 − alpha / family (Bonferroni
        over every pair): it excludes 0 only when the Bonferroni test separates the two,
        which Holm's never fails to do. NaN for an unpaired comparison."""
        if self.test != PAIRED:
            return math.nan, math.nan
        return t_interval(np.array(self.differences), 1 - self.alpha / self.family)

    @cached_property
    def seeds_needed(self) -> int | None:
        """For a paired comparison not (yet) separated: the pairs ``seeds_needed`` estimates
        at the Bonferroni level alpha / family (the level Holm's first step uses)."""
        if self.verdict != NOT_DISTINGUISHABLE or self.test != PAIRED:
            return None
        return seeds_needed(np.array(self.differences), self.alpha / self.family)

    @cached_property
    def seeds_for_equivalence(self) -> int | None:
        """For an inconclusive paired comparison: the pairs a TOST would need to show
        equivalence at the Bonferroni level alpha / family (``seeds_for_equivalence``)."""
        if self.outcome != INCONCLUSIVE or self.test != PAIRED:
            return None
        d = np.array(self.differences)
        return seeds_for_equivalence(d, self.margin, self.alpha / self.family)


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
    """Every decoder against the best on ``metric``, plus the full pairwise matrix.
    ``margin``: the equivalence margin in the metric's units (None: no equivalence tests),
    ``margin_fraction`` the fraction of the best's mean it was set from."""

    metric: str
    alpha: float
    best: str | None
    comparisons: list[Comparison]
    pairwise: list[PairwiseCell]
    margin: float | None = None
    margin_fraction: float | None = None

    @property
    def equivalent(self) -> list[Comparison]:
        return [c for c in self.comparisons if c.outcome == EQUIVALENT]

    @property
    def inconclusive(self) -> list[Comparison]:
        return [c for c in self.comparisons if c.outcome == INCONCLUSIVE]

    @property
    def worse(self) -> list[Comparison]:
        return [c for c in self.comparisons if c.verdict == WORSE]

    @property
    def close(self) -> list[Comparison]:
        return [c for c in self.comparisons if c.verdict == NOT_DISTINGUISHABLE]

    @property
    def uses_welch(self) -> bool:
        return any(c.test == WELCH for c in self.comparisons)


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
    ``alpha`` with ``power``, at effect size |mean|/sd of ``differences`` (Cohen 1988):
    ``pairs_needed`` for the tail in the effect's direction at alpha / 2 (the other tail's
    share of the power is below 1e-15 here). None when undefined (fewer than 2 differences,
    no spread, no difference) or above ``cap``."""
    if len(differences) < 2:
        return None
    sd, mean = float(differences.std(ddof=1)), float(differences.mean())
    if not (sd > 0 and mean != 0):
        return None
    return pairs_needed(abs(mean) / sd, alpha / 2, power, cap)


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
        low, high = t_interval(differences)
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
    return _pairwise(values, alpha, [])[0]


def _pairwise(
    values: Mapping[str, Mapping[int, float]], alpha: float, extra: list[float]
) -> tuple[list[PairwiseCell], list[float]]:
    """``pairwise_matrix`` with ``extra`` p-values in the same Holm family; returns the cells
    and the adjusted ``extra``."""
    tested = {
        (a, b): compare_pair(values[a], values[b]) for a, b in combinations(sorted(values), 2)
    }
    keys = [k for k, r in tested.items() if r["test"] is not None]
    adjusted = _holm([tested[k]["p"] for k in keys] + extra, alpha)
    by_pair = dict(zip(keys, adjusted[: len(keys)], strict=True))
    cells = [
        PairwiseCell(
            a, b, r["test"], r["n"], r["difference"], r["p"], by_pair.get((a, b), math.nan)
        )
        for (a, b), r in tested.items()
    ]
    return cells, adjusted[len(keys) :]


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
    equivalence_margin: float | None = None,
) -> PairedVerdicts:
    """Every decoder of ``values`` ({decoder: {seed: value}}) against the best on ``metric``.

    The best is the decoder with the best mean over its seeds (lowest, or highest when
    ``higher_better``; by default the direction ``decoderlab.metrics.registry`` declares,
    UnknownMetricError for an undeclared ``metric``); decoders without values are left out.
    Because the best is picked from the same data, the family the p-values are Holm-adjusted
    over is every pair of decoders (``pairwise_matrix``), not only the k − 1
    comparisons with the best: that keeps the family-wise error rate at ``alpha`` whichever
    decoder the data make the best. Verdicts: ``worse than the best`` when the adjusted
    p < ``alpha`` and the difference points away from the best, else ``not distinguishable
    from the best`` (``not tested`` with fewer than 2 seeds on a side).

    ``equivalence_margin`` (a fraction of the best's mean, e.g. 0.05; None: no equivalence
    tests) adds a TOST per decoder against the best within ±fraction·|best's mean|; those
    p-values join the same Holm family, so every difference and equivalence claim together
    holds at family-wise level ``alpha``; each comparison's ``outcome`` is then best,
    equivalent, worse or inconclusive. ValueError for ``alpha`` outside (0, 1), a fraction
    <= 0, or a best mean of 0 (no margin can be derived from it).
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    if equivalence_margin is not None and not equivalence_margin > 0:
        raise ValueError(f"equivalence margin must be a fraction > 0, got {equivalence_margin}")
    if higher_better is None:
        from decoderlab.metrics.registry import metric as declared

        higher_better = declared(metric).higher_is_better
    sign = -1.0 if higher_better else 1.0
    values = {d: dict(v) for d, v in values.items() if v}
    if not values:
        return PairedVerdicts(metric, alpha, None, [], [], None, equivalence_margin)
    ranked = sorted(values, key=lambda d: (sign * _mean(values[d]), d))
    best = ranked[0]
    margin = None
    if equivalence_margin is not None:
        margin = equivalence_margin * abs(_mean(values[best]))
        if margin == 0:
            raise ValueError(
                f"the best decoder's mean {metric} is 0, so an equivalence margin that is a "
                "fraction of it is 0: compare this metric without equivalence tests"
            )
    pairs = {d: compare_pair(values[d], values[best]) for d in ranked[1:]}
    tost = {
        d: _tost(r, values[d], values[best], margin)
        for d, r in pairs.items()
        if margin is not None and r["test"] is not None
    }
    matrix, adjusted = _pairwise(values, alpha, list(tost.values()))
    tost_holm = dict(zip(tost, adjusted, strict=True))
    holm = {frozenset((c.a, c.b)): c.p_holm for c in matrix}
    family = max(sum(c.test is not None for c in matrix) + len(tost), 1)
    comparisons = [_best_row(values[best], best, metric, margin)]
    for decoder, r in pairs.items():
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
                margin=margin,
                p_equivalence=tost.get(decoder, math.nan),
                p_equivalence_holm=tost_holm.get(decoder, math.nan),
            )
        )
    return PairedVerdicts(metric, alpha, best, comparisons, matrix, margin, equivalence_margin)


def _tost(pair: dict, a: Mapping[int, float], b: Mapping[int, float], margin: float) -> float:
    """The TOST p-value of ``a`` − ``b`` within ±margin, paired or Welch as ``pair`` was."""
    if pair["test"] == PAIRED:
        return tost_paired(pair["differences"], margin)
    return tost_welch(np.array(list(a.values())), np.array(list(b.values())), margin)


def _best_row(
    best_values: Mapping[int, float], best: str, metric: str, margin: float | None
) -> Comparison:
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
        margin=margin,
    )
