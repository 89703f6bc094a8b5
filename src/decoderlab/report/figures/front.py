"""The cost-quality figure: test loss against parameters and against seconds per epoch, one
point per decoder, the Pareto-optimal ones highlighted, labelled and joined."""

from __future__ import annotations

import math
from collections.abc import Sequence

from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from decoderlab.metrics.registry import metric as declared
from decoderlab.report.pareto import COSTS, QUALITY, CostQualityFront
from decoderlab.report.stats import DecoderSummary, Estimate

FRONT_SIZE = (13.0, 5.2)
AXIS_LABELS = {
    "params": "parameters",
    "time": "seconds per epoch, training + validation (mean over seeds)",
}
FRONT_COLOR = "tab:red"
MARKERS = "osD^vP*X"
DODGE = 0.02


def _half(estimate: Estimate) -> float:
    return 0.0 if math.isnan(estimate.half_width) else estimate.half_width


def _dodged(costs: dict[str, float]) -> dict[str, float]:
    """Costs to draw at: rows of equal cost (e.g. parameter counts) spread sideways by
    DODGE of the cost range, centred on the true value, so each error bar stays visible."""
    values = list(costs.values())
    step = DODGE * ((max(values) - min(values)) or abs(values[0]) or 1.0)
    groups: dict[float, list[str]] = {}
    for decoder, cost in costs.items():
        groups.setdefault(cost, []).append(decoder)
    return {
        decoder: cost + (k - (len(members) - 1) / 2) * step
        for cost, members in groups.items()
        for k, decoder in enumerate(members)
    }


def cost_quality_figure(rows: Sequence[DecoderSummary], front: CostQualityFront) -> Figure:
    """One panel per cost in ``COSTS``: each row's mean test loss (error bar: its 95% interval
    over seeds) against its mean cost. Each row has one colour and marker in both panels and
    the legend; rows on a panel's front are filled, ringed in red, named in bold and joined by
    a step line (the lowest mean loss reachable at each cost); the others are hollow. Rows of
    equal cost are drawn side by side (``_dodged``)."""
    figure = Figure(figsize=FRONT_SIZE)
    panels = figure.subplots(1, len(COSTS), sharey=True)
    colours = colormaps["tab10"]
    style = {
        row.decoder: (colours(i % 10), MARKERS[i % len(MARKERS)]) for i, row in enumerate(rows)
    }
    for axes, (cost, metric) in zip(panels, COSTS.items(), strict=True):
        usable = [r for r in rows if r.decoder in front.candidates[cost]]
        shown = _dodged({r.decoder: r.get(metric).mean for r in usable})
        labelled = 0
        for row in sorted(usable, key=lambda r: shown[r.decoder]):
            x, y = shown[row.decoder], row.get(QUALITY)
            colour, marker = style[row.decoder]
            on = row.decoder in front.optimal[cost]
            axes.errorbar(
                x,
                y.mean,
                yerr=_half(y),
                fmt=marker,
                ms=7,
                color=colour,
                mfc=colour if on else "white",
                capsize=3,
                zorder=3,
            )
            if on:
                axes.plot(x, y.mean, "o", ms=15, mfc="none", mec=FRONT_COLOR, mew=1.5, zorder=4)
                axes.annotate(
                    row.decoder,
                    (x, y.mean),
                    xytext=(9, -13 if labelled % 2 == 0 else 7),
                    textcoords="offset points",
                    fontsize=8,
                    fontweight="bold",
                    color=FRONT_COLOR,
                    bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.8},
                    zorder=5,
                )
                labelled += 1
        optimal = sorted(
            (shown[row.decoder], row.get(QUALITY).mean)
            for row in usable
            if row.decoder in front.optimal[cost]
        )
        if optimal:
            axes.step(
                *zip(*optimal, strict=True),
                where="post",
                color=FRONT_COLOR,
                linewidth=1,
                alpha=0.6,
                zorder=1,
            )
        axes.set_xlabel(AXIS_LABELS[cost])
        axes.grid(alpha=0.3)
    quality = declared(QUALITY).label  # "test loss"
    panels[0].set_ylabel(f"{quality} (mean, 95% CI over seeds)")
    handles = [
        Line2D([], [], linestyle="none", marker=m, color=c, mfc="white", label=d)
        for d, (c, m) in style.items()
    ]
    handles.append(
        Line2D([], [], color=FRONT_COLOR, marker="o", mfc="none", ms=10, label="Pareto front")
    )
    figure.legend(handles=handles, loc="center right", fontsize=8, frameon=False)
    figure.suptitle(
        "What quality costs (lower left is better): ringed points are Pareto-optimal, no other "
        f"decoder has both a lower cost and a lower mean {quality}",
        fontsize=10,
    )
    figure.tight_layout(rect=(0, 0, 0.82, 1))
    return figure
