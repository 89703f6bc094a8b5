"""Where the report's figures go: PNG files of an exact pixel size."""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure

DPI = 100
# the column of decoder names beside a figure's rows, wide enough for the longest registered
# name (36 characters, separable_transposed_conv_spatial_k3) at 9 pt
LABEL_INCHES = 2.8


def save(figure: Figure, path: Path) -> Path:
    """Write ``figure`` as PNG at ``DPI``: its pixel size is exactly figsize x DPI (no tight
    bounding box), which the tests rely on. Returns ``path``."""
    figure.savefig(path, dpi=DPI)
    return path
