"""Paired verdicts on synthetic sweeps with a known answer, checked against scipy directly."""

from __future__ import annotations

import math
from itertools import combinations

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.power import TTestPower

from decoderlab.stats.paired import (
    BEST,
    NOT_DISTINGUISHABLE,
    PAIRED,
    UNTESTED,
    WELCH,
    WORSE,
    compare_to_best,
    seeds_needed,
)


def synthetic(means: dict[str, float], seeds: int, rng, seed_sd=0.05, noise_sd=0.002) -> dict:
    """{decoder: {seed: value}}: a seed effect shared by every decoder plus small noise."""
    seed_effect = rng.normal(0, seed_sd, seeds)
    return {
        d: {s + 1: m + seed_effect[s] + rng.normal(0, noise_sd) for s in range(seeds)}
        for d, m in means.items()
    }


def test_a_known_difference_is_found_although_the_unpaired_intervals_overlap():
    rng = np.random.default_rng(3)
    values = synthetic({"good": 0.10, "bad": 0.11}, seeds=5, rng=rng)
    good, bad = (np.array(list(values[d].values())) for d in ("good", "bad"))
    assert stats.ttest_ind(bad, good).pvalue > 0.5  # the seed effect hides it unpaired

    verdicts = compare_to_best(values, "test/loss")

    assert verdicts.best == "good"
    row = {c.decoder: c for c in verdicts.comparisons}["bad"]
    assert (row.verdict, row.test, row.n, row.wins) == (WORSE, PAIRED, 5, 0)
    assert row.p == pytest.approx(stats.ttest_rel(bad, good).pvalue, rel=1e-12)
    assert row.p_holm == pytest.approx(row.p)  # one pair: nothing to adjust
    d = bad - good
    half = 2.7764451051977987 * d.std(ddof=1) / math.sqrt(5)  # t_{0.975, 4} from tables
    assert (row.low, row.difference, row.high) == pytest.approx(
        (d.mean() - half, d.mean(), d.mean() + half)
    )
    assert row.p_wilcoxon is None  # fewer than 6 pairs


def test_equal_decoders_are_not_separated_more_often_than_alpha(quick_gc):
    """8 equal decoders, 5 seeds, 200 synthetic sweeps: the rate of sweeps with any 'worse'
    verdict stays at or below alpha (binomial sd 0.015 at 0.05). Holm over only the 7
    comparisons with the (data-chosen) best exceeds alpha on the same sweeps."""
    rng = np.random.default_rng(0)
    ours = naive = 0
    for _ in range(200):
        values = synthetic(dict.fromkeys(map(str, range(8)), 0.1), seeds=5, rng=rng, noise_sd=0.01)
        verdicts = compare_to_best(values, "test/loss")
        ours += bool(verdicts.worse)
        best = np.array(list(values[verdicts.best].values()))
        p = [
            stats.ttest_rel(np.array(list(values[d].values())), best).pvalue
            for d in values
            if d != verdicts.best
        ]
        naive += bool(np.any(holm(p) < 0.05))
    assert ours / 200 <= 0.05 + 0.025
    assert naive / 200 > ours / 200


def holm(p: list[float]) -> np.ndarray:
    """Holm (1979) by its definition: adj_(i) = max_{j<=i} min(1, (m - j + 1) p_(j))."""
    order = np.argsort(p)
    m, adjusted, running = len(p), np.empty(len(p)), 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[index]))
        adjusted[index] = running
    return adjusted


def test_holm_is_over_every_pair_and_matches_the_definition():
    rng = np.random.default_rng(7)
    values = synthetic({"a": 0.10, "b": 0.102, "c": 0.11, "d": 0.125}, seeds=4, rng=rng)
    pairs = list(combinations(sorted(values), 2))
    raw = [
        stats.ttest_rel(
            np.array(list(values[x].values())), np.array(list(values[y].values()))
        ).pvalue
        for x, y in pairs
    ]
    expected = dict(zip(pairs, holm(raw), strict=True))

    verdicts = compare_to_best(values, "test/loss")

    assert {(c.a, c.b): c.p_holm for c in verdicts.pairwise} == pytest.approx(expected)
    for row in verdicts.comparisons[1:]:
        key = tuple(sorted((row.decoder, verdicts.best)))
        assert row.p_holm == pytest.approx(expected[key])
        assert row.verdict == (WORSE if expected[key] < 0.05 else NOT_DISTINGUISHABLE)
    assert [c.verdict for c in verdicts.comparisons][0] == BEST


def test_missing_pairs_fall_back_to_welch():
    values = {"a": {1: 0.10, 2: 0.12, 3: 0.11}, "b": {4: 0.20, 5: 0.22, 6: 0.21}}
    row = compare_to_best(values, "test/loss").comparisons[1]
    expected = stats.ttest_ind([0.20, 0.22, 0.21], [0.10, 0.12, 0.11], equal_var=False)
    assert row.test == WELCH
    assert row.p == pytest.approx(expected.pvalue)
    assert row.verdict == WORSE
    one_seed = compare_to_best({"a": {1: 0.1, 2: 0.2}, "b": {3: 0.3}}, "test/loss")
    assert one_seed.comparisons[1].verdict == UNTESTED


def test_wilcoxon_checks_six_or_more_pairs():
    rng = np.random.default_rng(1)
    values = synthetic({"good": 0.10, "bad": 0.11}, seeds=6, rng=rng)
    row = compare_to_best(values, "test/loss").comparisons[1]
    bad, good = (np.array(list(values[d].values())) for d in ("bad", "good"))
    assert row.p_wilcoxon == pytest.approx(stats.wilcoxon(bad - good).pvalue)
    assert row.p_wilcoxon == pytest.approx(2 / 2**6)  # all 6 differences positive, exact


def test_higher_is_better_for_psnr():
    rng = np.random.default_rng(2)
    values = synthetic({"sharp": 20.0, "blurry": 19.0}, seeds=4, rng=rng, seed_sd=1.0)
    verdicts = compare_to_best(values, "test/psnr")
    assert verdicts.best == "sharp"
    assert verdicts.comparisons[1].verdict == WORSE


def test_seeds_needed_matches_the_power_tables():
    """Paired t-test, effect size 0.5, alpha 0.05 two-sided, power 0.8: 34 pairs (Cohen 1988;
    G*Power gives n = 34, actual power 0.808)."""
    d = np.array([0.5 + x for x in (-1, 1, -1, 1)])  # mean 0.5, sd 1.1547
    d = 0.5 + (d - d.mean()) / d.std(ddof=1)  # mean 0.5, sd exactly 1
    assert seeds_needed(d, alpha=0.05) == 34
    assert seeds_needed(np.zeros(4), alpha=0.05) is None


def test_close_calls_say_how_many_seeds_they_would_need():
    rng = np.random.default_rng(0)
    values = synthetic({"a": 0.100, "b": 0.102}, seeds=3, rng=rng)
    row = compare_to_best(values, "test/loss").comparisons[1]
    d = np.array(row.differences)
    solved = TTestPower().solve_power(
        effect_size=abs(d.mean()) / d.std(ddof=1), alpha=0.05, power=0.8
    )
    assert row.verdict == NOT_DISTINGUISHABLE
    assert row.seeds_needed == math.ceil(solved) > 3


def test_alpha_outside_zero_one_is_refused():
    with pytest.raises(ValueError, match="alpha must be in"):
        compare_to_best({"a": {1: 0.1}}, "test/loss", alpha=5)
