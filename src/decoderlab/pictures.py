"""How checkerboards are shown, the same in TensorBoard and in the report.

A flat-field response is shown as its deviation from its own mean relative to its RMS, on a
symmetric scale of at least ±1 RMS, so a near-flat response looks flat. A residual power
spectrum is shown on a log scale with the frequencies of the decoder's lattice marked (the
multiples of 1/s cycles per pixel for each period s), where a checkerboard puts its power.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.colors import LogNorm, Normalize
from matplotlib.figure import Figure

FLAT_FIELD_CMAP = "RdBu_r"
SPECTRUM_CMAP = "magma"
# the flat-field scale spans at least ±1 RMS: a deviation of 1% of the RMS stays pale
MIN_DEVIATION_LIMIT = 1.0
# log-scale spectra show at most 8 decades below their maximum
SPECTRUM_DECADES = 8
LATTICE_MARKERS = {2: "o", 4: "s", 8: "D"}


def flat_field_deviation(field: np.ndarray) -> np.ndarray:
    """(y - mean y) / RMS(y) per channel of ``field`` (C, H, W), averaged over channels: (H, W).

    RMS(y) = sqrt(mean(y^2)) is FFCR's denominator (docs/metrics.md): for an interior of
    whole lattice periods the map's mean square is FFCR at the lattice period, so FFCR 0 is a
    flat map. A channel whose output is all zero (FFCR undefined) gives NaN.
    """
    field = np.asarray(field, dtype=np.float64)
    if field.ndim != 3:
        raise ValueError(f"flat_field_deviation: field must be (C, H, W), got {field.shape}")
    rms = np.sqrt(np.square(field).mean(axis=(-2, -1), keepdims=True))
    with np.errstate(divide="ignore", invalid="ignore"):
        deviation = (field - field.mean(axis=(-2, -1), keepdims=True)) / rms
    return np.where(rms > 0, deviation, np.nan).mean(axis=0)


def deviation_limit(maps: Iterable[np.ndarray]) -> float:
    """Half-range of the symmetric scale shared by ``maps``: their largest |value|, at least
    MIN_DEVIATION_LIMIT (NaN ignored)."""
    largest = [float(np.nanmax(np.abs(m))) for m in maps if np.isfinite(m).any()]
    return max([MIN_DEVIATION_LIMIT, *largest])


def flat_field_rgb(field: np.ndarray) -> np.ndarray:
    """TensorBoard's picture of ``field`` (C, H, W): its deviation map on the report's colour
    scale (at least ±1 RMS), as a float (3, H, W) image in [0, 1]."""
    deviation = flat_field_deviation(field)
    limit = deviation_limit([deviation])
    rgba = colormaps[FLAT_FIELD_CMAP](Normalize(-limit, limit)(deviation))
    return np.moveaxis(rgba[..., :3], -1, 0)


def lattice_frequencies(period: int, size: int) -> list[float]:
    """The multiples of 1/``period`` cycles/pixel on the grid of a DC-centred spectrum of
    ``size`` pixels (fftshift order: -1/2 ... 1/2 - 1/size); empty if ``period`` does not
    divide ``size``."""
    if size % period:
        return []
    return [k / period for k in range(-(period // 2), -(-period // 2))]


def spectrum_extent(shape: Sequence[int]) -> tuple[float, float, float, float]:
    """imshow extent of a DC-centred (H, W) spectrum with pixel centres at cycles/pixel."""
    height, width = shape
    return (-0.5 - 0.5 / width, 0.5 - 0.5 / width, 0.5 - 0.5 / height, -0.5 - 0.5 / height)


def show_spectrum(axes: Axes, power: np.ndarray, norm: LogNorm, periods: Sequence[int]):
    """Draw a DC-centred power spectrum (H, W) on ``axes`` with ``norm`` and mark the non-DC
    lattice frequencies of each period (one marker shape per period); returns the image."""
    floor = norm.vmin
    image = axes.imshow(
        np.clip(power, floor, None),
        norm=norm,
        cmap=SPECTRUM_CMAP,
        extent=spectrum_extent(power.shape),
        interpolation="nearest",
    )
    height, width = power.shape
    marked: set[tuple[float, float]] = set()
    for period in sorted(periods):
        points = [
            (fx, fy)
            for fy in lattice_frequencies(period, height)
            for fx in lattice_frequencies(period, width)
            if (fx, fy) != (0.0, 0.0) and (fx, fy) not in marked
        ]
        marked.update(points)
        if points:
            axes.scatter(
                *zip(*points, strict=True),
                s=90,
                marker=LATTICE_MARKERS.get(period, "^"),
                facecolors="none",
                edgecolors="cyan",
                linewidths=0.7,
                label=f"multiples of 1/{period}",
            )
    axes.set_xlim(image.get_extent()[:2])
    axes.set_ylim(image.get_extent()[2:])
    return image


def spectrum_norm(spectra: Iterable[np.ndarray]) -> LogNorm:
    """One log scale for ``spectra``: from their smallest positive value (at most
    SPECTRUM_DECADES below the largest) to their largest value."""
    spectra = [np.asarray(s) for s in spectra]
    top = max((float(s.max()) for s in spectra), default=0.0)
    top = top if top > 0 else 1.0
    positive = [float(s[s > 0].min()) for s in spectra if (s > 0).any()]
    floor = max(min(positive, default=top), top * 10.0**-SPECTRUM_DECADES)
    return LogNorm(vmin=min(floor, top / 10), vmax=top)


def spectrum_figure(power: np.ndarray, title: str, periods: Sequence[int]) -> Figure:
    """TensorBoard's picture of one DC-centred power spectrum (H, W), lattice marked."""
    figure = Figure(figsize=(4.2, 3.6), dpi=100)
    axes = figure.add_subplot()
    image = show_spectrum(axes, power, spectrum_norm([power]), periods)
    figure.colorbar(image, ax=axes, label="power per pixel")
    axes.set(title=title, xlabel="cycles / pixel (x)", ylabel="cycles / pixel (y)")
    figure.tight_layout()
    return figure
