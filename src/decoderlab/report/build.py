"""Write a sweep's report: report.md, report.csv and PNG figures, into the sweep directory."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from decoderlab.report import figures
from decoderlab.report.document import (
    budget_sentence,
    columns_note,
    findings,
    markdown_table,
    write_csv,
)
from decoderlab.report.stats import DecoderSummary, summarise
from decoderlab.report.sweep import Job, NoRunsError, load_jobs, read_images, varying_overrides

REPORT_MD = "report.md"
REPORT_CSV = "report.csv"
RECONSTRUCTIONS_TAG = "reconstructions"
SPECTRUM_TAG = "residual_spectrum"
FLAT_FIELD_TAGS = ("flat_field/init", "flat_field/final")


@dataclass
class Report:
    """What ``write_report`` wrote and what it found."""

    sweep_dir: Path
    markdown_path: Path
    csv_path: Path
    jobs: list[Job]
    rows: list[DecoderSummary]
    figures: dict[str, Path] = field(default_factory=dict)

    @property
    def problems(self) -> list[Job]:
        return [j for j in self.jobs if not j.ok]

    def failure_summary(self, shown: int = 3) -> str:
        """One line: how many jobs failed, the first ``shown`` of them and why (shortened)."""
        varying = varying_overrides(self.jobs)
        items = []
        for job in self.problems[:shown]:
            what = " ".join(varying[job.directory])
            items.append(f"{job.directory.name} ({what + ': ' if what else ''}{job.reason[:160]})")
        if len(self.problems) > shown:
            items.append(f"and {len(self.problems) - shown} more")
        return (
            f"{len(self.problems)} of {len(self.jobs)} jobs failed: "
            + "; ".join(items)
            + f"; see {self.markdown_path}"
        )


def _representatives(rows: Sequence[DecoderSummary]) -> dict[str, Job]:
    """Per row (table order), its successful job with the lowest seed."""
    return {
        row.decoder: min(row.ok_jobs, key=lambda j: (j.seed is None, j.seed or 0))
        for row in rows
        if row.ok_jobs
    }


class _Figures:
    """Draws each figure it can and remembers, for the Markdown, why one is missing."""

    def __init__(self, out_dir: Path, rows: list[DecoderSummary]) -> None:
        self.out_dir, self.rows = out_dir, rows
        self.chosen = _representatives(rows)
        tags = (RECONSTRUCTIONS_TAG, SPECTRUM_TAG, *FLAT_FIELD_TAGS)
        self.images = {d: read_images(j.directory, tags) for d, j in self.chosen.items()}
        self.paths: dict[str, Path] = {}
        self.notes: dict[str, str] = {}

    def _save(self, name: str, figure) -> None:
        self.paths[name] = figures.save(figure, self.out_dir / f"{name}.png")

    def val_loss(self) -> None:
        curves: dict[str, list[list[float]]] = {}
        for row in self.rows:
            for job in row.ok_jobs:
                losses = (job.record.get("history") or {}).get("val/loss")
                if losses:
                    curves.setdefault(row.decoder, []).append(losses)
        if curves:
            self._save("val_loss", figures.val_loss_figure(curves))
        else:
            self.notes["val_loss"] = "no `history['val/loss']` in any successful metrics.json"

    def _latest(self, decoder: str, tag: str) -> np.ndarray | None:
        events = self.images.get(decoder, {}).get(tag)
        return events[-1][1] if events else None

    def reconstructions(self) -> None:
        strips, originals = {}, None
        for decoder in self.chosen:
            grid = self._latest(decoder, RECONSTRUCTIONS_TAG)
            if grid is None:
                continue
            top, bottom = figures.grid_rows(grid[..., 0] if grid.ndim == 3 else grid)
            originals = top if originals is None else originals
            strips[f"{decoder}\n(seed {self.chosen[decoder].seed})"] = bottom
        if strips:
            self._save("reconstructions", figures.reconstructions_figure(originals, strips))
        else:
            self.notes["reconstructions"] = (
                f"no `{RECONSTRUCTIONS_TAG}` images in the TensorBoard events"
            )

    def spectra(self) -> None:
        panels = [
            (f"{d}, seed {self.chosen[d].seed}", image)
            for d in self.chosen
            if (image := self._latest(d, SPECTRUM_TAG)) is not None
        ]
        if panels:
            self._save("spectrum", figures.panels_figure(panels))
        else:
            self.notes["spectrum"] = (
                f"no `{SPECTRUM_TAG}` images in the TensorBoard events "
                "(the checkerboard callback was off or is not installed)"
            )

    def flat_field(self) -> None:
        rows = []
        for decoder in self.chosen:
            init, final = (self._latest(decoder, tag) for tag in FLAT_FIELD_TAGS)
            if init is not None and final is not None:
                rows.append((f"{decoder}\n(seed {self.chosen[decoder].seed})", init, final))
        if rows:
            self._save("flat_field", figures.paired_figure(rows, ("init", "final")))
        else:
            self.notes["flat_field"] = (
                f"no `{FLAT_FIELD_TAGS[0]}`/`{FLAT_FIELD_TAGS[1]}` "
                "images in the TensorBoard events (the flat-field "
                "probe was off or is not installed)"
            )


def _figure_section(title: str, name: str, caption: str, drawn: _Figures) -> str:
    if name in drawn.paths:
        return f"## {title}\n\n![{title}]({drawn.paths[name].name})\n\n{caption}\n"
    return f"## {title}\n\n_Not available: {drawn.notes[name]}._\n"


def _problems_section(jobs: list[Job]) -> str:
    problems = [j for j in jobs if not j.ok]
    if not problems:
        return ""
    varying = varying_overrides(jobs)
    lines = [
        "## Failed, unreadable or incomplete jobs",
        "",
        "| job | swept overrides | problem |",
        "|---|---|---|",
    ]
    for job in problems:
        reason = job.reason[:300].replace("|", "\\|")
        swept = " ".join(varying[job.directory])
        lines.append(f"| `{job.directory.name}` | `{swept}` | {reason} |")
    return "\n".join(lines) + "\n"


def write_report(sweep_dir: str | Path) -> Report:
    """Aggregate every job of ``sweep_dir`` and write the report files there.

    Raises NoRunsError when the directory has no run. Failed and unreadable jobs are listed,
    not fatal: the table uses the successful ones.
    """
    sweep_dir = Path(sweep_dir)
    jobs = load_jobs(sweep_dir)
    rows, metrics = summarise(jobs)
    drawn = _Figures(sweep_dir, rows)
    drawn.val_loss()
    drawn.reconstructions()
    drawn.spectra()
    drawn.flat_field()
    ok = sum(j.ok for j in jobs)
    sections = [
        f"# Decoder comparison: `{sweep_dir.name}`\n",
        f"{ok} of {len(jobs)} jobs succeeded in `{sweep_dir}`. {budget_sentence(jobs)}\n",
        f"## Findings\n\n{findings(rows, metrics, jobs)}\n",
        f"## Results, ranked by test loss\n\n{markdown_table(rows, metrics)}\n\n"
        f"{columns_note(metrics)} Also in [{REPORT_CSV}]({REPORT_CSV}).\n",
        _figure_section(
            "Validation loss",
            "val_loss",
            "Mean over seeds; the band spans the seeds' range.",
            drawn,
        ),
        _figure_section(
            "Reconstructions",
            "reconstructions",
            "The same 8 test digits: originals on top, then one row per decoder "
            "(table order) after the last epoch.",
            drawn,
        ),
        _figure_section(
            "Residual power spectrum",
            "spectrum",
            "Power of the validation residual (mean over images, log scale) after "
            "the last epoch; periodic artifacts show as peaks away from the centre.",
            drawn,
        ),
        _figure_section(
            "Flat-field response",
            "flat_field",
            "Decoder output for a constant input, per channel, before and after "
            "training; a checkerboard here is the architecture's own.",
            drawn,
        ),
        _problems_section(jobs),
    ]
    markdown_path = sweep_dir / REPORT_MD
    markdown_path.write_text("\n".join(s for s in sections if s))
    csv_path = write_csv(sweep_dir / REPORT_CSV, rows, metrics)
    return Report(sweep_dir, markdown_path, csv_path, jobs, rows, drawn.paths)


def main(argv: Sequence[str] | None = None) -> int:
    """Console script ``decoderlab-report SWEEP_DIR``.

    Exit 0: report written, every job succeeded; 1: report written, some jobs failed, are
    unreadable or incomplete (named on stderr); 2: no report (no runs in the directory).
    """
    parser = argparse.ArgumentParser(prog="decoderlab-report", description=__doc__)
    parser.add_argument("sweep_dir", type=Path, help="a multirun directory (or a single run)")
    args = parser.parse_args(argv)
    try:
        report = write_report(args.sweep_dir)
    except NoRunsError as err:
        print(f"decoderlab-report: {err}", file=sys.stderr)
        return 2
    print(f"Report: {report.markdown_path}")
    if report.problems:
        print(f"decoderlab-report: {report.failure_summary()}", file=sys.stderr)
        return 1
    return 0
