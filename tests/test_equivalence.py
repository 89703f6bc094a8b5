"""Equivalence to the best (TOST) on synthetic data, checked against statsmodels and by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.weightstats import ttost_ind, ttost_paired

from decoderlab.stats.equivalence import seeds_for_equivalence, tost_paired, tost_welch
from decoderlab.stats.intervals import t_interval
from decoderlab.stats.paired import (
    BEST,
    EQUIVALENT,
    INCONCLUSIVE,
    NOT_DISTINGUISHABLE,
    WORSE,
    compare_to_best,
)


def test_tost_by_hand():
    """d = (1, 2, 3), margin 4: mean 2, s = 1, se = 1/sqrt(3); the two one-sided t statistics
    are (2 + 4)/se = 10.392 and (2 − 4)/se = −3.464 on 2 df; the TOST p-value is the larger
    one-sided p, P(T_2 > 3.464) = 0.03709 (t tables: the one-sided 5% point of t_2 is 2.920)."""
    d = np.array([1.0, 2.0, 3.0])
    p = tost_paired(d, margin=4.0)
    t_upper = (2 - 4) / (1 / math.sqrt(3))
    assert t_upper == pytest.approx(-3.4641016)
    assert p == pytest.approx(stats.t.cdf(t_upper, df=2))
    assert p == pytest.approx(0.03709, abs=5e-5)
    assert 0.025 < p < 0.05  # between the 2.5% and 5% points of t_2: 4.303 > 3.464 > 2.920


def test_tost_matches_statsmodels():
    rng = np.random.default_rng(4)
    best = rng.normal(0.1, 0.01, 8)
    other = best + rng.normal(0.001, 0.002, 8)
    expected = ttost_paired(other, best, -0.005, 0.005)[0]
    assert tost_paired(other - best, 0.005) == pytest.approx(expected, rel=1e-12)
    x, y = rng.normal(0.1, 0.003, 5), rng.normal(0.101, 0.004, 6)
    welch = ttost_ind(x, y, -0.005, 0.005, usevar="unequal")[0]
    assert tost_welch(x, y, 0.005) == pytest.approx(welch, rel=1e-12)


def test_no_spread_is_exact_and_bad_margins_are_refused():
    assert tost_paired(np.full(3, 0.001), 0.002) == 0.0
    assert tost_paired(np.full(3, 0.003), 0.002) == 1.0
    with pytest.raises(ValueError, match="margin must be a finite number > 0"):
        tost_paired(np.ones(3), 0.0)
    with pytest.raises(ValueError, match="at least 2 pairs"):
        tost_paired(np.ones(1), 1.0)


def sweep(means: dict[str, float], noise: dict[str, float], seeds: int, seed: int = 0) -> dict:
    """{decoder: {seed: value}}: a large seed effect shared by every decoder plus per-decoder
    noise of the given sd around its mean."""
    rng = np.random.default_rng(seed)
    shared = rng.normal(0, 0.02, seeds)
    return {
        d: {s: m + shared[s] + rng.normal(0, noise[d]) for s in range(seeds)}
        for d, m in means.items()
    }


def test_four_outcomes_and_one_holm_family():
    """Around a shared seed effect: `same` is 0.2% above the best with little noise
    (equivalent at a 5% margin, ±0.005); `far` is 20% worse (worse); `noisy` is 0.5% above
    the best but swings ±0.02 from seed to seed: neither test rejects, so it is not different
    and not equivalent: inconclusive."""
    rng = np.random.default_rng(0)
    shared = rng.normal(0.1, 0.02, 6)
    swing = np.array([1, -1, 1, -1, 1, -1]) * 0.02
    columns = {
        "best": shared,
        "same": shared + 0.0002 + rng.normal(0, 0.0002, 6),
        "far": shared + 0.02 + rng.normal(0, 0.0005, 6),
        "noisy": shared + 0.0005 + swing,
    }
    values = {d: dict(enumerate(v)) for d, v in columns.items()}
    verdicts = compare_to_best(values, "test/loss", equivalence_margin=0.05)
    rows = {c.decoder: c for c in verdicts.comparisons}
    assert verdicts.best == "best" and rows["best"].outcome == BEST
    assert verdicts.margin == pytest.approx(0.05 * shared.mean())
    assert {d: rows[d].outcome for d in ("same", "far", "noisy")} == {
        "same": EQUIVALENT,
        "far": WORSE,
        "noisy": INCONCLUSIVE,
    }
    noisy = rows["noisy"]
    assert noisy.verdict == NOT_DISTINGUISHABLE and noisy.p_holm >= 0.05
    assert noisy.p_equivalence_holm >= 0.05
    for d in ("same", "far", "noisy"):
        expected = ttost_paired(columns[d], shared, -verdicts.margin, verdicts.margin)[0]
        assert rows[d].p_equivalence == pytest.approx(expected)
    # one family: 6 pairs plus 3 TOSTs, Holm over all 9 (statsmodels' Holm)
    raw = [c.p for c in verdicts.pairwise] + [
        rows[d].p_equivalence for d in ("same", "far", "noisy")
    ]
    adjusted = multipletests(raw, method="holm")[1]
    assert [rows[d].p_equivalence_holm for d in ("same", "far", "noisy")] == pytest.approx(
        list(adjusted[6:])
    )
    assert [c.p_holm for c in verdicts.pairwise] == pytest.approx(list(adjusted[:6]))
    assert rows["same"].family == 9


def test_a_small_but_detectable_difference_within_the_margin_is_equivalent():
    values = sweep(
        {"best": 0.100, "close": 0.101}, {"best": 0.00005, "close": 0.00005}, seeds=6, seed=1
    )
    row = compare_to_best(values, "test/loss", equivalence_margin=0.05).comparisons[1]
    assert row.verdict == WORSE  # 1% worse, detectably
    assert row.outcome == EQUIVALENT  # but within ±5%


def test_higher_is_better_metrics_take_the_margin_from_the_best():
    values = sweep({"sharp": 20.0, "also": 19.9}, {"sharp": 0.01, "also": 0.01}, seeds=5)
    verdicts = compare_to_best(values, "test/psnr", equivalence_margin=0.05)
    assert verdicts.best == "sharp"
    assert verdicts.comparisons[1].outcome == EQUIVALENT


def test_without_a_margin_the_verdicts_are_unchanged():
    values = sweep({"a": 0.1, "b": 0.12}, {"a": 0.001, "b": 0.001}, seeds=4)
    plain = compare_to_best(values, "test/loss")
    assert plain.margin is None
    assert [c.outcome for c in plain.comparisons] == [c.verdict for c in plain.comparisons]
    assert plain.comparisons[1].family == 1
    with pytest.raises(ValueError, match="fraction > 0"):
        compare_to_best(values, "test/loss", equivalence_margin=-0.1)
    with pytest.raises(ValueError, match="mean test/cbe2 is 0"):
        compare_to_best({"a": {1: 0.0, 2: 0.0}}, "test/cbe2", equivalence_margin=0.05)


def test_seeds_for_equivalence_reach_the_power_they_promise():
    """The n returned gives the nearer one-sided test 80% power (noncentral t, scipy) and
    n − 1 does not; none when the observed difference is at or beyond the margin."""
    d = np.array([0.2, -0.2, 0.4, 0.0])  # mean 0.1, sd 0.2582
    n = seeds_for_equivalence(d, margin=0.3, alpha=0.05)
    effect = (0.3 - d.mean()) / d.std(ddof=1)

    def power(k: int) -> float:
        critical = stats.t.ppf(0.95, k - 1)
        return float(stats.nct.sf(critical, k - 1, effect * math.sqrt(k)))

    assert power(n) >= 0.8 > power(n - 1)
    assert seeds_for_equivalence(d, margin=0.1, alpha=0.05) is None


def test_t_interval_is_the_textbook_interval():
    x = np.array([0.10, 0.12, 0.14])
    half = 4.302652729911275 * 0.02 / math.sqrt(3)  # t_{0.975, 2} from tables, s = 0.02
    assert t_interval(x) == pytest.approx((0.12 - half, 0.12 + half))
    assert t_interval(np.full(3, 0.2)) == pytest.approx((0.2, 0.2))
    assert all(math.isnan(v) for v in t_interval([0.3]))
