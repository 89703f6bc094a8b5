"""The budget check's figure: each decoder's paired difference to the final best, per epoch."""

from __future__ import annotations

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure

from decoderlab.stats.budget import BudgetCheck

BUDGET_SIZE = (9.5, 4.5)


def budget_figure(check: BudgetCheck) -> Figure:
    """One line per decoder: its mean paired difference to the final best on the check's
    metric at every epoch, in % of the best's mean then (0: as good as the final best;
    below 0: ahead of it); dotted verticals at the checked epochs, labelled with Kendall's τ
    against the last epoch. A ranking that is still moving shows as lines that cross late."""
    figure = Figure(figsize=BUDGET_SIZE)
    axes = figure.add_subplot()
    epochs = np.arange(1, check.epochs + 1)
    order = sorted(check.differences, key=lambda d: check.differences[d][-1], reverse=True)
    # tab20: a colour of its own for each of up to 20 decoders (tab10 repeats after 10)
    colours = colormaps["tab20"](np.linspace(0, 1, 20))
    for i, decoder in enumerate(order):
        series = 100 * check.differences[decoder]
        style = {"color": colours[i % 20]}
        if decoder == check.final.best:
            style = {"color": "black", "linewidth": 2}
        axes.plot(epochs, series, marker="o", ms=3, label=decoder, **style)
    for checkpoint in check.checkpoints:
        axes.axvline(checkpoint.epoch, color="gray", linestyle=":", linewidth=1)
        axes.annotate(
            f"τ = {checkpoint.tau:.2f}",
            (checkpoint.epoch, 1.0),
            xycoords=("data", "axes fraction"),
            xytext=(3, -12),
            textcoords="offset points",
            fontsize=8,
            color="dimgray",
        )
    axes.axhline(0.0, color="black", linewidth=0.8)
    axes.set(
        xlabel="epoch",
        ylabel=f"{check.metric}: decoder − final best (% of best)",
        title=f"Paired difference to the final best ({check.final.best}), by epoch",
    )
    axes.xaxis.get_major_locator().set_params(integer=True, min_n_ticks=1)
    axes.grid(alpha=0.3)
    # beside the axes, top to bottom as the lines end at the last epoch, never over a line
    axes.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    figure.tight_layout()
    return figure
