"""The spectrum figure: seed-averaged residual power spectra on one log scale, lattice
frequencies marked, and each decoder's power at those frequencies relative to a reference."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from decoderlab.pictures import (
    LATTICE_MARKERS,
    lattice_frequencies,
    show_spectrum,
    spectrum_norm,
)

COLUMNS = 4
PANEL_INCHES = 2.0
COLORBAR_INCHES = 1.3
TITLE_INCHES = 0.5
PROFILE_INCHES = 3.6
MIN_WIDTH_INCHES = 9.0
MARKER_SYMBOLS = {"o": "○", "s": "□", "D": "◇", "^": "△"}


@dataclass(frozen=True)
class FrequencyClass:
    """Lattice frequencies equal up to sign and swapping the axes, e.g. (1/2, 1/4): their
    label and (row, column) indices in a DC-centred spectrum."""

    label: str
    indices: tuple[tuple[int, int], ...]


def _fraction(value: float) -> str:
    return str(Fraction(value).limit_denominator(64))


def frequency_classes(period: int, shape: Sequence[int]) -> list[FrequencyClass]:
    """The non-DC multiples of 1/``period`` cycles/pixel on a DC-centred (H, W) spectrum's
    grid, grouped by (larger |f|, smaller |f|) and sorted by them; empty if ``period`` does
    not divide H and W."""
    height, width = shape
    groups: dict[tuple[float, float], list[tuple[int, int]]] = {}
    for fy in lattice_frequencies(period, height):
        for fx in lattice_frequencies(period, width):
            if fx or fy:
                key = (max(abs(fx), abs(fy)), min(abs(fx), abs(fy)))
                index = (round(fy * height) + height // 2, round(fx * width) + width // 2)
                groups.setdefault(key, []).append(index)
    return [
        FrequencyClass(f"({_fraction(a)}, {_fraction(b)})", tuple(groups[(a, b)]))
        for a, b in sorted(groups, key=lambda k: (k[0], k[1]))
    ]


def class_power(power: np.ndarray, classes: Sequence[FrequencyClass]) -> np.ndarray:
    """Mean power (classes,) of a DC-centred spectrum over each class's frequencies."""
    return np.array([np.mean([power[i, j] for i, j in c.indices]) for c in classes])


@dataclass(frozen=True)
class RatioProfile:
    """Per seed paired with the reference, a decoder's class power over the reference's:
    ``ratios`` (seeds, classes)."""

    label: str
    ratios: np.ndarray


def spectrum_figure(
    maps: Sequence[tuple[str, np.ndarray]],
    periods: Sequence[int],
    classes: Sequence[FrequencyClass],
    profiles: Sequence[RatioProfile],
    reference: str | None,
) -> Figure:
    """Panels of seed-averaged spectra (title, (H, W)) on one log scale and one colour bar,
    lattice frequencies of ``periods`` marked; below, with a ``reference``, each profile's
    geometric mean over seeds (line) and min-max over seeds (band) per frequency class."""
    rows = math.ceil(len(maps) / COLUMNS)
    columns = min(COLUMNS, len(maps))
    profile_inches = PROFILE_INCHES if reference and classes else 0.0
    width = max(columns * PANEL_INCHES + COLORBAR_INCHES, MIN_WIDTH_INCHES)
    height = TITLE_INCHES + rows * (PANEL_INCHES + 0.3) + profile_inches
    figure = Figure(figsize=(width, height))
    norm = spectrum_norm(power for _, power in maps)
    image = None
    for k, (title, power) in enumerate(maps):
        row, column = divmod(k, COLUMNS)
        axes = figure.add_axes(
            (
                (column * PANEL_INCHES + 0.35) / width,
                1 - (TITLE_INCHES + (row + 1) * (PANEL_INCHES + 0.3) - 0.3) / height,
                (PANEL_INCHES - 0.45) / width,
                (PANEL_INCHES - 0.45) / height,
            )
        )
        image = show_spectrum(axes, power, norm, periods)
        axes.set_title(title, fontsize=8)
        axes.tick_params(labelsize=6)
        axes.set_xticks([-0.5, -0.25, 0, 0.25])
        axes.set_yticks([-0.5, -0.25, 0, 0.25])
    if image is not None:
        bar = figure.add_axes(
            (
                (columns * PANEL_INCHES + 0.1) / width,
                1 - (TITLE_INCHES + rows * (PANEL_INCHES + 0.3) - 0.3) / height,
                0.15 / width,
                (rows * (PANEL_INCHES + 0.3) - 0.6) / height,
            )
        )
        figure.colorbar(image, cax=bar, label="power per pixel (log)")
    figure.suptitle(
        "Validation residual power spectra, mean over seeds; axes in cycles/pixel\n"
        + ", ".join(
            f"{MARKER_SYMBOLS[LATTICE_MARKERS.get(p, '^')]} multiples of 1/{p}"
            for p in sorted(periods)
        )
        + " (where a checkerboard of that period puts its power)",
        fontsize=9,
        y=1 - 0.1 / height,
        va="top",
    )
    if profile_inches:
        _ratio_axes(figure, profile_inches / height, classes, profiles, reference)
    return figure


def _ratio_axes(figure, share, classes, profiles, reference) -> None:
    axes = figure.add_axes((0.1, 0.55 / figure.get_figheight(), 0.62, share * 0.72))
    x = np.arange(len(classes))
    for profile in profiles:
        logs = np.log(profile.ratios)
        (line,) = axes.plot(x, np.exp(logs.mean(axis=0)), marker="o", ms=3, label=profile.label)
        if len(profile.ratios) > 1:
            axes.fill_between(
                x,
                profile.ratios.min(axis=0),
                profile.ratios.max(axis=0),
                color=line.get_color(),
                alpha=0.15,
                linewidth=0,
            )
    axes.axhline(1.0, color="black", linewidth=0.8)
    axes.set_yscale("log")
    plain = FuncFormatter(lambda value, _: f"{value:g}")
    axes.yaxis.set_major_formatter(plain)
    axes.yaxis.set_minor_formatter(plain)
    axes.tick_params(axis="y", which="minor", labelsize=7)
    axes.set_xticks(x, [c.label for c in classes], fontsize=7)
    axes.set(
        xlabel="lattice frequency (|f| larger, smaller), cycles/pixel",
        ylabel=f"power / power of {reference}",
        title=f"Power at the lattice frequencies relative to {reference}, paired by seed "
        "(line: geometric mean, band: range over seeds)",
    )
    axes.title.set_fontsize(8)
    axes.grid(alpha=0.3, which="both")
    axes.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
