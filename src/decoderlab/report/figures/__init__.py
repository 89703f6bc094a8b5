"""The report's figures, drawn from the analyses' results (the table rows hold each job's
``figures.npz`` arrays and record, loaded once).

``draw_figures`` draws every figure it has data for into the report directory (the forest
plot of the paired verdicts among them) and returns a ``DrawnFigures`` whose ``sections()``
are the report's figure sections, in order (a figure without data gets a note saying why).
One module per figure kind.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from decoderlab.metrics.registry import FLAT_FIELD, TEST, at_stage
from decoderlab.metrics.registry import metric as declared
from decoderlab.pictures import flat_field_deviation
from decoderlab.records import (
    DIGITS_ARRAY,
    FLAT_FIELD_ARRAYS,
    RECONSTRUCTIONS_ARRAY,
    RESIDUAL_SPECTRUM_ARRAY,
)
from decoderlab.report.analysis import DEFAULT_REFERENCE, Results
from decoderlab.report.figures.budget import budget_figure
from decoderlab.report.figures.critical_difference import critical_difference_figure
from decoderlab.report.figures.curves import VAL_LOSS_SIZE, val_loss_figure
from decoderlab.report.figures.flat_field import FlatFieldRow, flat_field_figure
from decoderlab.report.figures.forest import forest_figure
from decoderlab.report.figures.front import cost_quality_figure
from decoderlab.report.figures.output import DPI, save
from decoderlab.report.figures.reconstructions import reconstructions_figure, strips_figure_size
from decoderlab.report.figures.spectrum import (
    RatioProfile,
    class_power,
    frequency_classes,
    spectrum_figure,
)
from decoderlab.report.pareto import CostQualityFront
from decoderlab.report.stats import DecoderSummary
from decoderlab.report.sweep import Job

__all__ = [
    "BUDGET",
    "CRITICAL_DIFFERENCE",
    "DPI",
    "FOREST",
    "VAL_LOSS_SIZE",
    "DrawnFigures",
    "draw_figures",
    "strips_figure_size",
]

SUBSCRIPTS = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")
FOREST = "forest"  # the paired verdicts' figure, shown in their section
BUDGET = "budget_check"  # the budget check's figure, shown in its section
CRITICAL_DIFFERENCE = "critical_difference"  # the ranks across tasks, shown in their section


def _number(value: float) -> str:
    return "0" if abs(value) < 1e-12 else f"{value:.2g}"


def _periods(jobs: Sequence[Job]) -> tuple[int, ...]:
    """The checkerboard periods the runs measured (their test CBE metrics), at least (2,)."""
    found = {
        declared(name).period
        for job in jobs
        for name in at_stage(job.record.test if job.record else {}, TEST)
        if declared(name).family == "cbe"
    }
    return tuple(sorted(found)) or (2,)


def _with(row: DecoderSummary, *names: str) -> list[Job]:
    """The row's successful jobs that have every array in ``names``, lowest seed first."""
    jobs = [j for j in row.ok_jobs if all(n in j.arrays for n in names)]
    return sorted(jobs, key=lambda j: (j.seed is None, j.seed or 0))


def _ffcr_key(row: DecoderSummary, when: str) -> str | None:
    """The row's FFCR metric at ``when`` (init, final) for its largest period, e.g.
    ``ffcr4/final``; None when the row has none."""
    keys = {
        declared(key).period: key
        for key in at_stage(row.estimates, FLAT_FIELD)
        if declared(key).family == "ffcr" and declared(key).when == when
    }
    return keys[max(keys)] if keys else None


