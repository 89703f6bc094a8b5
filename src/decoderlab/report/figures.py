"""The report's PNG figures, drawn with matplotlib's object API (no pyplot state).

Each function returns the figure it drew; ``save`` writes it at ``DPI`` with the exact
pixel size ``figsize x DPI`` (no tight bounding box), which the tests rely on.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

DPI = 100
VAL_LOSS_SIZE = (7.0, 4.5)
STRIP_ROW_INCHES = 0.8
LABEL_INCHES = 1.9
FLAT_FIELD_ROW_INCHES = 1.6


def save(figure: Figure, path: Path) -> Path:
    figure.savefig(path, dpi=DPI)
    return path


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


def grid_rows(grid: np.ndarray, rows: int = 2) -> list[np.ndarray]:
    """Split a torchvision make_grid picture (H, W[, C]) of ``rows`` equal rows into strips."""
    height = grid.shape[0]
    edges = [round(i * height / rows) for i in range(rows + 1)]
    return [grid[edges[i] : edges[i + 1]] for i in range(rows)]


def strips_figure_size(rows: int) -> tuple[float, float]:
    return (8.0, STRIP_ROW_INCHES * rows + 0.2)


def reconstructions_figure(originals: np.ndarray, strips: dict[str, np.ndarray]) -> Figure:
    """The seed article's picture: originals on top, one row of reconstructions per decoder."""
    rows = [("original", originals), *strips.items()]
    figure = Figure(figsize=strips_figure_size(len(rows)))
    width, height = figure.get_size_inches()
    left = LABEL_INCHES / width
    for i, (label, strip) in enumerate(rows):
        bottom = 1 - (0.1 + STRIP_ROW_INCHES * (i + 1)) / height
        axes = figure.add_axes((left, bottom, 1 - left - 0.01, STRIP_ROW_INCHES / height))
        axes.imshow(strip, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
        axes.set_xticks([])
        axes.set_yticks([])
        axes.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=9)
    return figure


def panels_figure(panels: Sequence[tuple[str, np.ndarray]], columns: int = 4) -> Figure:
    """Pictures in a grid at their native pixel size, each titled (one per decoder)."""
    columns = min(columns, len(panels))
    rows = math.ceil(len(panels) / columns)
    height = max(p.shape[0] for _, p in panels) / DPI + 0.3
    width = max(p.shape[1] for _, p in panels) / DPI
    figure = Figure(figsize=(width * columns, height * rows))
    for i, (title, picture) in enumerate(panels):
        row, column = divmod(i, columns)
        axes = figure.add_axes(
            (column / columns, 1 - (row + 1) / rows, 1 / columns, (height - 0.3) / height / rows)
        )
        axes.imshow(picture, interpolation="nearest")
        axes.set_title(title, fontsize=9)
        axes.axis("off")
    return figure


def paired_figure(
    rows: Sequence[tuple[str, np.ndarray, np.ndarray]], titles: tuple[str, str]
) -> Figure:
    """Two pictures per row (e.g. flat-field response at init and final), one row per decoder."""
    size = FLAT_FIELD_ROW_INCHES
    figure = Figure(figsize=(LABEL_INCHES + 2 * size + 0.2, size * len(rows) + 0.4))
    width, height = figure.get_size_inches()
    for i, (label, first, second) in enumerate(rows):
        for j, picture in enumerate((first, second)):
            left = (LABEL_INCHES + j * (size + 0.1)) / width
            bottom = 1 - (0.3 + size * (i + 1) - 0.05) / height
            axes = figure.add_axes((left, bottom, (size - 0.1) / width, (size - 0.1) / height))
            axes.imshow(picture, cmap="gray", interpolation="nearest")
            axes.set_xticks([])
            axes.set_yticks([])
            if i == 0:
                axes.set_title(titles[j], fontsize=9)
            if j == 0:
                axes.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)
    return figure
