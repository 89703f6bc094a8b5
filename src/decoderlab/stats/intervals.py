"""The Student-t confidence interval of a mean, from scipy (``ttest_1samp``)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import stats


def t_interval(
    values: Sequence[float] | np.ndarray, confidence: float = 0.95
) -> tuple[float, float]:
    """``(low, high)``: mean ± t_{(1+confidence)/2, n−1} · s / √n of ``values`` (1-D, n >= 2),
    from ``scipy.stats.ttest_1samp(values, 0).confidence_interval(confidence)``.

    Both ends are NaN for fewer than 2 values; with no spread both are the mean (scipy would
    return NaN there: 0/0). ValueError for ``confidence`` outside (0, 1).
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    x = np.asarray(values, dtype=float)
    if x.ndim != 1:
        raise ValueError(f"t_interval needs a 1-D array, got shape {x.shape}")
    if len(x) < 2:
        return math.nan, math.nan
    if np.ptp(x) == 0:
        return float(x.mean()), float(x.mean())
    interval = stats.ttest_1samp(x, 0.0).confidence_interval(confidence)
    return float(interval.low), float(interval.high)