def _median_job(jobs: Sequence[Job], key: str | None) -> Job:
    """The job whose FFCR ``key`` is the median of ``jobs`` (the lower one of two middles), so
    the panel shown is typical of the seeds; the first job when there is no such value."""
    valued = [j for j in jobs if j.record.ffcr.get(key) is not None]
    if not valued:
        return jobs[0]
    valued.sort(key=lambda j: j.record.ffcr[key])
    return valued[(len(valued) - 1) // 2]


def _ffcr_title(row: DecoderSummary, job: Job, key: str | None) -> str:
    """FFCR ``key``: its mean over the row's seeds and ``job``'s own value."""
    if key is None:
        return ""
    period = str(declared(key).period)
    estimate, mine = row.get(key), job.record.ffcr.get(key)
    lines = [f"FFCR{period.translate(SUBSCRIPTS)} {_number(estimate.mean)} (mean of {estimate.n})"]
    if mine is not None:
        lines.append(f"shown: seed {job.seed}, {_number(mine)}")
    return "\n".join(lines)


@dataclass
class DrawnFigures:
    """The figures drawn (name -> matplotlib Figure and its PNG path) and, for each figure
    not drawn, why not."""

    figures: dict[str, Figure] = field(default_factory=dict)
    paths: dict[str, Path] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)
    captions: dict[str, str] = field(default_factory=dict)

    def sections(self) -> list[str]:
        """The report's figure sections (Markdown), in order."""
        return [self._section(title, name) for name, title in SECTIONS.items()]

    def _section(self, title: str, name: str) -> str:
        if name in self.paths:
            path = self.paths[name].name
            return f"## {title}\n\n![{title}]({path})\n\n{self.captions[name]}\n"
        return f"## {title}\n\n_Not available: {self.notes[name]}._\n"


SECTIONS = {
    "val_loss": "Validation loss",
    "cost_quality": "Cost and quality",
    "reconstructions": "Reconstructions",
    "flat_field": "Flat-field response",
    "spectrum": "Residual power spectrum",
}


