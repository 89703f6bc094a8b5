"""The flat-field figure: each decoder's own checkerboard, before and after training, on one
symmetric colour scale shared by every panel (``decoderlab.pictures``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from matplotlib.colors import Normalize
from matplotlib.figure import Figure

from decoderlab.pictures import FLAT_FIELD_CMAP, deviation_limit
from decoderlab.report.figures.output import LABEL_INCHES

PANEL_INCHES = 1.6
COLUMN_INCHES = 2.0
TITLE_INCHES = 0.4
COLORBAR_INCHES = 1.0
TOP_INCHES = 0.8
BOTTOM_INCHES = 0.2
# pixels shown per side: the interior is periodic on the decoder's lattice, so a corner of a
# few periods shows all of it, each pixel large enough that no resampling moiré appears
TILE_PIXELS = 16


@dataclass(frozen=True)
class FlatFieldRow:
    """One decoder's row: its label and, per column (e.g. init, final), a deviation map
    (H, W) from ``flat_field_deviation`` and the panel's title."""

    label: str
    maps: dict[str, np.ndarray]
    titles: dict[str, str]


def flat_field_figure(
    rows: Sequence[FlatFieldRow], columns: Sequence[str] = ("init", "final")
) -> Figure:
    """One row per decoder, one column per stage, a TILE_PIXELS corner of each map.

    Every panel shares one symmetric scale, ±``deviation_limit`` of all the maps (whole maps,
    not just the corners), and one colour bar; a column a row lacks stays empty.
    """
    limit = deviation_limit(m for row in rows for m in row.maps.values())
    norm = Normalize(-limit, limit)
    row_inches = PANEL_INCHES + TITLE_INCHES
    figure = Figure(
        figsize=(
            LABEL_INCHES + len(columns) * COLUMN_INCHES + COLORBAR_INCHES,
            TOP_INCHES + row_inches * len(rows) + BOTTOM_INCHES,
        )
    )
    width, height = figure.get_size_inches()
    image = None
    for j, column in enumerate(columns):
        figure.text(
            (LABEL_INCHES + (j + 0.5) * COLUMN_INCHES) / width,
            1 - (TOP_INCHES - 0.1) / height,
            column,
            ha="center",
            va="bottom",
            fontsize=10,
            fontweight="bold",
        )
    for i, row in enumerate(rows):
        bottom = 1 - (TOP_INCHES + row_inches * (i + 1)) / height
        for j, column in enumerate(columns):
            left = (LABEL_INCHES + j * COLUMN_INCHES + (COLUMN_INCHES - PANEL_INCHES) / 2) / width
            axes = figure.add_axes((left, bottom, PANEL_INCHES / width, PANEL_INCHES / height))
            axes.set_xticks([])
            axes.set_yticks([])
            if column in row.maps:
                tile = row.maps[column][:TILE_PIXELS, :TILE_PIXELS]
                image = axes.imshow(tile, cmap=FLAT_FIELD_CMAP, norm=norm, interpolation="nearest")
                axes.set_title(row.titles.get(column, column), fontsize=7.5)
            if j == 0:
                axes.set_ylabel(row.label, rotation=0, ha="right", va="center", fontsize=8)
    if image is not None:
        bar_axes = figure.add_axes(
            (
                (LABEL_INCHES + len(columns) * COLUMN_INCHES + 0.1) / width,
                1 - (TOP_INCHES + row_inches * len(rows)) / height,
                0.15 / width,
                (row_inches * len(rows) - TITLE_INCHES) / height,
            )
        )
        figure.colorbar(image, cax=bar_axes, label="(y − mean y) / RMS(y)")
    figure.suptitle(
        "Flat-field response: deviation from its mean, in units of its RMS\n"
        f"(one scale for all panels; {TILE_PIXELS}×{TILE_PIXELS}-pixel corner of the interior)",
        fontsize=9,
        y=1 - 0.05 / height,
        va="top",
    )
    return figure
