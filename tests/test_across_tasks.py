"""Ranks over tasks, Friedman's test and Nemenyi's critical difference, computed by hand."""

from __future__ import annotations

import math

import pytest
from scipy import stats

from decoderlab.stats.across_tasks import compare_across_tasks, critical_difference

# lower is better; ranks per task in the comments
VALUES = {
    "t1": {"a": 0.1, "b": 0.2, "c": 0.3, "d": 0.4},  # 1 2 3 4
    "t2": {"a": 0.1, "b": 0.3, "c": 0.2, "d": 0.4},  # 1 3 2 4
    "t3": {"a": 0.2, "b": 0.1, "c": 0.3, "d": 0.4},  # 2 1 3 4
    "t4": {"a": 0.1, "b": 0.2, "c": 0.4, "d": 0.3},  # 1 2 4 3
}


def test_ranks_friedman_and_critical_difference_by_hand():
    result = compare_across_tasks(VALUES)
    assert result.ranks["t2"] == {"a": 1.0, "b": 3.0, "c": 2.0, "d": 4.0}
    assert result.mean_ranks == {"a": 1.25, "b": 2.0, "c": 3.0, "d": 3.75}
    assert list(result.mean_ranks) == ["a", "b", "c", "d"]  # best first
    # Demšar (2006) eq. 1: 12N/(k(k+1)) [sum R_j^2 - k(k+1)^2/4] = 2.4 (28.625 - 25) = 8.7
    assert result.statistic == pytest.approx(8.7)
    assert result.p == pytest.approx(stats.chi2.sf(8.7, 3))
    # CD: q_0.05 = 2.569 for k = 4 (Demšar's table 5), sqrt(4 * 5 / (6 * 4))
    assert result.critical_difference == pytest.approx(2.569 * math.sqrt(20 / 24), abs=1e-3)
    # Nemenyi: |R_a - R_d| = 2.5 > CD (different); |R_a - R_c| = 1.75 < CD (not)
    assert result.different("d", "a") and not result.different("a", "c")
    z = 2.5 / math.sqrt(20 / 24)
    assert result.nemenyi[("a", "d")] == pytest.approx(
        stats.studentized_range.sf(z * math.sqrt(2), 4, math.inf)
    )
    assert critical_difference(10, 14) == pytest.approx(3.164 * math.sqrt(110 / 84), abs=1e-3)


def test_higher_is_better_reverses_the_ranks_and_missing_decoders_are_left_out():
    flipped = {t: {d: -v for d, v in row.items()} for t, row in VALUES.items()}
    flipped["t1"]["e"] = 5.0
    result = compare_across_tasks(flipped, higher_better=True)
    assert result.mean_ranks["a"] == 1.25
    assert result.left_out == ["e"]


def test_too_few_tasks_or_decoders_are_refused():
    with pytest.raises(ValueError, match="2 or more tasks and 3 or more decoders"):
        compare_across_tasks({"t1": VALUES["t1"]})
    with pytest.raises(ValueError, match="got 2 task"):
        compare_across_tasks({t: {"a": 1.0, "b": 2.0} for t in ("t1", "t2")})
