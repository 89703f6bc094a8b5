"""The critical-difference diagram across tasks (Demšar 2006), drawn by scikit-posthocs."""

from __future__ import annotations

import pandas as pd
import scikit_posthocs
from matplotlib.figure import Figure

from decoderlab.stats.across_tasks import AcrossTasks


def critical_difference_figure(result: AcrossTasks) -> Figure:
    """Mean ranks over the tasks on one axis (1 = best), decoders that Nemenyi's test does
    not separate joined by a bar, and the critical difference above the axis
    (``scikit_posthocs.critical_difference_diagram``)."""
    decoders = list(result.mean_ranks)
    matrix = pd.DataFrame(1.0, index=decoders, columns=decoders)
    for (a, b), p in result.nemenyi.items():
        matrix.loc[a, b] = matrix.loc[b, a] = p
    figure = Figure(figsize=(9.0, 0.35 * len(decoders) + 2.0))
    axes = figure.add_subplot()
    scikit_posthocs.critical_difference_diagram(
        pd.Series(result.mean_ranks),
        matrix,
        cd=result.critical_difference,
        alpha=result.alpha,
        ax=axes,
    )
    axes.set_title(
        f"Mean rank over {len(result.tasks)} tasks, 1 = best (Friedman p = {result.p:.2g})",
        fontsize=10,
        pad=28,
    )
    figure.subplots_adjust(left=0.22, right=0.78, top=0.8, bottom=0.02)
    return figure
