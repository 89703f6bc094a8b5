"""The recommendation rule on synthetic sweeps whose answer is known by construction."""

from __future__ import annotations

import numpy as np
import pytest

from decoderlab.stats.paired import compare_to_best
from decoderlab.stats.recommendation import Cost, recommend

SEEDS = 6


def columns(offsets: dict[str, float], swing: dict[str, float] | None = None, seed: int = 0):
    """{decoder: {seed: value}}: a shared seed effect around 0.1 plus each decoder's offset,
    a little noise (sd 0.0002) and, for decoders in ``swing``, ±amplitude alternating from
    seed to seed (mean 0: the offset stays the decoder's distance to the others)."""
    rng = np.random.default_rng(seed)
    shared = rng.normal(0.1, 0.02, SEEDS)
    alternating = np.resize([1.0, -1.0], SEEDS)
    swing = swing or {}
    return {
        d: dict(
            enumerate(shared + o + swing.get(d, 0) * alternating + rng.normal(0, 0.0002, SEEDS))
        )
        for d, o in offsets.items()
    }


def clean(decoders: list[str]) -> dict:
    """A checkerboard metric on which no decoder differs from another (exact zeros are
    untestable, so a tiny shared value)."""
    return columns(dict.fromkeys(decoders, 0.0), seed=9)


COSTS = {
    "big": Cost(params=300_000, seconds_per_epoch=3.0),
    "small": Cost(params=100_000, seconds_per_epoch=2.0),
    "tiny": Cost(params=50_000, seconds_per_epoch=1.0),
    "twin": Cost(params=100_000, seconds_per_epoch=1.5),
}


def verdicts(primary: dict, cbe: dict):
    return (
        compare_to_best(primary, "test/loss", equivalence_margin=0.05),
        {"test/cbe2": compare_to_best(cbe, "test/cbe2")},
    )


def test_a_cheaper_equivalent_decoder_is_recommended():
    """`big` is best, `small` 0.3% behind (equivalent at ±5%), `tiny` 30% behind (worse)."""
    primary, cbe = verdicts(
        columns({"big": 0.0, "small": 0.0003, "tiny": 0.03}), clean(["big", "small", "tiny"])
    )
    assert primary.best == "big"
    result = recommend(primary, cbe, COSTS)
    assert result.decoder == "small"
    assert result.candidates == ["small", "big"]
    assert result.excluded == {"tiny": "worse on test/loss"}
    assert result.pending == {}


def test_seconds_per_epoch_break_a_tie_in_parameters():
    primary, cbe = verdicts(
        columns({"big": 0.0, "small": 0.0002, "twin": 0.0003}), clean(["big", "small", "twin"])
    )
    assert recommend(primary, cbe, COSTS).decoder == "twin"


def test_a_cheaper_decoder_worse_on_a_checkerboard_metric_is_not_recommended():
    """`small` is equivalent on test loss but its CBE is far above the others'."""
    cbe = columns({"big": 0.0, "small": 0.05})
    primary, checkerboard = verdicts(columns({"big": 0.0, "small": 0.0003}), cbe)
    result = recommend(primary, checkerboard, COSTS)
    assert result.decoder == "big"
    assert result.excluded == {"small": "worse on test/cbe2"}


def test_no_recommendation_when_nothing_cheaper_is_shown_equivalent():
    """`small` and `tiny` have the best's mean ±0.5% but swing ±0.02 from seed to seed:
    inconclusive, so the cheap choice cannot be made; the seeds that would settle it are
    given."""
    swing = {"small": 0.02, "tiny": 0.03}
    primary, cbe = verdicts(
        columns({"big": 0.0, "small": 0.0005, "tiny": 0.0005}, swing=swing),
        clean(["big", "small", "tiny"]),
    )
    assert primary.best == "big"
    assert [c.outcome for c in primary.comparisons[1:]] == ["inconclusive"] * 2
    result = recommend(primary, cbe, COSTS)
    assert result.decoder is None
    assert result.candidates == ["big"]
    assert list(result.pending) == ["tiny", "small"]  # cheapest first
    comparisons = {c.decoder: c for c in primary.comparisons}
    assert result.pending["small"] == comparisons["small"].seeds_for_equivalence
    assert result.excluded["small"] == "inconclusive on test/loss"


def test_the_best_is_recommended_when_it_is_the_cheapest():
    primary, cbe = verdicts(
        columns({"tiny": 0.0, "big": 0.0005}, swing={"big": 0.02}), clean(["tiny", "big"])
    )
    assert primary.best == "tiny"
    assert recommend(primary, cbe, COSTS).decoder == "tiny"


def test_verdicts_without_equivalence_tests_are_refused():
    plain = compare_to_best(columns({"a": 0.0, "b": 0.01}), "test/loss")
    with pytest.raises(ValueError, match="equivalence_margin"):
        recommend(plain, {}, {})
