"""Write a sweep's report: report.md, report.csv and PNG figures, into the sweep directory."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from decoderlab.metrics.registry import PRIMARY_METRIC
from decoderlab.report.document import (
    budget_sentence,
    columns_note,
    findings,
    markdown_table,
    write_csv,
)
from decoderlab.report.figures import UnknownReferenceError, choose_reference, draw_figures
from decoderlab.report.figures.forest import forest_figure
from decoderlab.report.figures.output import save
from decoderlab.report.pareto import cost_quality_front
from decoderlab.report.race import race_section
from decoderlab.report.stats import DecoderSummary, checkerboard_metrics, seed_values, summarise
from decoderlab.report.sweep import Job, NoRunsError, Sweep, load_sweep, varying_overrides
from decoderlab.report.verdicts import (
    checkerboard_table,
    verdict_table,
    verdicts_note,
    write_paired_csv,
)
from decoderlab.stats.paired import ALPHA, PairedVerdicts, compare_to_best

REPORT_MD = "report.md"
REPORT_CSV = "report.csv"
PAIRED_CSV = "paired.csv"
FOREST_PNG = "forest.png"


class UnknownMetricError(ValueError):
    """The metric asked for the paired verdicts is not one the sweep's runs recorded."""


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


def _foreign_section(foreign: list[Job]) -> str:
    if not foreign:
        return ""
    lines = [
        "## Left out: not decoderlab runs",
        "",
        "These run directories hold a metrics.json that decoderlab did not write; they are in "
        "no table, verdict or figure.",
        "",
        "| directory | why |",
        "|---|---|",
    ]
    for job in foreign:
        reason = job.reason[:300].replace("|", "\\|")
        lines.append(f"| `{job.directory.name}` | {reason} |")
    return "\n".join(lines) + "\n"


def _versions_sentence(sweep: Sweep) -> str:
    mixed = sweep.versions()
    if not mixed:
        return ""
    listed = "; ".join(f"{package} {', '.join(v)}" for package, v in mixed.items())
    return (
        f"**These runs were computed with different software versions** ({listed}; "
        "metrics.json `versions`): their numbers may not be comparable.\n"
    )


def _verdict_sections(
    primary: PairedVerdicts, checkerboard: dict[str, PairedVerdicts], rows, forest: Path | None
) -> list[str]:
    if primary.best is None:
        return []
    sections = [
        f"## Verdicts on `{primary.metric}`, paired by seed\n\n{verdict_table(primary)}\n\n"
        f"{verdicts_note(primary)} Every pair of decoders, on every metric below, is in "
        f"[{PAIRED_CSV}]({PAIRED_CSV}).\n"
    ]
    if forest:
        sections.append(f"![Paired differences to the best]({forest.name})\n")
    if any(v.best for v in checkerboard.values()):
        decoders = [r.decoder for r in rows if r.ok_jobs]
        sections.append(
            "## Checkerboard verdicts, paired by seed\n\n"
            f"{checkerboard_table(checkerboard, decoders)}\n\n"
            "Each decoder against the decoder with the least of each checkerboard metric "
            "(0 is perfect): ≈ not distinguishable from it, *worse* at Holm p < "
            f"{primary.alpha:g}, Holm over every pair on that metric.\n"
        )
    return sections


def write_report(
    sweep_dir: str | Path,
    reference: str | None = None,
    metric: str = PRIMARY_METRIC,
    alpha: float = ALPHA,
) -> Report:
    """Aggregate every job of ``sweep_dir`` and write the report files there.

    ``metric`` is the primary metric of the paired verdicts, ``alpha`` their family-wise
    level; ``reference`` is the decoder the spectra are compared with (default
    ``resize_conv_nearest`` when the sweep has it). Raises NoRunsError when the directory has
    no run; UnknownReferenceError or UnknownMetricError (before writing anything) when
    ``reference`` or ``metric`` is not in the sweep; ValueError for ``alpha`` outside (0, 1).
    Failed, unreadable and duplicate jobs are listed, not fatal: the tables use the others.
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    sweep_dir = Path(sweep_dir)
    sweep = load_sweep(sweep_dir)
    jobs = sweep.jobs
    rows, metrics = summarise(jobs)
    if metrics and metric not in metrics:
        raise UnknownMetricError(
            f"metric {metric!r} is not in this sweep's records; choose one of: "
            + ", ".join(m for m in metrics if m not in ("params", "s/epoch"))
        )
    reference = choose_reference(rows, reference)
    front = cost_quality_front(rows)
    primary = compare_to_best(seed_values(rows, metric), metric, alpha)
    checkerboard = {
        m: compare_to_best(seed_values(rows, m), m, alpha) for m in checkerboard_metrics(metrics)
    }
    drawn = draw_figures(sweep_dir, rows, front, reference)
    forest = None
    if len(primary.comparisons) > 1:
        forest = save(forest_figure(primary), sweep_dir / FOREST_PNG)
        drawn.paths["forest"] = forest
    ok = sum(j.ok for j in jobs)
    sections = [
        f"# Decoder comparison: `{sweep_dir.name}`\n",
        f"{ok} of {len(jobs)} jobs succeeded in `{sweep_dir}`. {budget_sentence(jobs)}\n",
        _versions_sentence(sweep),
        f"## Findings\n\n{findings(rows, metrics, jobs, primary, checkerboard)}\n",
        *_verdict_sections(primary, checkerboard, rows, forest),
        race_section(sweep.race) if sweep.race else "",
        f"## Results, ranked by test loss\n\n{markdown_table(rows, metrics)}\n\n"
        f"{columns_note(metrics)} Also in [{REPORT_CSV}]({REPORT_CSV}).\n",
        *drawn.sections(),
        _problems_section(jobs),
        _foreign_section(sweep.foreign),
    ]
    markdown_path = sweep_dir / REPORT_MD
    markdown_path.write_text("\n".join(s for s in sections if s))
    csv_path = write_csv(sweep_dir / REPORT_CSV, rows, metrics, front.columns())
    write_paired_csv(sweep_dir / PAIRED_CSV, [primary, *checkerboard.values()])
    return Report(
        sweep_dir, markdown_path, csv_path, jobs, rows, drawn.paths, primary, sweep.foreign
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
    args = parser.parse_args(argv)
    if not 0 < args.alpha < 1:
        parser.error(f"--alpha must be in (0, 1), got {args.alpha}")
    try:
        report = write_report(args.sweep_dir, args.reference, args.metric, args.alpha)
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
