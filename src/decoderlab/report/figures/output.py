"""Where the report's figures go: PNG files of an exact pixel size."""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure

DPI = 100


def save(figure: Figure, path: Path) -> Path:
    """Write ``figure`` as PNG at ``DPI``: its pixel size is exactly figsize x DPI (no tight
    bounding box), which the tests rely on. Returns ``path``."""
    figure.savefig(path, dpi=DPI)
    return path
