"""Speed ratios from alternating blocks: the interval, checked against its definition and on
synthetic machines with a known ratio."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from decoderlab.stats.speed_ratio import RatioInterval, measure_until_narrow, paired_ratio


def test_the_interval_is_the_t_interval_of_the_log_ratios():
    """Independent computation: mean and sample sd of log ratios, t quantile by hand."""
    numerators = [2400.0, 2310.0, 1980.0, 2550.0, 2105.0]
    denominators = [1900.0, 1950.0, 1700.0, 2000.0, 1720.0]
    logs = [math.log(n / d) for n, d in zip(numerators, denominators, strict=True)]
    mean = sum(logs) / 5
    sd = math.sqrt(sum((x - mean) ** 2 for x in logs) / 4)
    margin = stats.t.ppf(0.975, df=4) * sd / math.sqrt(5)
    interval = paired_ratio(numerators, denominators)
    assert interval.ratio == pytest.approx(math.exp(mean), rel=1e-12)
    assert interval.low == pytest.approx(math.exp(mean - margin), rel=1e-12)
    assert interval.high == pytest.approx(math.exp(mean + margin), rel=1e-12)
    assert interval.half_width == pytest.approx((interval.high - interval.low) / 2)
    assert interval.blocks == 5
    # the text rounds the interval's own values (checked against the definition above)
    assert str(interval) == f"{interval.ratio:.2f} [{interval.low:.2f}, {interval.high:.2f}]"


def test_a_constant_ratio_has_no_width():
    interval = paired_ratio([125.0, 250.0, 500.0], [100.0, 200.0, 400.0])
    assert (interval.ratio, interval.low, interval.high) == pytest.approx((1.25, 1.25, 1.25))
    assert interval.half_width == pytest.approx(0.0)


def synthetic_blocks(rng, true_ratio, blocks, drift_sd=0.3, noise_sd=0.05):
    """Rates of two loops on a machine whose speed drifts from block to block (shared by both
    loops of a block) plus each measurement's own noise."""
    machine = np.exp(rng.normal(0.0, drift_sd, blocks))
    denominators = 2000.0 * machine * np.exp(rng.normal(0.0, noise_sd, blocks))
    numerators = true_ratio * 2000.0 * machine * np.exp(rng.normal(0.0, noise_sd, blocks))
    return numerators, denominators


def test_the_interval_covers_the_true_ratio_95_percent_of_the_time():
    rng = np.random.default_rng(17)
    covered = 0
    trials = 2000
    for _ in range(trials):
        interval = paired_ratio(*synthetic_blocks(rng, 1.2, blocks=10))
        covered += interval.low <= 1.2 <= interval.high
    assert 0.935 <= covered / trials <= 0.965


def test_pairing_cancels_the_machine_drift():
    """A 30% block-to-block drift of the machine, 5% noise per measurement: the paired interval
    is as narrow as the per-measurement noise allows, far narrower than unpaired rates."""
    rng = np.random.default_rng(3)
    numerators, denominators = synthetic_blocks(rng, 1.2, blocks=20)
    paired = paired_ratio(numerators, denominators)
    assert paired.half_width < 0.05
    unpaired = stats.ttest_ind(np.log(numerators), np.log(denominators)).confidence_interval()
    assert (math.exp(unpaired.high) - math.exp(unpaired.low)) / 2 > 4 * paired.half_width


@pytest.mark.parametrize(
    ("numerators", "denominators", "message"),
    [
        ([1.0, 2.0], [1.0], "equal lengths"),
        ([1.0], [1.0], "at least 2 blocks"),
        ([1.0, 0.0], [1.0, 1.0], "finite and > 0"),
        ([1.0, float("inf")], [1.0, 1.0], "finite and > 0"),
    ],
)
def test_bad_rates_are_refused(numerators, denominators, message):
    with pytest.raises(ValueError, match=message):
        paired_ratio(numerators, denominators)


def test_blocks_run_until_every_interval_is_narrow_enough():
    """Known answer: ratios alternate 1.1 / 1.3 in one pair and 1.0 / 1.02 in the other; the
    first is the wide one, and its half-width at n blocks follows from the t interval."""
    rates = {"a": [], "b": [], "c": [], "d": []}

    def run_block() -> None:
        n = len(rates["a"])
        rates["a"].append(1.1 if n % 2 == 0 else 1.3)
        rates["b"].append(1.0)
        rates["c"].append(1.0 if n % 2 == 0 else 1.02)
        rates["d"].append(1.0)

    def intervals() -> list[RatioInterval]:
        return [
            paired_ratio(rates["a"], rates["b"]),
            paired_ratio(rates["c"], rates["d"]),
        ]

    blocks = measure_until_narrow(run_block, intervals, half_width=0.05, min_blocks=4)

    def wide_half_width(n: int) -> float:
        logs = [math.log(1.1 if i % 2 == 0 else 1.3) for i in range(n)]
        mean, sd = np.mean(logs), np.std(logs, ddof=1)
        margin = stats.t.ppf(0.975, n - 1) * sd / math.sqrt(n)
        return (math.exp(mean + margin) - math.exp(mean - margin)) / 2

    expected = next(n for n in range(4, 61) if wide_half_width(n) <= 0.05)
    assert blocks == expected == len(rates["a"])


def test_blocks_stop_at_the_maximum_when_the_interval_stays_wide():
    calls = []

    def run_block() -> None:
        calls.append(len(calls))

    def intervals() -> list[RatioInterval]:
        return [RatioInterval(1.0, 0.5, 1.5, len(calls))]

    assert measure_until_narrow(run_block, intervals, 0.05, min_blocks=2, max_blocks=7) == 7
    assert len(calls) == 7


def test_a_narrow_interval_still_runs_the_minimum():
    calls = []

    def intervals() -> list[RatioInterval]:
        return [RatioInterval(1.0, 1.0, 1.0, len(calls))]

    assert measure_until_narrow(lambda: calls.append(1), intervals, min_blocks=5) == 5


@pytest.mark.parametrize(("low", "high"), [(1, 5), (6, 5), (0, 0)])
def test_block_limits_are_checked(low, high):
    with pytest.raises(ValueError, match="min_blocks <= max_blocks"):
        measure_until_narrow(lambda: None, list, min_blocks=low, max_blocks=high)
