"""The budget check on synthetic learning curves whose ranking is known at every epoch."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from decoderlab.stats.budget import budget_check, checkpoint_epochs

EPOCHS, SEEDS = 20, 5


def curves(shapes: dict[str, tuple[float, float, float]], seed: int = 0) -> dict:
    """{decoder: {seed: per-epoch loss}} with loss(e) = floor + height · exp(−e / scale) for
    (floor, height, scale) per decoder, a seed effect shared by every decoder, and noise."""
    rng = np.random.default_rng(seed)
    epochs = np.arange(1, EPOCHS + 1)
    shared = rng.normal(0, 0.003, (SEEDS, 1))
    out = {}
    for d, (floor, height, scale) in shapes.items():
        clean = floor + height * np.exp(-epochs / scale)
        noisy = clean + shared + rng.normal(0, 0.0002, (SEEDS, EPOCHS))
        out[d] = {s: list(noisy[s]) for s in range(SEEDS)}
    return out


def test_checkpoints_are_half_and_three_quarters():
    assert checkpoint_epochs(20) == [10, 15]
    assert checkpoint_epochs(3) == [1, 2]
    assert checkpoint_epochs(2) == [1]
    assert checkpoint_epochs(1) == []


def test_a_stable_ranking_is_not_flagged():
    """Same learning speed, floors 10% apart: the order and the verdicts never change."""
    shapes = {d: (0.10 + 0.01 * i, 0.05, 4.0) for i, d in enumerate("abcd")}
    check = budget_check(curves(shapes), "val/loss", equivalence_margin=0.05)
    assert check.epochs == EPOCHS and [c.epoch for c in check.checkpoints] == [10, 15]
    assert [c.tau for c in check.checkpoints] == [1.0, 1.0]
    assert not check.ranking_moving and check.verdicts_moving == [] and not check.moving
    assert check.final.best == "a"


def test_a_ranking_that_flips_late_is_flagged():
    """Fast decoders level off early at 0.100/0.104; slow ones keep learning to 0.090/0.094
    and pass them only after epoch 15: the three-quarter ranking is reversed."""
    shapes = {
        "fast1": (0.100, 0.05, 2.0),
        "fast2": (0.104, 0.05, 2.0),
        "slow1": (0.090, 0.20, 6.0),
        "slow2": (0.094, 0.20, 6.0),
    }
    data = curves(shapes)
    check = budget_check(data, "val/loss", equivalence_margin=0.05)
    assert check.final.best == "slow1"
    decoders = sorted(data)

    def means(epoch: int) -> list[float]:
        return [np.mean([h[epoch - 1] for h in data[d].values()]) for d in decoders]

    expected = stats.kendalltau(means(15), means(20)).statistic
    assert check.latest.tau == pytest.approx(expected)
    assert check.latest.tau < 0.8 and check.ranking_moving and check.moving
    assert check.latest.verdicts.best == "fast1"
    assert "slow1" in check.verdicts_moving
    assert check.latest.changed["slow1"][1] == "best"
    # the slow decoders still improve by more than 1% over the last 5 epochs, the fast do not
    assert check.last_quarter == 5
    start, end = (np.mean([h[e - 1] for h in data["slow1"].values()]) for e in (15, 20))
    assert check.improvement["slow1"] == pytest.approx((start - end) / start)
    assert sorted(check.still_improving) == ["slow1", "slow2"]
    # the figure's series: slow1 − slow1 is 0; fast1 is ahead (negative) at epoch 10
    assert np.allclose(check.differences["slow1"], 0.0)
    assert check.differences["fast1"][9] < 0 < check.differences["fast1"][-1]


def test_higher_is_better_curves_and_a_one_epoch_budget():
    shapes = {d: (0.10 + 0.01 * i, 0.05, 4.0) for i, d in enumerate("ab")}
    flipped = {
        d: {s: [-v for v in h] for s, h in runs.items()} for d, runs in curves(shapes).items()
    }
    check = budget_check(flipped, "val/psnr", higher_better=True)
    assert check.final.best == "a"  # the highest (least negative)
    assert all(r > 0 for r in check.improvement.values())  # rising curves improve
    one = {d: {s: h[:1] for s, h in runs.items()} for d, runs in curves(shapes).items()}
    short = budget_check(one, "val/loss")
    assert short.checkpoints == [] and not short.moving and short.latest is None
    assert math.isnan(short.improvement["a"])  # no earlier epoch to improve from
    diverged = {"a": {1: [0.2, None], 2: [0.2, 0.1]}, "b": {1: [0.3, 0.2], 2: [0.3, 0.2]}}
    assert budget_check(diverged, "val/loss").final.comparisons[0].n == 1  # a: seed 2 only
    with pytest.raises(ValueError, match="2 or more decoders"):
        budget_check({"a": {1: [0.1, 0.09]}}, "val/loss")


def test_the_section_of_a_one_epoch_budget_has_no_improvement_table():
    from decoderlab.report.judgement_text import budget_section

    shapes = {d: (0.10 + 0.01 * i, 0.05, 4.0) for i, d in enumerate("ab")}
    one = {d: {s: h[:1] for s, h in runs.items()} for d, runs in curves(shapes).items()}
    text = budget_section(budget_check(one, "val/loss"), None)
    assert "nan" not in text.lower() and "improvement over" not in text
    assert "no earlier epoch" in text
    four = {d: {s: h[:4] for s, h in runs.items()} for d, runs in curves(shapes).items()}
    assert "improvement over the last epoch |" in budget_section(
        budget_check(four, "val/loss"), None
    )
