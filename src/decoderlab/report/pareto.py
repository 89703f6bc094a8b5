"""The cost-quality front: the decoders no other decoder beats on both a cost and test loss."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from decoderlab.metrics.registry import PRIMARY_METRIC
from decoderlab.report.stats import PARAMS, SECONDS_PER_EPOCH, DecoderSummary

QUALITY = PRIMARY_METRIC
# cost name (CSV column pareto_<name>) -> the table metric it is measured by
COSTS = {"params": PARAMS, "time": SECONDS_PER_EPOCH}


def pareto_optimal(costs: Sequence[float], losses: Sequence[float]) -> list[bool]:
    """Per point (cost, loss), both to be minimised, whether it is Pareto-optimal.

    A point is dominated when another is no worse in both and strictly better in one; the
    optimal points are those not dominated (equal points are optimal together). A point with
    a NaN coordinate is never optimal and dominates nothing. Raises ValueError when the two
    sequences differ in length.
    """
    if len(costs) != len(losses):
        raise ValueError(f"pareto_optimal: {len(costs)} costs but {len(losses)} losses")
    points = [(float(c), float(q)) for c, q in zip(costs, losses, strict=True)]
    defined = [not (math.isnan(c) or math.isnan(q)) for c, q in points]

    def dominated(i: int) -> bool:
        c, q = points[i]
        return any(
            defined[j] and points[j][0] <= c and points[j][1] <= q and points[j] != points[i]
            for j in range(len(points))
        )

    return [defined[i] and not dominated(i) for i in range(len(points))]


@dataclass(frozen=True)
class CostQualityFront:
    """Per cost name (``COSTS``), the table rows on the front of mean cost vs mean test loss.

    ``candidates`` are the rows that have both means (the others are on no front).
    """

    optimal: dict[str, frozenset[str]]
    candidates: dict[str, frozenset[str]]

    def columns(self) -> dict[str, dict[str, int]]:
        """CSV columns ``pareto_<cost>``: per row label, 1 on the front, 0 off it (candidates)."""
        return {
            f"pareto_{cost}": {d: int(d in self.optimal[cost]) for d in self.candidates[cost]}
            for cost in COSTS
        }


def cost_quality_front(rows: Sequence[DecoderSummary]) -> CostQualityFront:
    """The front of each cost in ``COSTS`` against test loss, from the rows' means over seeds."""
    optimal, candidates = {}, {}
    for cost, metric in COSTS.items():
        usable = [r for r in rows if r.get(metric) and r.get(QUALITY)]
        flags = pareto_optimal(
            [r.get(metric).mean for r in usable], [r.get(QUALITY).mean for r in usable]
        )
        optimal[cost] = frozenset(r.decoder for r, on in zip(usable, flags, strict=True) if on)
        candidates[cost] = frozenset(r.decoder for r in usable)
    return CostQualityFront(optimal, candidates)
