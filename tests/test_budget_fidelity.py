"""stats.budget_fidelity on synthetic budgets with known answers."""

import math

import pytest

from decoderlab.stats.budget_fidelity import agreement, by_epoch

SEEDS = {1: -0.1, 2: 0.0, 3: 0.1}  # per-seed offsets shared by every decoder: mean 0


def values(gaps: dict[str, float], base: float = 1.0) -> dict[str, dict[int, float]]:
    """Every decoder at base + gap + the seed's offset: paired differences are the gaps."""
    return {d: {s: base + g + o for s, o in SEEDS.items()} for d, g in gaps.items()}


LONG = {"a": 0.0, "b": 0.02, "c": 0.05, "d": 0.10}


def test_identical_budgets_agree_exactly():
    result = agreement(values(LONG), values(LONG))
    assert result.best == "a"
    assert result.tau == pytest.approx(1.0)
    assert result.scale == pytest.approx(1.0)
    assert result.ratios() == pytest.approx({"b": 1.0, "c": 1.0, "d": 1.0})
    assert result.within(1.5)


def test_doubled_gaps_give_scale_two_and_fail_a_factor_of_one_and_a_half():
    short = values({d: 2 * g for d, g in LONG.items()})
    result = agreement(short, values(LONG))
    assert result.tau == pytest.approx(1.0)
    assert result.scale == pytest.approx(2.0)
    # effects are fractions of the best's mean (1.0 in both budgets here)
    assert result.effects["d"] == pytest.approx((0.20, 0.10))
    assert not result.within(1.5)
    assert result.within(2.0)


def test_one_swapped_pair_of_four_is_tau_two_thirds():
    # 6 pairs, 5 concordant and 1 discordant: (5 - 1) / 6
    short = values({"a": 0.0, "b": 0.06, "c": 0.05, "d": 0.10})
    result = agreement(short, values(LONG))
    assert result.tau == pytest.approx(4 / 6)


def test_small_long_effects_are_left_out_of_the_ratios():
    long = {"a": 0.0, "b": 0.001, "c": 0.05, "d": 0.10}
    short = {"a": 0.0, "b": 0.02, "c": 0.06, "d": 0.12}
    result = agreement(values(short), values(long))
    assert set(result.ratios()) == {"c", "d"}
    assert result.within(1.5)
    # through-origin slope over b, c, d: Σ s·l / Σ l²
    expected = (0.02 * 0.001 + 0.06 * 0.05 + 0.12 * 0.10) / (0.001**2 + 0.05**2 + 0.10**2)
    assert result.scale == pytest.approx(expected)


def test_higher_is_better_picks_the_highest_and_keeps_worse_positive():
    result = agreement(
        values({"a": 0.3, "b": 0.2, "c": 0.0}),
        values({"a": 0.3, "b": 0.2, "c": 0.0}),
        higher_better=True,
    )
    assert result.best == "a"
    assert result.effects["c"][1] == pytest.approx(0.3 / 1.3)


def test_fewer_than_three_shared_decoders_is_refused():
    with pytest.raises(ValueError, match="3 or more decoders"):
        agreement(values({"a": 0, "b": 0.1}), values({"a": 0, "b": 0.1, "c": 0.2}))


def test_by_epoch_reads_shrinking_gaps_off_learning_curves():
    # gaps shrink as 10/k over 10 epochs: at epoch k the gaps are 10/k times the last epoch's
    epochs, gaps = 10, {"a": 0.0, "b": 0.01, "c": 0.03, "d": 0.05}
    histories = {
        d: {s: [1.0 + g * epochs / k + o for k in range(1, epochs + 1)] for s, o in SEEDS.items()}
        for d, g in gaps.items()
    }
    table = by_epoch(histories)
    assert [a.label for a in table] == [f"epoch {k}" for k in range(1, 11)]
    assert all(a.tau == pytest.approx(1.0) for a in table)
    assert [a.scale for a in table] == pytest.approx([10 / k for k in range(1, 11)])
    assert table[4].ratios() == pytest.approx({"b": 2.0, "c": 2.0, "d": 2.0})


def test_by_epoch_sees_a_late_flip():
    # b is better than c until epoch 4, worse afterwards
    histories = {
        "a": {1: [1.0] * 6},
        "b": {1: [1.1, 1.1, 1.1, 1.1, 1.1, 1.1]},
        "c": {1: [1.3, 1.2, 1.15, 1.12, 1.05, 1.04]},
    }
    table = by_epoch(histories)
    assert table[0].tau == pytest.approx(1 / 3)  # pairs: (a,b)+ (a,c)+ (b,c)−
    assert table[-1].tau == pytest.approx(1.0)
    assert math.isnan(table[0].ratios().get("a", math.nan))
