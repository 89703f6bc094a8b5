"""Validation loss per epoch, one line per decoder, seeds as a band."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

VAL_LOSS_SIZE = (7.0, 4.5)


def val_loss_figure(curves: dict[str, list[list[float]]]) -> Figure:
    """Validation loss per epoch: mean over seeds (line) and their min-max range (band).

    ``curves`` maps a decoder to its seeds' per-epoch losses; seeds are cut to the shortest.
    """
    figure = Figure(figsize=VAL_LOSS_SIZE)
    axes = figure.add_subplot()
    for decoder, runs in curves.items():
        length = min(len(r) for r in runs)
        losses = np.array([r[:length] for r in runs], dtype=float)
        epochs = np.arange(1, length + 1)
        (line,) = axes.plot(epochs, losses.mean(axis=0), marker="o", ms=3, label=decoder)
        if len(runs) > 1:
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
    axes.xaxis.get_major_locator().set_params(integer=True)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8, ncol=2)
    figure.tight_layout()
    return figure
