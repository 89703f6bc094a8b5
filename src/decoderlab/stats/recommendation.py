"""One decision a user can act on: which decoder to use, by a stated rule, with its evidence.

The rule (the paired design's last step): among the decoders *equivalent to the best* on the
primary metric (shown within the equivalence margin by TOST, the best included) and *not worse
than the best on any checkerboard verdict*, the cheapest: fewest parameters, then fewest
seconds per epoch on the device that ran the sweep. Equivalence, not "not shown worse", is
required: a decoder that is merely not distinguishable from the best may be worse by more than
the margin. The decision is withheld while a cheaper decoder is still inconclusive on the
primary metric (it could still turn out equivalent and become the answer); then the result
says how many seeds would settle it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from decoderlab.stats.paired import BEST, EQUIVALENT, INCONCLUSIVE, UNTESTED, WORSE, PairedVerdicts

RULE = (
    "among the decoders equivalent to the best on the primary metric (TOST within the margin) "
    "and not worse than the best on any checkerboard verdict, the one with the fewest "
    "parameters, then the fewest seconds per epoch"
)


@dataclass(frozen=True)
class Cost:
    """What a decoder costs: trainable parameters and mean wall seconds per epoch (None:
    not recorded; an unknown cost sorts after every known one)."""

    params: float | None = None
    seconds_per_epoch: float | None = None

    def key(self) -> tuple[float, float]:
        return (
            math.inf if self.params is None else self.params,
            math.inf if self.seconds_per_epoch is None else self.seconds_per_epoch,
        )


@dataclass(frozen=True)
class Recommendation:
    """``decoder``: the recommended one, or None when the data support no decision.

    ``candidates``: the decoders the rule admits, cheapest first; ``excluded``: every other
    decoder and why (``"worse on test/loss"``, ``"worse on test/cbe2"``, ``"inconclusive on
    test/loss"``, ...); ``pending``: decoders cheaper than the cheapest candidate whose
    primary verdict is inconclusive or untested (they withhold the decision), with the seeds
    a TOST would need to show each equivalent (None: not reachable at this margin with the
    observed difference, or beyond the cap).
    """

    decoder: str | None
    metric: str
    candidates: list[str]
    excluded: dict[str, str]
    pending: dict[str, int | None] = field(default_factory=dict)
    rule: str = RULE


def recommend(
    primary: PairedVerdicts,
    checkerboard: Mapping[str, PairedVerdicts],
    costs: Mapping[str, Cost],
) -> Recommendation:
    """Apply the rule (module docstring) to the verdicts of one sweep.

    ``primary`` must carry equivalence tests (``compare_to_best(..., equivalence_margin=)``):
    ValueError otherwise. ``checkerboard`` maps each checkerboard metric to its verdicts
    (difference tests suffice); ``costs`` maps decoders to their ``Cost``.
    """
    if primary.best is None:
        return Recommendation(None, primary.metric, [], {})
    if primary.margin is None:
        raise ValueError(
            f"a recommendation needs equivalence tests on {primary.metric}: compute the "
            "verdicts with compare_to_best(..., equivalence_margin=...)"
        )
    worse_on = {
        c.decoder: metric
        for metric, verdicts in sorted(checkerboard.items(), reverse=True)
        for c in verdicts.comparisons
        if c.verdict == WORSE
    }

    def cost(decoder: str) -> tuple:
        return (*costs.get(decoder, Cost()).key(), decoder)

    candidates, excluded, open_ = [], {}, []
    for c in primary.comparisons:
        if c.decoder in worse_on:
            excluded[c.decoder] = f"worse on {worse_on[c.decoder]}"
        elif c.outcome in (BEST, EQUIVALENT):
            candidates.append(c)
        elif c.outcome in (INCONCLUSIVE, UNTESTED):
            state = "inconclusive" if c.outcome == INCONCLUSIVE else "untested"
            excluded[c.decoder] = f"{state} on {primary.metric}"
            open_.append(c)
        else:
            excluded[c.decoder] = f"worse on {primary.metric}"
    candidates.sort(key=lambda c: cost(c.decoder))
    limit = cost(candidates[0].decoder) if candidates else None
    pending = {
        c.decoder: c.seeds_for_equivalence
        for c in sorted(open_, key=lambda c: cost(c.decoder))
        if limit is None or cost(c.decoder) < limit
    }
    decoder = candidates[0].decoder if candidates and not pending else None
    return Recommendation(
        decoder, primary.metric, [c.decoder for c in candidates], excluded, pending
    )