class _Drawing:
    def __init__(self, out_dir: Path, rows: Sequence[DecoderSummary]) -> None:
        self.out_dir, self.rows, self.drawn = out_dir, list(rows), DrawnFigures()

    def save(self, name: str, figure: Figure, caption: str) -> None:
        self.drawn.figures[name] = figure
        self.drawn.paths[name] = save(figure, self.out_dir / f"{name}.png")
        self.drawn.captions[name] = caption

    def val_loss(self) -> None:
        curves: dict[str, list[list[float]]] = {}
        for row in self.rows:
            for job in row.ok_jobs:
                if losses := job.record.history.get("val/loss"):
                    curves.setdefault(row.decoder, []).append(losses)
        if not curves:
            self.drawn.notes["val_loss"] = "no `history['val/loss']` in any successful metrics.json"
            return
        self.save(
            "val_loss",
            val_loss_figure(curves),
            "Mean over seeds; the band spans the seeds' range.",
        )

    def cost_quality(self, front: CostQualityFront) -> None:
        if not any(front.candidates.values()):
            self.drawn.notes["cost_quality"] = (
                "no decoder has test loss together with parameters or seconds per epoch"
            )
            return
        self.save(
            "cost_quality",
            cost_quality_figure(self.rows, front),
            "Each point is a decoder: its mean test loss (bar: 95% interval over seeds) "
            "against its parameters (left) and mean seconds per epoch (right). Ringed, "
            "named points are on the Pareto front of the means: no other decoder is both "
            "cheaper and better; where bars overlap, the seeds do not separate the decoders. "
            "The front is also in the CSV's `pareto_params` and `pareto_time` columns (1 on "
            "it, 0 off it).",
        )

    def reconstructions(self) -> None:
        chosen = {
            r.decoder: jobs[0]
            for r in self.rows
            if (jobs := _with(r, DIGITS_ARRAY, RECONSTRUCTIONS_ARRAY))
        }
        if not chosen:
            self.drawn.notes["reconstructions"] = (
                f"no run has `{DIGITS_ARRAY}`/`{RECONSTRUCTIONS_ARRAY}` in its figures.npz "
                "(the reconstruction-grid callback was off)"
            )
            return
        digits = next(iter(chosen.values())).arrays[DIGITS_ARRAY]
        rows = {f"{d}\n(seed {j.seed})": j.arrays[RECONSTRUCTIONS_ARRAY] for d, j in chosen.items()}
        self.save(
            "reconstructions",
            reconstructions_figure(digits, rows),
            "The same 8 test digits: originals on top, then one row per decoder (table "
            "order, its lowest seed) after the last epoch.",
        )

    def flat_field(self) -> None:
        names = tuple(FLAT_FIELD_ARRAYS.values())
        figure_rows = []
        for row in self.rows:
            if not (jobs := _with(row, *names)):
                continue
            maps, titles = {}, {}
            for when, name in FLAT_FIELD_ARRAYS.items():
                key = _ffcr_key(row, when)
                job = _median_job(jobs, key)
                maps[when] = flat_field_deviation(job.arrays[name])
                titles[when] = _ffcr_title(row, job, key)
            figure_rows.append(FlatFieldRow(row.decoder, maps, titles))
        if not figure_rows:
            self.drawn.notes["flat_field"] = (
                "no run has the flat-field arrays in its figures.npz (the flat-field probe was off)"
            )
            return
        self.save(
            "flat_field",
            flat_field_figure(figure_rows, tuple(FLAT_FIELD_ARRAYS)),
            "Each decoder's output for a constant input before and after training (the seed "
            "with the median FFCR), as deviation from its own mean in units of its RMS, on "
            "one colour scale: a white panel has no checkerboard of its own, a red-blue "
            "pattern is the architecture's checkerboard. Titles: FFCR at the decoder's lattice "
            "period (the map's mean square), mean over seeds and the seed shown.",
        )

    def spectrum(self, reference: str | None) -> None:
        per_row = {
            r.decoder: jobs for r in self.rows if (jobs := _with(r, RESIDUAL_SPECTRUM_ARRAY))
        }
        if not per_row:
            self.drawn.notes["spectrum"] = (
                f"no run has `{RESIDUAL_SPECTRUM_ARRAY}` in its figures.npz (the checkerboard "
                "callback was off or ran with spectrum=false)"
            )
            return
        jobs = [j for js in per_row.values() for j in js]
        periods = _periods(jobs)
        maps = [
            (
                f"{d} ({len(js)} seed{'s' if len(js) > 1 else ''})",
                np.mean([j.arrays[RESIDUAL_SPECTRUM_ARRAY] for j in js], axis=0),
            )
            for d, js in per_row.items()
        ]
        classes = frequency_classes(max(periods), maps[0][1].shape)
        profiles = []
        if reference in per_row:
            base = {
                j.seed: class_power(j.arrays[RESIDUAL_SPECTRUM_ARRAY], classes)
                for j in per_row[reference]
            }
            for d, js in per_row.items():
                ratios = [
                    class_power(j.arrays[RESIDUAL_SPECTRUM_ARRAY], classes) / base[j.seed]
                    for j in js
                    if j.seed in base
                ]
                if ratios:
                    profiles.append(RatioProfile(d, np.array(ratios)))
        caption = (
            "Top: power of the validation residual after the last epoch, averaged over images "
            "and seeds, on one log scale; a checkerboard of period s puts power at the "
            "multiples of 1/s cycles/pixel (markers). "
        )
        if profiles:
            caption += (
                f"Bottom: each decoder's power at those frequencies divided by `{reference}`'s "
                "under the same seed; above 1 means more periodic error than the reference."
            )
        else:
            missing = f"`{reference}` has no spectrum" if reference else "no reference decoder"
            caption += (
                f"No ratio panel: {missing} in this sweep (default `{DEFAULT_REFERENCE}`; "
                "choose one with `decoderlab-report --reference`)."
            )
        self.save(
            "spectrum",
            spectrum_figure(maps, periods, classes, profiles, reference if profiles else None),
            caption,
        )


def draw_figures(out_dir: Path, results: Results) -> DrawnFigures:
    """Draw every figure of ``results`` into ``out_dir`` as ``<name>.png``: the table rows' (in
    table order) curves, cost-quality front, reconstructions, flat fields and spectra (divided
    by ``results.reference``'s, None: no ratio panel), the forest plot of the primary
    verdicts when they compare two or more decoders, the budget check's figure when there is
    an earlier epoch to check, and the critical-difference diagram across tasks."""
    drawing = _Drawing(Path(out_dir), results.rows)
    drawing.val_loss()
    drawing.cost_quality(results.front)
    drawing.reconstructions()
    drawing.flat_field()
    drawing.spectrum(results.reference)
    if results.primary is not None and len(results.primary.comparisons) > 1:
        drawing.save(FOREST, forest_figure(results.primary), "")
    if results.budget_check is not None and results.budget_check.checkpoints:
        drawing.save(BUDGET, budget_figure(results.budget_check), "")
    if results.across_tasks is not None:
        drawing.save(CRITICAL_DIFFERENCE, critical_difference_figure(results.across_tasks), "")
    return drawing.drawn
