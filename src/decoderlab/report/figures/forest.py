"""The forest plot: each decoder's paired difference to the best, with its 95% interval."""

from __future__ import annotations

import math

from matplotlib.figure import Figure

from decoderlab.stats.paired import BEST, WORSE, PairedVerdicts

WORSE_COLOR, CLOSE_COLOR = "tab:red", "tab:gray"


def forest_figure(verdicts: PairedVerdicts) -> Figure:
    """One line per decoder, best on top: the mean paired difference (decoder − best) in the
    metric's units as a dot, its 95% t interval as a thin bar and its simultaneous interval
    (confidence 1 − α/pairs, ``Comparison.simultaneous_interval``) as a wide pale bar, a line
    at 0 (the best). Decoders
    judged worse (Holm) are red and filled, the others grey and hollow; the right margin
    gives the Holm p and the seeds paired."""
    rows = verdicts.comparisons
    figure = Figure(figsize=(9.0, 0.45 * len(rows) + 1.4))
    axes = figure.add_subplot()
    figure.subplots_adjust(left=0.3, right=0.78, top=0.86, bottom=0.6 / (0.45 * len(rows) + 1.4))
    for y, c in enumerate(rows):
        if c.verdict == BEST:
            axes.plot([0], [y], marker="D", color="black")
            axes.annotate(
                f"best ({c.n} seeds)",
                (1.01, y),
                xycoords=("axes fraction", "data"),
                va="center",
                fontsize=9,
            )
            continue
        worse = c.verdict == WORSE
        colour = WORSE_COLOR if worse else CLOSE_COLOR
        if not math.isnan(c.low):
            axes.plot([c.low, c.high], [y, y], color=colour, linewidth=1)
        low, high = c.simultaneous_interval()
        if not math.isnan(low):
            axes.plot([low, high], [y, y], color=colour, linewidth=4, alpha=0.35)
        axes.plot(
            [c.difference],
            [y],
            marker="o",
            markersize=7,
            color=colour,
            markerfacecolor=colour if worse else "white",
        )
        label = f"Holm p {c.p_holm:.2g}, n={c.n}" + (" (Welch)" if c.test == "Welch t" else "")
        axes.annotate(
            label,
            (1.01, y),
            xycoords=("axes fraction", "data"),
            va="center",
            fontsize=9,
            color=colour,
        )
    axes.axvline(0.0, color="black", linewidth=0.8)
    axes.set_yticks(range(len(rows)), [f"{c.decoder}" for c in rows])
    axes.invert_yaxis()
    axes.set_xlabel(
        f"{verdicts.metric}: decoder − best, paired by seed "
        "(thin: 95% interval; wide: simultaneous over all pairs)"
    )
    axes.set_title(
        f"Paired difference to the best ({verdicts.best}); red: worse at Holm α={verdicts.alpha:g}",
        fontsize=10,
    )
    axes.grid(axis="x", alpha=0.3)
    return figure
