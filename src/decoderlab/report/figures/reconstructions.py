"""The seed article's picture: fixed test digits on top, one row of reconstructions per decoder."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from decoderlab.report.figures.output import LABEL_INCHES

STRIP_ROW_INCHES = 0.8
PAD_PIXELS = 2


def strip(images: np.ndarray) -> np.ndarray:
    """Images (N, C, H, W) in [0, 1] side by side as one picture separated by white columns:
    (H, N*(W+pad)-pad, 3) in colour for 3 channels, else (H, N*(W+pad)-pad) with the channels
    averaged."""
    images = np.asarray(images, dtype=float)
    images = images.transpose(0, 2, 3, 1) if images.shape[1] == 3 else images.mean(axis=1)
    count, height = images.shape[:2]
    gap = np.ones((height, PAD_PIXELS, *images.shape[3:]))
    pieces = [piece for image in images for piece in (image, gap)][:-1] if count else [gap]
    return np.concatenate(pieces, axis=1)


def strips_figure_size(rows: int) -> tuple[float, float]:
    return (LABEL_INCHES + 6.1, STRIP_ROW_INCHES * rows + 0.2)


def reconstructions_figure(digits: np.ndarray, rows: dict[str, np.ndarray]) -> Figure:
    """``digits`` (N, C, H, W) above one row per decoder of its reconstructions (N, C, H, W),
    in colour for 3 channels, else on the same grey scale [0, 1]."""
    strips = [("original", strip(digits)), *((label, strip(r)) for label, r in rows.items())]
    figure = Figure(figsize=strips_figure_size(len(strips)))
    width, height = figure.get_size_inches()
    left = LABEL_INCHES / width
    for i, (label, picture) in enumerate(strips):
        bottom = 1 - (0.1 + STRIP_ROW_INCHES * (i + 1)) / height
        axes = figure.add_axes((left, bottom, 1 - left - 0.01, STRIP_ROW_INCHES / height))
        axes.imshow(picture, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        axes.set_xticks([])
        axes.set_yticks([])
        axes.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=9)
    return figure
