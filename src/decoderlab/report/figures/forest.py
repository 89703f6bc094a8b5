"""The forest plot: each decoder's paired difference to the best, with its 95% interval."""

from __future__ import annotations

import math

from matplotlib.figure import Figure

from decoderlab.stats.paired import BEST, EQUIVALENT, WORSE, PairedVerdicts

WORSE_COLOR, CLOSE_COLOR, EQUIVALENT_COLOR = "tab:red", "tab:gray", "tab:green"


def forest_figure(verdicts: PairedVerdicts) -> Figure:
    """One line per decoder, best on top: the mean paired difference (decoder − best) in the
    metric's units as a dot, its 95% t interval as a thin bar and its simultaneous interval
    (confidence 1 − α/pairs, ``Comparison.simultaneous_interval``) as a wide pale bar, a line
    at 0 (the best). Decoders
    judged worse (Holm) are red and filled, those shown equivalent (with an equivalence
    margin, drawn as a pale green band) green and filled, the others grey and hollow; the
    right margin gives the Holm p and the seeds paired."""
    rows = verdicts.comparisons
    # the names' column grows with the longest name (about 0.085 in a character at 10 pt), so
    # that no name is cut; the plot and the right margin keep their 6.3 in
    names_in = 0.3 + 0.085 * max(len(c.decoder) for c in rows)
    width, height = names_in + 6.3, 0.45 * len(rows) + 1.4
    figure = Figure(figsize=(width, height))
    axes = figure.add_subplot()
    figure.subplots_adjust(
        left=names_in / width, right=1 - 1.98 / width, top=0.86, bottom=0.6 / height
    )
    if verdicts.margin is not None:
        axes.axvspan(-verdicts.margin, verdicts.margin, color=EQUIVALENT_COLOR, alpha=0.12)
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
        filled = c.outcome in (WORSE, EQUIVALENT)
        colour = {WORSE: WORSE_COLOR, EQUIVALENT: EQUIVALENT_COLOR}.get(c.outcome, CLOSE_COLOR)
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
            markerfacecolor=colour if filled else "white",
        )
        shown = c.p_equivalence_holm if c.outcome == EQUIVALENT else c.p_holm
        label = f"{'TOST ' if c.outcome == EQUIVALENT else ''}Holm p {shown:.2g}, n={c.n}" + (
            " (Welch)" if c.test == "Welch t" else ""
        )
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
    title = (
        f"Paired difference to the best ({verdicts.best}); red: worse at Holm α={verdicts.alpha:g}"
    )
    if verdicts.margin is not None:
        title += f"\ngreen: equivalent within ±{verdicts.margin:.3g} (band), TOST at Holm α"
    axes.set_title(title, fontsize=10)
    axes.grid(axis="x", alpha=0.3)
    return figure
