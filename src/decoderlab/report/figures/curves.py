"""Validation loss per epoch, one line per decoder, seeds as a band."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

VAL_LOSS_SIZE = (7.0, 4.5)


def val_loss_figure(curves: dict[str, list[list[float]]]) -> Figure:
    """Validation loss per epoch: mean over seeds (line) and their min-max range (band; a bar
    when there is one epoch).

    ``curves`` maps a decoder to its seeds' per-epoch losses; seeds are cut to the shortest.
    """
    figure = Figure(figsize=VAL_LOSS_SIZE)
    axes = figure.add_subplot()
    for k, (decoder, runs) in enumerate(curves.items()):
        length = min(len(r) for r in runs)
        losses = np.array([r[:length] for r in runs], dtype=float)
        epochs = np.arange(1, length + 1, dtype=float)
        if length == 1:  # one point per decoder: side by side, so every bar shows
            epochs += (k - (len(curves) - 1) / 2) * 0.04
        mean = losses.mean(axis=0)
        (line,) = axes.plot(epochs, mean, marker="o", ms=3, label=decoder)
        if len(runs) > 1 and length == 1:  # a band of one epoch is invisible: a bar instead
            spread = [mean - losses.min(axis=0), losses.max(axis=0) - mean]
            axes.errorbar(epochs, mean, yerr=spread, color=line.get_color(), capsize=3)
        elif len(runs) > 1:
            axes.fill_between(
                epochs,
                losses.min(axis=0),
                losses.max(axis=0),
                color=line.get_color(),
                alpha=0.2,
                linewidth=0,
            )
    axes.set(
        xlabel="epoch",
        ylabel="validation loss",
        title="Validation loss: mean over seeds, band = range over seeds",
    )
    axes.xaxis.get_major_locator().set_params(integer=True, min_n_ticks=1)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8, ncol=2)
    figure.tight_layout()
    return figure
