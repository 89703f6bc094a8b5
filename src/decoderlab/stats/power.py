"""How many seeds (pairs) a one-sided paired t-test needs: statsmodels ``TTestPower``."""

from __future__ import annotations

import math

from statsmodels.stats.power import TTestPower

POWER = 0.8
MAX_SEEDS_NEEDED = 1000


def pairs_needed(
    effect_size: float, alpha: float, power: float = POWER, cap: int = MAX_SEEDS_NEEDED
) -> int | None:
    """The smallest n (>= 2) at which a one-sided one-sample t-test at level ``alpha`` has
    ``power`` to detect a mean of ``effect_size`` standard deviations (Cohen 1988):
    statsmodels ``TTestPower().solve_power(alternative="larger")``, rounded up. None above
    ``cap``; ValueError for an effect size that is not finite and > 0.

    When n = 2 already suffices the solver has no root to find (and scipy's noncentral t
    returns NaN for very large noncentralities), so that case is answered first.
    """
    if not (effect_size > 0 and math.isfinite(effect_size)):
        raise ValueError(f"effect size must be finite and > 0, got {effect_size}")
    analysis = TTestPower()
    at_two = analysis.power(effect_size=effect_size, nobs=2, alpha=alpha, alternative="larger")
    if not at_two < power:  # NaN: a noncentrality so large that the power is 1
        return 2
    n = analysis.solve_power(
        effect_size=effect_size, alpha=alpha, power=power, alternative="larger"
    )
    if not math.isfinite(n):
        return None
    n = math.ceil(float(n))
    return n if n <= cap else None
