"""Write a sweep's report: report.md, report.csv and PNG figures, into the sweep directory."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from decoderlab.report.document import (
    budget_sentence,
    columns_note,
    findings,
    markdown_table,
    write_csv,
)
from decoderlab.report.figures import UnknownReferenceError, choose_reference, draw_figures
from decoderlab.report.pareto import cost_quality_front
from decoderlab.report.stats import DecoderSummary, summarise
from decoderlab.report.sweep import Job, NoRunsError, load_jobs, varying_overrides

REPORT_MD = "report.md"
REPORT_CSV = "report.csv"


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


def write_report(sweep_dir: str | Path, reference: str | None = None) -> Report:
    """Aggregate every job of ``sweep_dir`` and write the report files there.

    ``reference`` is the decoder the spectra are compared with (default
    ``resize_conv_nearest`` when the sweep has it). Raises NoRunsError when the directory has
    no run, UnknownReferenceError (before writing anything) when ``reference`` is not a
    decoder of the sweep. Failed and unreadable jobs are listed, not fatal: the table uses
    the successful ones.
    """
    sweep_dir = Path(sweep_dir)
    jobs = load_jobs(sweep_dir)
    rows, metrics = summarise(jobs)
    reference = choose_reference(rows, reference)
    front = cost_quality_front(rows)
    drawn = draw_figures(sweep_dir, rows, front, reference)
    ok = sum(j.ok for j in jobs)
    sections = [
        f"# Decoder comparison: `{sweep_dir.name}`\n",
        f"{ok} of {len(jobs)} jobs succeeded in `{sweep_dir}`. {budget_sentence(jobs)}\n",
        f"## Findings\n\n{findings(rows, metrics, jobs)}\n",
        f"## Results, ranked by test loss\n\n{markdown_table(rows, metrics)}\n\n"
        f"{columns_note(metrics)} Also in [{REPORT_CSV}]({REPORT_CSV}).\n",
        *drawn.sections(),
        _problems_section(jobs),
    ]
    markdown_path = sweep_dir / REPORT_MD
    markdown_path.write_text("\n".join(s for s in sections if s))
    csv_path = write_csv(sweep_dir / REPORT_CSV, rows, metrics, front.columns())
    return Report(sweep_dir, markdown_path, csv_path, jobs, rows, drawn.paths)


def main(argv: Sequence[str] | None = None) -> int:
    """Console script ``decoderlab-report SWEEP_DIR``.

    Exit 0: report written, every job succeeded; 1: report written, some jobs failed, are
    unreadable or incomplete (named on stderr); 2: no report (no runs in the directory, or
    an unknown ``--reference``).
    """
    parser = argparse.ArgumentParser(prog="decoderlab-report", description=__doc__)
    parser.add_argument("sweep_dir", type=Path, help="a multirun directory (or a single run)")
    parser.add_argument(
        "--reference",
        help="decoder the residual spectra are divided by (default: resize_conv_nearest)",
    )
    args = parser.parse_args(argv)
    try:
        report = write_report(args.sweep_dir, args.reference)
    except (NoRunsError, UnknownReferenceError) as err:
        print(f"decoderlab-report: {err}", file=sys.stderr)
        return 2
    print(f"Report: {report.markdown_path}")
    if report.problems:
        print(f"decoderlab-report: {report.failure_summary()}", file=sys.stderr)
        return 1
    return 0
