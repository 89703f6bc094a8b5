"""Write a sweep's report into the sweep directory, one way: load the sweep once
(``sweep.load_sweep``), run the analyses on it (``analysis.analyse``), then render their results
(figures, report.md, report.csv, paired.csv, report.html); no step goes back to the directory."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from decoderlab.metrics.registry import PRIMARY_METRIC
from decoderlab.report.analysis import (
    Options,
    UnknownMetricError,
    UnknownReferenceError,
    analyse,
)
from decoderlab.report.document import PAIRED_CSV, REPORT_CSV, REPORT_MD, report_markdown, write_csv
from decoderlab.report.figures import draw_figures
from decoderlab.report.html import write_html
from decoderlab.report.stats import DecoderSummary
from decoderlab.report.sweep import Job, NoRunsError, load_sweep, varying_overrides
from decoderlab.report.verdicts import write_paired_csv
from decoderlab.stats.equivalence import EQUIVALENCE_MARGIN
from decoderlab.stats.paired import ALPHA, PairedVerdicts


@dataclass
class Report:
    """What ``write_report`` wrote and what it found."""

    sweep_dir: Path
    markdown_path: Path
    csv_path: Path
    jobs: list[Job]
    rows: list[DecoderSummary]
    figures: dict[str, Path] = field(default_factory=dict)
    verdicts: PairedVerdicts | None = None
    foreign: list[Job] = field(default_factory=list)

    @property
    def problems(self) -> list[Job]:
        """Jobs that failed, are unreadable or incomplete (duplicates are listed in the report
        but are no failure: their first record counts)."""
        return [j for j in self.jobs if not j.ok and j.duplicate_of is None]

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


def write_report(
    sweep_dir: str | Path,
    reference: str | None = None,
    metric: str = PRIMARY_METRIC,
    alpha: float = ALPHA,
    equivalence_margin: float | None = EQUIVALENCE_MARGIN,
) -> Report:
    """Aggregate every job of ``sweep_dir`` and write the report files there.

    ``metric`` is the primary metric of the paired verdicts, ``alpha`` their family-wise
    level; ``reference`` is the decoder the spectra are compared with (default
    ``resize_conv_nearest`` when the sweep has it); ``equivalence_margin`` is the fraction of
    the best's mean within which a decoder counts as equivalent to it (None: no equivalence
    tests and no recommendation). Raises NoRunsError when the directory has
    no run; UnknownReferenceError or UnknownMetricError (before writing anything) when
    ``reference`` or ``metric`` is not in the sweep; ValueError for ``alpha`` outside (0, 1).
    Failed, unreadable and duplicate jobs are listed, not fatal: the tables use the others.
    """
    sweep_dir = Path(sweep_dir)
    sweep = load_sweep(sweep_dir)
    results = analyse(sweep, Options(metric, alpha, reference, equivalence_margin))
    drawn = draw_figures(sweep_dir, results)
    markdown_path = sweep_dir / REPORT_MD
    markdown_path.write_text(report_markdown(sweep, results, drawn))
    csv_path = write_csv(sweep_dir / REPORT_CSV, results)
    write_paired_csv(sweep_dir / PAIRED_CSV, [results.primary, *results.checkerboard.values()])
    write_html(markdown_path)  # last: it embeds the figures and CSV files written above
    return Report(
        sweep_dir,
        markdown_path,
        csv_path,
        sweep.jobs,
        results.rows,
        drawn.paths,
        results.primary,
        sweep.foreign,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Console script ``decoderlab-report SWEEP_DIR``.

    Exit 0: report written, every job succeeded; 1: report written, some jobs failed, are
    unreadable, incomplete or duplicates (named on stderr); 2: no report (no decoderlab runs
    in the directory, an unknown ``--reference`` or ``--metric``, a bad ``--alpha``, an unreadable
    race.json).
    """
    parser = argparse.ArgumentParser(prog="decoderlab-report", description=__doc__)
    parser.add_argument("sweep_dir", type=Path, help="a multirun directory (or a single run)")
    parser.add_argument(
        "--reference",
        help="decoder the residual spectra are divided by (default: resize_conv_nearest)",
    )
    parser.add_argument(
        "--metric",
        default=PRIMARY_METRIC,
        help=f"primary metric of the paired verdicts (default: {PRIMARY_METRIC})",
    )
    parser.add_argument(
        "--alpha",
        type=float,
        default=ALPHA,
        help=f"family-wise level of the Holm-adjusted verdicts, in (0, 1) (default: {ALPHA})",
    )
    parser.add_argument(
        "--equivalence-margin",
        type=float,
        default=EQUIVALENCE_MARGIN,
        help="a decoder within this fraction of the best's mean is equivalent to it (two "
        f"one-sided tests), in (0, 1) (default: {EQUIVALENCE_MARGIN})",
    )
    args = parser.parse_args(argv)
    if not 0 < args.alpha < 1:
        parser.error(f"--alpha must be in (0, 1), got {args.alpha}")
    if not 0 < args.equivalence_margin < 1:
        parser.error(f"--equivalence-margin must be in (0, 1), got {args.equivalence_margin}")
    try:
        report = write_report(
            args.sweep_dir, args.reference, args.metric, args.alpha, args.equivalence_margin
        )
    except (NoRunsError, UnknownReferenceError, UnknownMetricError, ValueError) as err:
        print(f"decoderlab-report: {err}", file=sys.stderr)
        return 2
    print(f"Report: {report.markdown_path}")
    for job in report.foreign:
        print(f"decoderlab-report: left out {job.directory}: {job.reason}", file=sys.stderr)
    if report.problems:
        print(f"decoderlab-report: {report.failure_summary()}", file=sys.stderr)
        return 1
    return 0
